#!/usr/bin/env bash
# Configures and builds qatwb into build/ (or $QATWB_BUILD_DIR). Extra arguments go to cmake,
# e.g. scripts/build.sh -DQATWB_BUILD_GUI=OFF for a GPU node without Qt Widgets.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${QATWB_BUILD_DIR:-$here/build}
cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build "$build" -j "$(nproc)"
