// AdaRound (Nagel et al., "Up or Down? Adaptive Rounding for Post-Training Quantization", 2020)
// as a QAT surrogate: each weight's rounding up or down is learned through a rectified sigmoid
// of its own variable V, pushed to a hard 0/1 choice by an annealed regulariser.
//
//   h(V) = clamp(sigmoid(V) (zeta - gamma) + gamma, 0, 1),   zeta = 1.1, gamma = -0.1
//   soft forward  w_hat = s (clamp(floor(w/s) + z + h(V), cmin, cmax) - z)   (z = 0: symmetric)
//   hard (evaluation, export)   the same with h replaced by [V >= 0]   (h(V) >= 1/2 <=> V >= 0)
//   regulariser   f(V) = sum_i 1 - |2 h(V_i) - 1|^beta
//
// V starts where h(V) equals the remainder w/s - floor(w/s), so the soft forward at step 0 is
// the weight itself (inside the grid) and the hard one is round-to-nearest. The latent weights
// and the scales stay fixed (AdaRound learns rounding on a fixed grid): gradients reach V only.
#pragma once
#include <torch/torch.h>

#include <cstdint>

#include "core/quant/scheme.h"

namespace qatwb::quant {

constexpr double kAdaRoundZeta = 1.1;
constexpr double kAdaRoundGamma = -0.1;
// |V| >= ln 11 makes h exactly 0 or 1 (sigmoid(V) = 1/12 or 11/12).
constexpr double kAdaRoundHardAt = 2.3978952727983707;

// h(V) elementwise (V's dtype).
torch::Tensor adaround_h(const torch::Tensor& v);
// The V with h(V) = frac for frac in [0, 1): -log((zeta - gamma)/(frac - gamma) - 1).
torch::Tensor adaround_v_for(const torch::Tensor& frac);
// sum_i 1 - |2 h(V_i) - 1|^beta (0-dim, float32; differentiable w.r.t. V).
torch::Tensor adaround_regulariser_sum(const torch::Tensor& v, double beta);

// Where the regulariser stands at optimizer step `step` (0-based) of `total_steps`: off during
// the first reg_warmup fraction, then beta decays linearly from beta_start to beta_end at the
// last step, as AdaRound's temperature decay does.
struct AdaRoundAnneal {
  bool active = false;
  double beta = 0;
};
AdaRoundAnneal adaround_anneal(const SurrogateParams& p, int64_t step, int64_t total_steps);

}  // namespace qatwb::quant
