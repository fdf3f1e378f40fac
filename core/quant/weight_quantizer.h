// One Linear weight's quantizer: the grid, block layout, scales (learned / frozen / min-max),
// zero points, DSQ alpha, and the surrogate chosen by the scheme (surrogate.h registry).
#pragma once
#include <torch/torch.h>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/quant/ggml_fake_quant.h"
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
  // and DSQ's alpha. AdaRound: the soft rounding, differentiable w.r.t. its V only; with grad
  // mode off (evaluation) the hard rounding, equal to dequantize(quantize(w)).
  torch::Tensor forward(const torch::Tensor& w) const;
  // Real quantization of w with the current scales; dequantize() of it equals forward(w).
  QuantizedTensor quantize(const torch::Tensor& w) const;

  std::vector<torch::Tensor> parameters() const;  // learned scale, DSQ alpha, AdaRound V
  // Learned or frozen state: {"weight_scale", s}, {"weight_zero_point", z}, {"dsq_alpha", a},
  // {"round_v", V} (AdaRound, [rows, cols] of the blocked layout).
  std::vector<std::pair<std::string, torch::Tensor>> state() const;
  void load_state(const std::string& name, const torch::Tensor& t);
  void project();  // s >= 1e-5, alpha in [1e-3, 0.499]
  // Current scales (min-max mode: from `w`), fp32 in layout().scale_shape; FP4: block scales.
  torch::Tensor current_scale(const torch::Tensor& w) const;

  // AdaRound: sum over this weight of 1 - |2h(V) - 1|^beta (undefined without learned
  // rounding), and how many weights are still soft (|V| < ln 11, h strictly inside (0, 1)).
  bool learned_rounding() const { return round_v_.defined(); }
  torch::Tensor rounding_regulariser(double beta) const;
  int64_t soft_rounding_count() const;

  // quant.schedule: the grid's bits now (re-initialising scales, zero points and AdaRound's V
  // from `w` with the scheme's scale_init when `reinit`; a resumed run loads them instead), and
  // the surrogate's StableQAT amplitude and EWGS delta.
  double bits() const { return scheme_.bits; }
  void set_bits(double bits, const torch::Tensor& w, bool reinit);
  void set_surrogate_values(double amplitude, double ewgs_delta);

 private:
  struct Scales {
    torch::Tensor scale, zero;
  };
  Scales scales_for(const torch::Tensor& w) const;
  void init_state(const torch::Tensor& w);
  // AdaRound codes [rows, cols] (float): floor(w/s) + z + h(V) (soft) or + [V >= 0] (hard),
  // clamped to the grid; `z_rows`/`s_rows` get the per-row zero points and scales.
  torch::Tensor rounded_codes(const torch::Tensor& w, bool hard, torch::Tensor& s_rows,
                              torch::Tensor& z_rows) const;

  QuantScheme scheme_;
  std::string module_;
  BlockLayout layout_;
  IntQuantSpec spec_;
  torch::Tensor scale_;                  // layout_.scale_shape fp32 (INT, learned / frozen)
  torch::Tensor zero_;                   // same shape fp32 (asymmetric INT)
  torch::Tensor alpha_;                  // 0-dim fp32 (DSQ)
  torch::Tensor round_v_;                // [rows, cols] fp32 (AdaRound)
  std::shared_ptr<GgmlFakeQuant> ggml_;  // format gguf: everything above unused
};

// Round-to-nearest quantization of one tensor with the scheme's initial scales.
QuantizedTensor quantize(const torch::Tensor& w, const QuantScheme& scheme,
                         const std::string& module = "weight");

}  // namespace qatwb::quant
