// Independent check of qatwb's GGUF export with llama.cpp itself: loads the file with the
// prebuilt llama.cpp CPU library shipped in the pinned npm package @node-llama-cpp/linux-x64
// (its llama-addon.node binding; no build, no network), then computes perplexity by the
// WikiText-2 protocol on given token ids: non-overlapping windows of --seq-len tokens, each
// predicting its tokens 2..L from the ones before; PPL = exp(sum NLL / predicted tokens).
// With --text it also reports how llama.cpp's own tokenizer (built from the GGUF's
// tokenizer.ggml.* metadata) tokenizes the text.
//
// With --protocol llamacpp it follows llama-perplexity instead: each chunk's first token is
// replaced by --bos ID and only the second half is scored (logits at positions L/2 .. L-2).
//
// Usage: node gguf_llama_ppl.mjs --addon-dir DIR --model FILE.gguf --ids IDS.json --seq-len L
//        [--max-windows N] [--text FILE] [--threads T] [--protocol llamacpp --bos ID]
// Prints one JSON line: {"ppl", "nll", "tokens", "windows", "nlls" (per predicted token, in
// order), "vocab_tokens"?}.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, "")] = process.argv[i + 1];
const require = createRequire(import.meta.url);
const addon = require(path.join(args["addon-dir"], "llama-addon.node"));
const logs = [];
addon.setLogger?.((level, message) => logs.push(String(message)));
const fail = (msg) => {
  process.stderr.write(logs.join("") + "\n" + msg + "\n");
  process.exit(1);
};
addon.loadBackends(args["addon-dir"]);  // the CPU backend variants sit next to the addon
await addon.init();

const model = new addon.AddonModel(args.model, { gpuLayers: 0, useMmap: true, checkTensors: true });
if (!(await model.init())) fail(`llama.cpp could not load ${args.model}`);
const ids = JSON.parse(fs.readFileSync(args.ids, "utf8"));
const L = Number(args["seq-len"]);
let windows = Math.floor(ids.length / L);
if (args["max-windows"] && Number(args["max-windows"]) > 0) windows = Math.min(windows, Number(args["max-windows"]));
if (windows < 1) throw new Error("text shorter than one window");

const ctx = new addon.AddonContext(model, {
  contextSize: L, batchSize: L, sequences: 1, threads: Number(args.threads ?? 2), flashAttention: false,
  // F32 KV cache (ggml type 0): llama.cpp's default F16 cache would round K and V.
  kvCacheKeyType: 0, kvCacheValueType: 0,
});
if (!(await ctx.init())) fail("llama.cpp could not create a context");
const sampler = new addon.AddonSampler(model);
sampler.applyConfig({ temperature: 0 });

const first = args.protocol === "llamacpp" ? Math.floor(L / 2) : 0;
const scored = L - 1 - first;
let nll = 0;
let count = 0;
const nlls = [];
for (let w = 0; w < windows; ++w) {
  const tokens = Uint32Array.from(ids.slice(w * L, (w + 1) * L));
  if (args.protocol === "llamacpp" && args.bos !== undefined) tokens[0] = Number(args.bos);
  ctx.removeTokenCellsFromSequence(0, 0, -1);
  ctx.initBatch(L);
  const logitIdx = ctx.addToBatch(0, 0, tokens, Uint32Array.from({ length: scored }, (_, k) => k + first));
  await ctx.decodeBatch();
  for (let j = 0; j < scored; ++j) {
    const k = j + first;
    const [, , , pairs] = await ctx.sampleToken(logitIdx[j], sampler, false, false, true);
    let max = -Infinity;
    let target = null;
    for (let i = 1; i < pairs.length; i += 2) {
      if (pairs[i] > max) max = pairs[i];
      if (pairs[i - 1] === tokens[k + 1]) target = pairs[i];
    }
    if (target === null) throw new Error(`no logit for token ${tokens[k + 1]}`);
    let sum = 0;
    for (let i = 1; i < pairs.length; i += 2) sum += Math.exp(pairs[i] - max);
    const tokenNll = max + Math.log(sum) - target;
    nlls.push(tokenNll);
    nll += tokenNll;
    ++count;
  }
}
const out = { ppl: Math.exp(nll / count), nll: nll / count, tokens: count, windows, nlls };
if (args.text) out.vocab_tokens = Array.from(model.tokenize(fs.readFileSync(args.text, "utf8"), false));
sampler.dispose();
await ctx.dispose();
await model.dispose();
// Writes to a pipe are asynchronous: exit only once the whole line is flushed (process.exit right
// after console.log cut the output at 64-128 KiB now and then).
process.stdout.write(JSON.stringify(out) + "\n", () => process.exit(0));
