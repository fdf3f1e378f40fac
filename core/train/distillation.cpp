#include "core/train/distillation.h"

#include "core/eval/causal_lm_loss.h"
#include "core/model/hf_checkpoint.h"
#include "core/model/lm_head_loss.h"
#include "core/util/error.h"

namespace qatwb::train {

Teacher::Teacher(const project::DistillSection& config, const model::Llama& student,
                 torch::Device device, bool bf16)
    : config_(config) {
  const auto dtype = bf16 ? torch::kBFloat16 : torch::kFloat32;
  if (config.self_teacher()) {
    model_ = model::Llama(student->config(), /*initialize=*/false,
                          torch::TensorOptions().dtype(dtype).device(device));
    std::map<std::string, torch::Tensor> weights;
    for (const auto& [name, t] : student->hf_state_dict()) weights[name] = t.detach();
    model::load_state(model_, weights);
    description_ = "the unquantized starting model";
  } else {
    model_ = model::load_hf(config.teacher, device, dtype);
    const int64_t tv = model_->config().vocab_size, sv = student->config().vocab_size;
    if (tv != sv)
      throw Error(config.teacher + ": train.distill.teacher has a vocabulary of " +
                  std::to_string(tv) + " tokens, the student " + std::to_string(sv) +
                  " (distillation compares the two softmaxes token by token)");
    description_ = config.teacher;
  }
  for (auto& p : model_->parameters()) p.set_requires_grad(false);
  model_->eval();
}

DistillLossSum Teacher::loss_sum(model::Llama& student, const torch::Tensor& windows,
                                 double scale) {
  const auto [inputs, targets] = eval::split_windows(windows);
  model::DistillTerm term;
  {
    torch::NoGradGuard no_grad;
    term.hidden = model_->hidden_states(inputs);
  }
  term.weight = model_->lm_head_weight();
  term.temperature = config_.temperature;
  term.kd_weight = config_.kd_weight();
  const auto hidden = student->hidden_states(inputs);
  model::LmHeadLossOptions o;
  o.scale = scale;
  model::LossParts parts;
  DistillLossSum r;
  r.loss = model::lm_head_loss(hidden, student->lm_head_weight(), targets, o, &term, &parts);
  r.nll_sum = parts.nll_sum;
  r.kd_sum = parts.kd_sum;
  r.tokens = targets.numel();
  return r;
}

int64_t Teacher::parameter_count() const {
  int64_t n = 0;
  for (const auto& p : model_->parameters()) n += p.numel();
  return n;
}

}  // namespace qatwb::train
