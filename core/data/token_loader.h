// Training and evaluation batches from token shards (token_shards.h), memory-mapped read-only.
//
// Windows: window k covers tokens [k*stride, k*stride + seq_len] (seq_len+1 tokens: inputs are
// the first seq_len, targets the last seq_len), stride = seq_len (bos none/document, so windows
// share only their boundary token) or seq_len+1 (bos window, one BOS-led block per window).
// Shuffled order: epoch e visits the windows in a permutation seeded by (seed, e); rank r of W
// takes permutation entries r, r+W, r+2W, ... (floor(num_windows / W) each, so ranks stay in
// step and never share a window). Batches run on across epoch ends. The position (epoch, index)
// is a LoaderState that can be saved as JSON and restored, so a resumed run sees exactly the
// batches it would have seen.
// Sequential order (evaluation): windows 0, 1, 2, ... in order (rank r takes r, r+W, ...), once;
// next_batch() returns a short batch at the end, then an empty one.
// One loader per thread: next_batch() and read_window() share a cached permutation.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/data/token_shards.h"

namespace qatwb::text {
class Tokenizer;
}

namespace qatwb::data {

enum class WindowOrder { Shuffled, Sequential };

struct LoaderOptions {
  std::string split = "train";
  int64_t seq_len = 0;  // 0: the manifest's seq_len
  int64_t batch_size = 1;
  uint64_t seed = 0;
  int rank = 0;
  int world_size = 1;
  WindowOrder order = WindowOrder::Shuffled;
  bool verify_sha256 = false;  // hash every shard at open (reads all bytes once)
};

struct LoaderState {
  int64_t epoch = 0;
  int64_t position = 0;  // windows of this rank consumed within the epoch
  // What the state belongs to; restore() refuses a state from a different setup.
  std::string split;
  uint64_t seed = 0;
  int64_t seq_len = 0;
  int64_t num_windows = 0;
  int rank = 0;
  int world_size = 1;
  WindowOrder order = WindowOrder::Shuffled;

  std::string to_json() const;
  static LoaderState from_json(const std::string& json);  // throws qatwb::Error
  bool operator==(const LoaderState& o) const;
};

class TokenLoader {
 public:
  // `dir` holds manifest.json and the shards. Throws qatwb::Error when a shard is missing or its
  // size (or sha256, if asked) differs from the manifest, or when the shards were made by a
  // tokenizer whose sha256 is not `tokenizer_sha256`.
  TokenLoader(const std::string& dir, const LoaderOptions& options,
              const std::string& tokenizer_sha256);
  // Same, taking the sha256 of the tokenizer's file.
  TokenLoader(const std::string& dir, const LoaderOptions& options,
              const text::Tokenizer& tokenizer);
  ~TokenLoader();
  TokenLoader(TokenLoader&&) noexcept;
  TokenLoader& operator=(TokenLoader&&) noexcept;

  const TokenManifest& manifest() const;
  int64_t seq_len() const;
  int64_t stride() const;
  int64_t num_tokens() const;
  int64_t num_windows() const;        // all ranks
  int64_t windows_per_epoch() const;  // this rank

  // batch_size rows of seq_len+1 tokens, row-major. Sequential order: fewer rows at the end.
  std::vector<int64_t> next_batch();

  // The global window index this rank reads at (epoch, position).
  int64_t window_index(int64_t epoch, int64_t position) const;
  // seq_len+1 tokens of window `window` into out.
  void read_window(int64_t window, int64_t* out) const;
  // `count` consecutive tokens of the split's stream from `offset` (a contiguous view).
  void read_tokens(int64_t offset, int64_t count, int64_t* out) const;

  LoaderState state() const;
  void restore(const LoaderState& state);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace qatwb::data
