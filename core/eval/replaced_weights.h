// A weight hook that swaps given Linear weights for fixed tensors (e.g. the real
// quantize-dequantize of each quantized weight) without touching the model's parameters.
#pragma once
#include <torch/torch.h>
#include <map>
#include <string>

#include "core/model/weight_hook.h"

namespace qatwb::eval {

class ReplacedWeights : public model::WeightHook {
 public:
  explicit ReplacedWeights(std::map<std::string, torch::Tensor> weights)
      : weights_(std::move(weights)) {}
  torch::Tensor weight(const std::string& module, const torch::Tensor& w) override {
    auto it = weights_.find(module);
    return it == weights_.end() ? w : it->second.to(w.dtype());
  }

 private:
  std::map<std::string, torch::Tensor> weights_;
};

}  // namespace qatwb::eval
