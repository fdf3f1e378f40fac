#include "core/quant/adaround.h"

#include <algorithm>
#include <cmath>

namespace qatwb::quant {

torch::Tensor adaround_h(const torch::Tensor& v) {
  return (torch::sigmoid(v) * (kAdaRoundZeta - kAdaRoundGamma) + kAdaRoundGamma).clamp(0.0, 1.0);
}

torch::Tensor adaround_v_for(const torch::Tensor& frac) {
  // frac - gamma is in [0.1, 1.1): the argument of the log stays in (1/11, 11].
  return -torch::log((kAdaRoundZeta - kAdaRoundGamma) / (frac - kAdaRoundGamma) - 1.0);
}

torch::Tensor adaround_regulariser_sum(const torch::Tensor& v, double beta) {
  auto d = (adaround_h(v.to(torch::kFloat)) * 2.0 - 1.0).abs();
  return (1.0 - d.pow(beta)).sum();
}

AdaRoundAnneal adaround_anneal(const SurrogateParams& p, int64_t step, int64_t total_steps) {
  AdaRoundAnneal a;
  const double total = static_cast<double>(std::max<int64_t>(total_steps, 1));
  const double start = p.adaround_reg_warmup * total;
  if (static_cast<double>(step) < start) return a;
  const double span = std::max(total - 1.0 - start, 1.0);
  const double rel = std::clamp((static_cast<double>(step) - start) / span, 0.0, 1.0);
  a.active = true;
  a.beta = p.adaround_beta_end + (p.adaround_beta_start - p.adaround_beta_end) * (1.0 - rel);
  return a;
}

}  // namespace qatwb::quant
