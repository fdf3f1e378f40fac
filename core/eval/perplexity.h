// Perplexity of a text tokenized once, cut into non-overlapping windows (chunks) of seq_len
// tokens; PPL = exp(sum NLL / predicted tokens), no context carried across windows. Two
// protocols:
//   WikiText  each window predicts its tokens 2..seq_len from the ones before;
//   LlamaCpp  llama-perplexity's: each chunk's first token is replaced by BOS, and only the
//             second half is scored: the logits at positions n/2 .. n-2 predict tokens
//             n/2 + 1 .. n - 1 (n = seq_len, positions 0-based), n - 1 - n/2 tokens a chunk.
#pragma once
#include <cstdint>
#include <vector>

#include "core/model/llama.h"

namespace qatwb::eval {

enum class PerplexityProtocol { WikiText, LlamaCpp };

struct PerplexityOptions {
  PerplexityProtocol protocol = PerplexityProtocol::WikiText;
  int32_t bos_id = -1;  // LlamaCpp: the BOS token (-1: the chunk's first token is kept)
  int64_t seq_len = 2048;
  int64_t max_windows = 0;  // 0: all
  int64_t batch_size = 4;   // windows per forward
  bool bf16 = false;        // autocast
};

struct PerplexityResult {
  double ppl = 0;
  double mean_nll = 0;
  int64_t tokens = 0;  // predicted tokens
  int64_t windows = 0;
};

// Throws qatwb::Error when the text is shorter than one window.
PerplexityResult perplexity(model::Llama& model, const std::vector<int32_t>& ids,
                            const PerplexityOptions& options);

}  // namespace qatwb::eval
