#!/usr/bin/env bash
# The main job on the bundled example (projects/tiny-brown): installs what is needed, builds,
# prepares the text corpora, pretrains a small Llama in full precision, runs W2 per-tensor QAT
# with STE, StableQAT, DSQ and STE with distillation from that checkpoint, prints the comparison
# table (FP / RTN / QAT post-quantization perplexity and recovery) and writes a report
# (runs/tiny-brown/report: Markdown, HTML and the loss, gradient-norm and perplexity plots).
# Options: --skip-setup (packages already installed). Runs go to runs/tiny-brown/ (the QAT
# projects load the pretrained model from runs/tiny-brown/pretrain/model).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
setup=1
runs="$here/runs"
while [ $# -gt 0 ]; do
  case "$1" in
    --skip-setup) setup=0 ;;
    -h|--help) sed -n 2,8p "$0"; exit 0 ;;
    *) echo "demo.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ "$setup" = 1 ] && "$here/scripts/setup.sh"
"$here/scripts/build.sh"
qatwb="${QATWB_BUILD_DIR:-$here/build}/bin/qatwb"
cd "$here"
node scripts/fixtures_to_jsonl.mjs --npm tests/fixtures/npm/node_modules --out data
export QATWB_DB="$runs/qatwb.sqlite"
mkdir -p "$runs/tiny-brown"
if [ ! -f "$runs/tiny-brown/pretrain/model/model.safetensors" ]; then
  rm -rf "$runs/tiny-brown/pretrain"
  "$qatwb" run projects/tiny-brown/pretrain.yaml --run-dir "$runs/tiny-brown/pretrain"
fi
stages="ste stableqat dsq ste-kd"
for s in $stages; do
  rm -rf "$runs/tiny-brown/w2-$s"
  "$qatwb" run "projects/tiny-brown/w2-$s.yaml" --run-dir "$runs/tiny-brown/w2-$s"
done
dirs=()
for s in $stages; do dirs+=("$runs/tiny-brown/w2-$s"); done
"$qatwb" compare "${dirs[@]}"
"$qatwb" report "${dirs[@]}" --out "$runs/tiny-brown/report" --title "tiny-brown: W2 per-tensor QAT"
