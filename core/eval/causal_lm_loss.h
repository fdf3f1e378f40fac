// Next-token cross-entropy of a Llama on windows of seq_len + 1 tokens: inputs are the first
// seq_len tokens, targets the last seq_len. The one loss used by training and evaluation; the
// lm_head projection and the loss run fused in row chunks (core/model/lm_head_loss.h), so the
// [tokens, vocab] logits are never materialised.
#pragma once
#include <torch/torch.h>

#include "core/model/llama.h"

namespace qatwb::eval {

struct LossSum {
  torch::Tensor nll_sum;  // scalar, float32: scale * sum of NLL; keeps the graph in grad mode
  int64_t tokens = 0;
};

// windows: int64 [B, seq_len + 1] -> the model's inputs (first seq_len) and targets (last seq_len).
struct WindowSplit {
  torch::Tensor inputs, targets;
};
WindowSplit split_windows(const torch::Tensor& windows);

// windows: int64 [B, seq_len + 1] on the model's device. `scale` multiplies the loss and its
// gradients (e.g. 1 / tokens for a mean) inside the fused op, saving a pass over the gradients.
LossSum causal_lm_loss_sum(model::Llama& model, const torch::Tensor& windows, double scale = 1.0);

}  // namespace qatwb::eval
