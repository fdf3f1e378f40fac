#!/usr/bin/env bash
# Installs what is needed (scripts/setup.sh), builds, and runs every test with CTest.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${QATWB_BUILD_DIR:-$here/build}
"$here/scripts/setup.sh"
"$here/scripts/build.sh"
cd "$build"
ctest --output-on-failure --timeout 900 -j "$(nproc)"
