#include "core/eval/causal_lm_loss.h"

#include "core/model/lm_head_loss.h"

namespace qatwb::eval {

WindowSplit split_windows(const torch::Tensor& windows) {
  using torch::indexing::Slice;
  return {windows.index({Slice(), Slice(0, -1)}),
          windows.index({Slice(), Slice(1, torch::indexing::None)})};
}

LossSum causal_lm_loss_sum(model::Llama& model, const torch::Tensor& windows, double scale) {
  const auto [inputs, targets] = split_windows(windows);
  const auto hidden = model->hidden_states(inputs);
  model::LmHeadLossOptions o;
  o.scale = scale;
  return {model::lm_head_cross_entropy(hidden, model->lm_head_weight(), targets, o),
          targets.numel()};
}

}  // namespace qatwb::eval
