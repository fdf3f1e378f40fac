#include "core/eval/causal_lm_loss.h"

#include "core/model/lm_head_loss.h"

namespace qatwb::eval {

LossSum causal_lm_loss_sum(model::Llama& model, const torch::Tensor& windows, double scale) {
  using torch::indexing::Slice;
  const auto inputs = windows.index({Slice(), Slice(0, -1)});
  const auto targets = windows.index({Slice(), Slice(1, torch::indexing::None)});
  const auto hidden = model->hidden_states(inputs);
  model::LmHeadLossOptions o;
  o.scale = scale;
  return {model::lm_head_cross_entropy(hidden, model->lm_head_weight(), targets, o),
          targets.numel()};
}

}  // namespace qatwb::eval
