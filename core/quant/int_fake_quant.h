// Integer-grid fake quantization as one custom autograd function: the forward runs the fused
// kernel, the context keeps only w and s (plus the zero point and DSQ's alpha), and the
// backward recomputes v = w/s and applies the surrogate (surrogate.h) and LSQ's scale gradient.
#pragma once
#include <torch/torch.h>

#include "core/quant/int_kernels.h"

namespace qatwb::quant {

// w: the weight, shaped layout.shape (fp32 or bf16, any device). scale: layout.scale_shape fp32
// (requires_grad for learned scales: gets gamma * sum g*d). zero: asymmetric zero points (fp32,
// scale_shape, never learned) or undefined. alpha: DSQ's 0-dim alpha (gets dL/dalpha through
// the soft quantizer when it requires grad; used clamped to [1e-3, 0.499], no gradient when
// clamped) or undefined. Returns the fake-quantized weight in w's dtype and shape.
torch::Tensor int_fake_quant(const IntQuantSpec& spec, const BlockLayout& layout,
                             const torch::Tensor& w, const torch::Tensor& scale,
                             const torch::Tensor& zero, const torch::Tensor& alpha);

// DSQ alpha range enforced in the forward and by ModelQuantizer's parameter projection.
constexpr double kDsqAlphaMin = 1e-3;
constexpr double kDsqAlphaMax = 0.499;

}  // namespace qatwb::quant
