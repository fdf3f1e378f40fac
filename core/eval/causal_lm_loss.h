// Next-token cross-entropy of a Llama on windows of seq_len + 1 tokens: inputs are the first
// seq_len tokens, targets the last seq_len. The one loss used by training and evaluation.
#pragma once
#include "core/model/llama.h"

namespace qatwb::eval {

struct LossSum {
  torch::Tensor nll_sum;  // scalar, float32, keeps the graph when grad mode is on
  int64_t tokens = 0;
};

// windows: int64 [B, seq_len + 1] on the model's device.
LossSum causal_lm_loss_sum(model::Llama& model, const torch::Tensor& windows);

}  // namespace qatwb::eval
