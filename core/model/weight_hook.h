// How quantization reaches the model without the model knowing of it: every decoder Linear calls
// the hook (when set) with its HF module name, latent weight and input activation.
#pragma once
#include <torch/torch.h>
#include <string>

namespace qatwb::model {

class WeightHook {
 public:
  virtual ~WeightHook() = default;
  // The weight the Linear uses in this forward (fake-quantized, or `weight` itself).
  virtual torch::Tensor weight(const std::string& module, const torch::Tensor& weight) = 0;
  // The activation the Linear consumes (PACT / INT8 per-token, or `x` itself).
  virtual torch::Tensor input(const std::string& module, const torch::Tensor& x) { return x; }
};

}  // namespace qatwb::model
