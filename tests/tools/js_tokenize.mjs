// Reference tokenizer for tests/core/tst_tokenizer.cpp and bench/tokenizer_speed.cpp: encodes a
// JSON array of documents with the @lenml JS tokenizers (transformers.js port).
//
//   node js_tokenize.mjs --npm-dir DIR --tokenizer llama3|llama2 --input docs.json
//        [--output out.json] [--mode plain|special|both] [--decode 1] [--bench ROUNDS]
//   node js_tokenize.mjs --textdecode hex.json [--output out.json]
//
// Without --bench it writes {"plain": [[ids...], ...], "special": [[ids...], ...]} (the keys
// selected by --mode; default both) to --output or stdout. "plain" is
// encode(text, {add_special_tokens: false}), "special" the same with true. --decode 1 adds
// "decoded": decode(plain ids) per document ("" for no ids).
// --textdecode reads a JSON array of hex byte strings and writes {"text": [...]}: each decoded
// by TextDecoder (invalid sequences -> U+FFFD), the reference for --replace-invalid.
// With --bench it encodes every document ROUNDS times (plain mode) and prints
// {"tokens": N, "bytes": B, "seconds": [per round]}: time measured inside node, excluding loading.
import { readFileSync, writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import path from "node:path";

function parse_args(argv) {
  const args = { mode: "both", bench: 0, decode: false };
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
      case "--decode": args.decode = value === "1"; break;
      case "--textdecode": args.textdecode = value; break;
      default: throw new Error(`unknown option ${key}`);
    }
    ++i;
  }
  if (args.textdecode) return args;
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

function write_output(args, out) {
  const text = JSON.stringify(out);
  if (args.output) writeFileSync(args.output, text);
  else process.stdout.write(text + "\n");
}

const args = parse_args(process.argv.slice(2));
if (args.textdecode) {
  const hex = JSON.parse(readFileSync(args.textdecode, "utf8"));
  const decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });
  write_output(args, { text: hex.map((h) => decoder.decode(Buffer.from(h, "hex"))) });
  process.exit(0);
}
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
  if (args.decode && out.plain) {
    out.decoded = out.plain.map((ids) => (ids.length > 0 ? tokenizer.decode(ids) : ""));
  }
  write_output(args, out);
}
