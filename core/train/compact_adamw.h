// AdamW whose moment estimates are stored in bfloat16 (train.optimizer_states: bf16), halving
// the optimizer's memory: 4 bytes per parameter instead of 8, what lets Mistral-7B W2 QAT fit
// one 80 GB GPU beside fp32 master weights and gradients.
//
// Each step does AdamW's arithmetic in float32, exactly as torch::optim::AdamW (decoupled weight
// decay, bias-corrected m and v), and writes m and v back to bf16 with stochastic rounding:
// round-to-nearest would freeze v, whose per-step change (1 - beta2) g^2 is below half a bf16
// ulp of v (2^-9 relative) whenever beta2 > 0.998. Stochastic rounding keeps each stored moment
// unbiased (E[round(x)] = x). Its dither is a hash of the element index, the step and the
// parameter's ordinal: deterministic, the same on every device, and reproduced on resume.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace qatwb::train {

// x (float32) rounded to bfloat16 stochastically: the 16 low bits of its float32 pattern plus
// a dither in [0, 2^16) derived from (element index, seed), then truncated. Unbiased over the
// dither; exact for values bf16 holds.
torch::Tensor stochastic_round_bf16(const torch::Tensor& x, int64_t seed);

class CompactAdamW : public torch::optim::AdamW {
 public:
  CompactAdamW(std::vector<torch::optim::OptimizerParamGroup> groups,
               torch::optim::AdamWOptions defaults)
      : torch::optim::AdamW(std::move(groups), std::move(defaults)) {}
  torch::Tensor step(LossClosure closure = nullptr) override;
};

}  // namespace qatwb::train
