#!/usr/bin/env bash
# Checks that every C++ source the repository tracks is clang-format clean (the repository's
# .clang-format; Debian 12's clang-format 14, which scripts/setup.sh installs). The test
# `style.clang_format` runs it; `scripts/check_format.sh --fix` formats the files in place.
# Exit status: 0 clean, 1 files to format (listed), 2 no clang-format or not a git checkout.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
fix=0
case "${1:-}" in
  --fix) fix=1 ;;
  "") ;;
  *) echo "check_format.sh: unknown option $1" >&2; exit 2 ;;
esac
command -v clang-format >/dev/null || { echo "check_format.sh: clang-format not found (scripts/setup.sh installs it)" >&2; exit 2; }
git -C "$here" rev-parse --git-dir >/dev/null 2>&1 || { echo "check_format.sh: $here is not a git checkout" >&2; exit 2; }
cd "$here"
mapfile -t files < <(git ls-files -- '*.cpp' '*.h' '*.inc' '*.mm')
if [ "$fix" = 1 ]; then
  clang-format -i "${files[@]}"
  exit 0
fi
# One clang-format process for every file (one per file took a minute on 2 cores); each
# unformatted spot is reported as "<file>:<line>:<col>: error: code should be clang-formatted".
mapfile -t bad < <(clang-format --dry-run --Werror "${files[@]}" 2>&1 |
  sed -n 's/^\(.*\):[0-9]*:[0-9]*: error: code should be clang-formatted.*/\1/p' | sort -u)
if [ "${#bad[@]}" -gt 0 ]; then
  printf 'not clang-format clean (scripts/check_format.sh --fix formats them):\n' >&2
  printf '  %s\n' "${bad[@]}" >&2
  exit 1
fi
echo "check_format.sh: ${#files[@]} files clean"
