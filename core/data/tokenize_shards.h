// Tokenizes a sampled set (train.jsonl and heldout.jsonl of a `qatwb sample` folder, or one
// .jsonl file) into token shards plus DIR/manifest.json (see token_shards.h for the layout).
// Documents are encoded on a pool of threads and written in document order, so the shards are
// byte-identical whatever the thread count. Used by `qatwb tokenize` and by `qatwb run`.
#pragma once
#include <cstdint>
#include <string>

#include "core/data/token_shards.h"

namespace qatwb::text {
class Tokenizer;
}

namespace qatwb::data {

struct TokenizeOptions {
  std::string input;    // sample folder (train.jsonl [+ heldout.jsonl]) or one .jsonl[.gz|.zst]
  std::string out_dir;  // must differ from a sample folder given as input
  std::string text_field = "text";
  int64_t seq_len = 2048;  // recorded; shapes the stream only for BosPolicy::Window
  BosPolicy bos = BosPolicy::Document;
  bool eos = true;
  int threads = 0;                              // 0: std::thread::hardware_concurrency()
  int64_t max_shard_tokens = int64_t(1) << 28;  // 1 GiB shards
  bool show_progress = false;                   // progress bar on stderr
};

struct TokenizeResult {
  std::string manifest_path;
  TokenManifest manifest;
};

// Throws qatwb::Error on bad input (file:line), a tokenizer without the BOS/EOS the policy
// needs, or a sample folder whose files do not match its manifest.
TokenizeResult tokenize_to_shards(const TokenizeOptions& options, const text::Tokenizer& tokenizer);

}  // namespace qatwb::data
