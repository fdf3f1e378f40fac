// Knowledge distillation (train.distill): the frozen teacher and the distillation loss. The
// teacher is the unquantized starting model (self_fp) or another model folder with the same
// vocabulary, held once per process in the training dtype (bf16 under bf16 autocast, else
// float32) and never trained; its logits are computed in the fused loss's vocabulary chunks
// beside the student's (core/model/lm_head_loss.h), so neither logits tensor is ever whole.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <string>

#include "core/model/llama.h"
#include "core/project/project_config.h"

namespace qatwb::train {

struct DistillLossSum {
  torch::Tensor loss;     // scale * sum of (1 - w) NLL + w T^2 KL (graph in grad mode)
  torch::Tensor nll_sum;  // plain sums over the tokens, for metrics
  torch::Tensor kd_sum;
  int64_t tokens = 0;
};

class Teacher {
 public:
  // self_fp: a frozen copy of `student` as it is now (call before a quantizer or a resumed
  // checkpoint changes it); else the model folder config.teacher, which must share the
  // student's vocabulary (qatwb::Error naming train.distill.teacher otherwise).
  Teacher(const project::DistillSection& config, const model::Llama& student, torch::Device device,
          bool bf16);

  // windows: int64 [B, seq_len + 1] on the device; the loss of the student on their next tokens.
  DistillLossSum loss_sum(model::Llama& student, const torch::Tensor& windows, double scale);

  int64_t parameter_count() const;
  const std::string& description() const { return description_; }

 private:
  project::DistillSection config_;
  model::Llama model_{nullptr};
  std::string description_;
};

}  // namespace qatwb::train
