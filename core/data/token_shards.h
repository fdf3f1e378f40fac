// Token shards on disk: a split's token stream as files <split>-00000.bin, <split>-00001.bin,
// ... of little-endian uint32 ids (bounded size each), described by DIR/manifest.json together
// with the tokenizer (path, sha256, vocabulary, special ids) and the BOS/EOS policy, so a
// loader can refuse shards made by a different tokenizer.
//
// Layout of the stream: each document's tokens, followed by EOS unless eos is off.
//   bos = none:     nothing else. Windows for training start every seq_len tokens.
//   bos = document: BOS before every document.
//   bos = window:   the stream is cut into blocks of seq_len+1 tokens, each starting with BOS
//                   (documents flow across blocks); windows are exactly those blocks, so the
//                   stream is only valid for that seq_len.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/data/atomic_file.h"
#include "core/data/bos_policy.h"

namespace qatwb::data {

struct ShardInfo {
  std::string file;  // name inside the manifest's folder
  int64_t tokens = 0;
  std::string sha256;
};

struct SplitShards {
  std::string name;  // "train", "heldout", ...
  int64_t documents = 0;
  int64_t tokens = 0;
  std::string source_path;    // the .jsonl it was tokenized from
  std::string source_sha256;  // of that file's raw bytes
  std::vector<ShardInfo> shards;
};

struct TokenManifest {
  std::string tokenizer_path;
  std::string tokenizer_sha256;
  int64_t vocab_size = 0;
  int32_t bos_id = -1, eos_id = -1;
  BosPolicy bos = BosPolicy::Document;
  bool eos = true;
  int64_t seq_len = 0;
  std::string source_manifest_path;  // the sample set's manifest.json, if there was one
  std::string source_manifest_sha256;
  std::vector<SplitShards> splits;

  // Distance between consecutive training windows: seq_len (bos none/document) or seq_len+1.
  int64_t window_stride(int64_t seq_len) const;
  const SplitShards* find_split(const std::string& name) const;  // nullptr when absent
};

std::string token_manifest_json(const TokenManifest& m);
// Reads DIR/manifest.json (or the given file); throws qatwb::Error naming the file and the field.
TokenManifest read_token_manifest(const std::string& path);

// Writes one split's stream into shards of at most `max_shard_tokens` tokens each. Shards are
// written under temporary names and renamed by finish(); without finish() they are removed.
class ShardWriter {
 public:
  ShardWriter(std::string dir, std::string split, int64_t max_shard_tokens);
  ~ShardWriter();
  void append(const uint32_t* ids, size_t count);
  // Closes the last shard, renames all into place and removes stale <split>-NNNNN.bin files
  // from an earlier run that the new set does not list.
  std::vector<ShardInfo> finish();
  int64_t tokens() const { return total_; }

 private:
  void open_next();
  std::string dir_, split_;
  int64_t max_shard_tokens_;
  int64_t total_ = 0;
  int64_t in_current_ = 0;
  std::vector<std::unique_ptr<AtomicFile>> files_;
  std::vector<ShardInfo> shards_;
  std::vector<uint32_t> le_buffer_;
};

// "<split>-00003.bin"
std::string shard_file_name(const std::string& split, int index);

}  // namespace qatwb::data
