// Activation quantizers of the quantized Linears' inputs (docs/QAT_METHODS.md, "Activations"): PACT
// (learned clip alpha; signed [-alpha, alpha] by default, or unsigned) and dynamic INT8 per token.
#pragma once
#include <torch/torch.h>
#include <string>
#include <utility>
#include <vector>

#include "core/quant/scheme.h"

namespace qatwb::quant {

// PACT: y = clip(x, 0, alpha), y_q = round(y (2^k - 1)/alpha) alpha/(2^k - 1), computed in fp32,
// returned in x's dtype. dL/dx = g on [0, alpha), 0 elsewhere; dL/dalpha = sum g where x >= alpha.
// Signed (symmetric) PACT: y = clip(x, -alpha, alpha), n = 2^(k-1) - 1 steps a side,
// y_q = round(y n/alpha) alpha/n; dL/dx = g on (-alpha, alpha); dL/dalpha = sum g sign(x) where
// |x| >= alpha (PACT's straight-through convention: no term from the rounding inside).
torch::Tensor pact_quant(const torch::Tensor& x, const torch::Tensor& alpha, int bits,
                         bool is_signed = false);

// Dynamic INT8 per token (last dim): s = max|x_token|/127 (no gradient to s; 1e-8/127 at least),
// x_q = clamp(round(x/s), -127, 127) s; straight-through gradient for x.
torch::Tensor int8_per_token_quant(const torch::Tensor& x);

// One module's input quantizer. PACT keeps a learnable 0-dim alpha on `device`.
class ActivationQuantizer {
 public:
  ActivationQuantizer(const ActivationQuant& config, const torch::Device& device);
  bool active() const { return config_.kind != ActivationQuant::Kind::None; }
  torch::Tensor forward(const torch::Tensor& x) const;
  std::vector<torch::Tensor> parameters() const;
  torch::Tensor regularization() const;  // pact_l2 * alpha^2 (0-dim), or undefined
  std::vector<std::pair<std::string, torch::Tensor>> state() const;  // {"input_alpha", alpha}
  void load_state(const std::string& module, const std::string& name, const torch::Tensor& t);
  void project();  // alpha >= 1e-3

 private:
  ActivationQuant config_;
  torch::Tensor alpha_;
};

}  // namespace qatwb::quant
