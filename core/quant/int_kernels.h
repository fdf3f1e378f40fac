// Forward and backward of integer-grid fake quantization on a blocked weight view [rows, cols]
// (rows_per_scale consecutive rows share one scale). Two implementations with identical
// forward results, bit for bit: a fused one-pass CPU kernel (fp32 / bf16, contiguous) and a
// torch-op path for every other device. Quantization always computes in fp32.
#pragma once
#include <torch/torch.h>
#include <vector>

#include "core/quant/grid.h"
#include "core/quant/surrogate.h"

namespace qatwb::quant {

constexpr float kMinScale = 1e-5f;  // s = max(s, 1e-5) everywhere

// Everything the kernels need, serialisable to doubles so autograd can keep it in its context.
struct IntQuantSpec {
  WeightGrid grid;
  WeightGrad weight_grad = WeightGrad::ClippedSte;
  double amplitude = 0.0;   // StableQAT A
  int fourier_order = 0;    // StableQAT M
  double ewgs_delta = 0.0;  // EWGS delta in the normalised domain (divided by grid.span())
  // DSQ's scale gradient: Chain d = q - v G(v) inside the range, Lsq d = q - v.
  DsqScaleGrad dsq_scale_grad = DsqScaleGrad::Chain;
  double gamma = 1.0;  // LSQ gradient scale applied to dL/ds
  // INT grids only. Directed rounding takes the torch-op path (the fused kernel rounds to
  // nearest); the surrogate's remainder terms assume nearest, so the project parser allows
  // up/down only with remainder-free surrogates (STE, LSQ, PACT).
  Rounding rounding = Rounding::Nearest;

  std::vector<double> to_vector() const;
  static IntQuantSpec from_vector(const std::vector<double>& v);
};

// w2d: [rows, cols] fp32/bf16. scale: [rows/rows_per_scale] fp32 (raw; clamped to 1e-5 here).
// zero: same shape fp32 (asymmetric grids) or undefined.
// Returns the fake-quantized weight [rows, cols] in w2d's dtype.
torch::Tensor int_forward_values(const IntQuantSpec& spec, const torch::Tensor& w2d,
                                 const torch::Tensor& scale, const torch::Tensor& zero,
                                 int64_t rows_per_scale);
// Integer codes [rows, cols]: int8 for signed grids, uint8 for asymmetric ones.
torch::Tensor int_forward_codes(const IntQuantSpec& spec, const torch::Tensor& w2d,
                                const torch::Tensor& scale, const torch::Tensor& zero,
                                int64_t rows_per_scale);
// s * level(code): the value of codes under the grid, in fp32 (dequantization).
torch::Tensor int_levels_to_values(const IntQuantSpec& spec, const torch::Tensor& codes2d,
                                   const torch::Tensor& scale, const torch::Tensor& zero,
                                   int64_t rows_per_scale);

struct IntBackward {
  torch::Tensor grad_w;      // [rows, cols], w2d's dtype
  torch::Tensor grad_scale;  // [num_scales] fp32 (gamma applied) or undefined
  torch::Tensor grad_alpha;  // 0-dim fp32 (DSQ) or undefined
};
// g2d: dL/dw_hat [rows, cols]. alpha: DSQ's alpha (ignored otherwise).
IntBackward int_backward(const IntQuantSpec& spec, const torch::Tensor& w2d,
                         const torch::Tensor& scale, const torch::Tensor& zero,
                         int64_t rows_per_scale, const torch::Tensor& g2d, double alpha,
                         bool need_scale, bool need_alpha);

// Tests switch the fused CPU kernels off to compare them with the torch-op path.
void set_fused_kernels_enabled(bool enabled);
bool fused_kernels_enabled();
// Tests switch the vectorised bf16 conversions off: the fused kernels then convert through
// c10::BFloat16 (scalar), the reference the vectorised path must equal bit for bit.
void set_bf16_vector_kernels_enabled(bool enabled);
bool bf16_vector_kernels_enabled();

}  // namespace qatwb::quant
