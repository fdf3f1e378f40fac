#include "core/eval/causal_lm_loss.h"

namespace qatwb::eval {

LossSum causal_lm_loss_sum(model::Llama& model, const torch::Tensor& windows) {
  using torch::indexing::Slice;
  const auto inputs = windows.index({Slice(), Slice(0, -1)});
  const auto targets = windows.index({Slice(), Slice(1, torch::indexing::None)}).reshape({-1});
  auto logits = model->forward(inputs);
  logits = logits.reshape({-1, logits.size(-1)}).to(torch::kFloat32);
  auto nll = torch::nn::functional::cross_entropy(
      logits, targets, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
  return {nll, targets.numel()};
}

}  // namespace qatwb::eval
