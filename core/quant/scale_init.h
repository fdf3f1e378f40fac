// Initial (or min/max) scales and zero points for an integer grid. docs/QAT_METHODS.md,
// "Scale gradients": max|w|/Qp, max|w|/|Qn|, max|w|, mean|w|, LSQ, the
// StableQAT preset, MSE search, Auto.
#pragma once
#include <torch/torch.h>

#include "core/quant/int_kernels.h"

namespace qatwb::quant {

struct InitScales {
  torch::Tensor scale;  // [num_scales] fp32, >= 1e-5
  torch::Tensor zero;   // [num_scales] fp32 integer-valued (asymmetric grids) or undefined
};

// Per scale (the rows_per_scale consecutive rows of w2d [rows, cols] that share it):
//  - symmetric grids (Qp = max(cmax, 1), |Qn| = -cmin on INT grids, 1 on SEQ / 1-bit grids):
//    MaxOverQp = max|w|/Qp; MaxOverQn = max|w|/|Qn|; MaxAbs = max|w|; MeanAbs = mean|w|;
//    Lsq = 2 mean|w| / sqrt(Qp) (LSQ's init);
//    StableQat = StableQAT's / ParetoQ's train.py: INT max|w|/Qp (b = 2: max|w|), SEQ max|w|,
//    1-bit mean|w|;
//    Auto = StableQat except at INT b = 2: max|w|/|Qn| = max|w|/2 (max|w| leaves level -2
//    unreachable); MseSearch = the Auto scale times the ratio p in {1.0, 0.3, 0.325, ..., 1.5}
//    that minimises sum (w - fake_quant(w))^2 per scale.
//  - asymmetric grids: s = (max - min)/(2^b - 1) over the range widened to include 0,
//    z = round(-min/s) in [0, 2^b - 1] for every init; MseSearch shrinks min and max by the same
//    ratio p.
// ScaleMode::MinMax uses MaxOverQp (symmetric) / min-max (asymmetric) every forward.
InitScales init_scales(const IntQuantSpec& spec, ScaleInit init, const torch::Tensor& w2d,
                       int64_t rows_per_scale);

}  // namespace qatwb::quant
