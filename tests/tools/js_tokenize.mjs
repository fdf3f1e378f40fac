// Reference tokenizer for tests/core/tst_tokenizer.cpp and bench/tokenizer_speed.cpp: encodes a
// JSON array of documents with the @lenml JS tokenizers (transformers.js port).
//
//   node js_tokenize.mjs --npm-dir DIR --tokenizer llama3|llama2 --input docs.json
//        [--output out.json] [--mode plain|special|both] [--bench ROUNDS]
//
// Without --bench it writes {"plain": [[ids...], ...], "special": [[ids...], ...]} (the keys
// selected by --mode; default both) to --output or stdout. "plain" is
// encode(text, {add_special_tokens: false}), "special" the same with true.
// With --bench it encodes every document ROUNDS times (plain mode) and prints
// {"tokens": N, "bytes": B, "seconds": [per round]}: time measured inside node, excluding loading.
import { readFileSync, writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import path from "node:path";

function parse_args(argv) {
  const args = { mode: "both", bench: 0 };
  for (let i = 0; i < argv.length; ++i) {
    const key = argv[i];
    const value = argv[i + 1];
    if (value === undefined) throw new Error(`missing value for ${key}`);
    switch (key) {
      case "--npm-dir": args.npm_dir = value; break;
      case "--tokenizer": args.tokenizer = value; break;
      case "--input": args.input = value; break;
      case "--output": args.output = value; break;
      case "--mode": args.mode = value; break;
      case "--bench": args.bench = Number(value); break;
      default: throw new Error(`unknown option ${key}`);
    }
    ++i;
  }
  for (const k of ["npm_dir", "tokenizer", "input"]) {
    if (!args[k]) throw new Error(`--${k.replace("_", "-")} is required`);
  }
  if (!["plain", "special", "both"].includes(args.mode)) throw new Error(`bad --mode ${args.mode}`);
  return args;
}

async function load_tokenizer(npm_dir, name) {
  if (!["llama3", "llama2"].includes(name)) throw new Error(`unknown tokenizer ${name}`);
  const entry = path.join(npm_dir, "@lenml", `tokenizer-${name}`, "dist", "main.mjs");
  const mod = await import(pathToFileURL(path.resolve(entry)).href);
  return mod.fromPreTrained();
}

const args = parse_args(process.argv.slice(2));
const tokenizer = await load_tokenizer(args.npm_dir, args.tokenizer);
const docs = JSON.parse(readFileSync(args.input, "utf8"));
if (!Array.isArray(docs)) throw new Error(`${args.input}: expected a JSON array of strings`);

if (args.bench > 0) {
  let tokens = 0;
  let bytes = 0;
  for (const d of docs) bytes += Buffer.byteLength(d, "utf8");
  const seconds = [];
  for (let r = 0; r < args.bench; ++r) {
    tokens = 0;
    const t0 = process.hrtime.bigint();
    for (const d of docs) tokens += tokenizer.encode(d, { add_special_tokens: false }).length;
    seconds.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  process.stdout.write(JSON.stringify({ tokens, bytes, seconds }) + "\n");
} else {
  const out = {};
  if (args.mode !== "special") {
    out.plain = docs.map((d) => tokenizer.encode(d, { add_special_tokens: false }));
  }
  if (args.mode !== "plain") {
    out.special = docs.map((d) => tokenizer.encode(d, { add_special_tokens: true }));
  }
  const text = JSON.stringify(out);
  if (args.output) writeFileSync(args.output, text);
  else process.stdout.write(text + "\n");
}
