// Perplexity by the WikiText-2 protocol: the evaluation text joined and tokenized once, cut into
// non-overlapping windows of seq_len tokens; PPL = exp(sum NLL / predicted tokens). Each window
// predicts its tokens 2..seq_len from the ones before (no context carried across windows).
#pragma once
#include <cstdint>
#include <vector>

#include "core/model/llama.h"

namespace qatwb::eval {

struct PerplexityOptions {
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
