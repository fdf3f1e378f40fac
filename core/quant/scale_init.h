// Initial (or min/max) scales and zero points for an integer grid. QAT_METHODS.md,
// "Scale gradients": max|w|/Qp, max|w| (SEQ), mean|w| (1-bit), MSE search, Auto.
#pragma once
#include "core/quant/int_kernels.h"

namespace qatwb::quant {

struct InitScales {
  torch::Tensor scale;  // [num_scales] fp32, >= 1e-5
  torch::Tensor zero;   // [num_scales] fp32 integer-valued (asymmetric grids) or undefined
};

// Per scale (the rows_per_scale consecutive rows of w2d [rows, cols] that share it):
//  - symmetric grids: MaxOverQp = max|w|/max(Qp, 1); MaxAbs = max|w|; MeanAbs = mean|w|;
//    Auto = Int b >= 3: max|w|/Qp, Int b = 2: max|w|/2 (max|w| would leave level -2 unreachable),
//    SEQ: max|w|, 1-bit: mean|w|; MseSearch = the Auto scale times the ratio p in
//    {1.0, 0.3, 0.325, ..., 1.5} that minimises sum (w - fake_quant(w))^2 per scale.
//  - asymmetric grids: s = (max - min)/(2^b - 1) over the range widened to include 0,
//    z = round(-min/s) in [0, 2^b - 1]; MseSearch shrinks min and max by the same ratio p.
InitScales init_scales(const IntQuantSpec& spec, ScaleInit init, const torch::Tensor& w2d,
                       int64_t rows_per_scale);

}  // namespace qatwb::quant
