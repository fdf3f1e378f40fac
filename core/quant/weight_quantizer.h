// One Linear weight's quantizer: the grid, block layout, scales (learned / frozen / min-max),
// zero points, DSQ alpha, and the surrogate chosen by the scheme (surrogate.h registry).
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "core/quant/int_kernels.h"
#include "core/quant/quantized_tensor.h"

namespace qatwb::quant {

class WeightQuantizer {
 public:
  // Validates the scheme for this module (throws qatwb::Error naming it) and initialises the
  // scales from `weight` (ScaleInit; asymmetric grids also get zero points).
  WeightQuantizer(const QuantScheme& scheme, const std::string& module,
                  const torch::Tensor& weight);

  const std::string& module() const { return module_; }
  Format format() const { return scheme_.format; }
  const BlockLayout& layout() const { return layout_; }
  const IntQuantSpec& spec() const { return spec_; }
  // Rounding of INT codes in forward() and quantize() (EASGD workers); FP4 formats ignore it.
  void set_rounding(Rounding r) { spec_.rounding = r; }
  int levels_total() const;

  // Fake-quantized weight (w's dtype and shape), differentiable w.r.t. w, the learned scale
  // and DSQ's alpha.
  torch::Tensor forward(const torch::Tensor& w) const;
  // Real quantization of w with the current scales; dequantize() of it equals forward(w).
  QuantizedTensor quantize(const torch::Tensor& w) const;

  std::vector<torch::Tensor> parameters() const;  // learned scale, DSQ alpha
  // Learned or frozen state: {"weight_scale", s}, {"weight_zero_point", z}, {"dsq_alpha", a}.
  std::vector<std::pair<std::string, torch::Tensor>> state() const;
  void load_state(const std::string& name, const torch::Tensor& t);
  void project();  // s >= 1e-5, alpha in [1e-3, 0.499]
  // Current scales (min-max mode: from `w`), fp32 in layout().scale_shape; FP4: block scales.
  torch::Tensor current_scale(const torch::Tensor& w) const;

 private:
  struct Scales {
    torch::Tensor scale, zero;
  };
  Scales scales_for(const torch::Tensor& w) const;

  QuantScheme scheme_;
  std::string module_;
  BlockLayout layout_;
  IntQuantSpec spec_;
  torch::Tensor scale_;  // layout_.scale_shape fp32 (INT, learned / frozen)
  torch::Tensor zero_;   // same shape fp32 (asymmetric INT)
  torch::Tensor alpha_;  // 0-dim fp32 (DSQ)
};

// Round-to-nearest quantization of one tensor with the scheme's initial scales.
QuantizedTensor quantize(const torch::Tensor& w, const QuantScheme& scheme,
                         const std::string& module = "weight");

}  // namespace qatwb::quant
