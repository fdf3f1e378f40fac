#include "core/train/compact_adamw.h"

#include <cmath>

#include "core/util/error.h"

namespace qatwb::train {
namespace {

// 32-bit avalanche of (index, seed), computed in int64 with each product kept below 2^63.
torch::Tensor dither16(int64_t numel, int64_t seed, const torch::Device& device) {
  const int64_t mask32 = 0xFFFFFFFFLL;
  const int64_t k1 = 0x9E3779B1LL, k2 = 0x85EBCA6BLL, k3 = 0xC2B2AE35LL;
  auto h = torch::arange(numel, torch::TensorOptions().dtype(torch::kLong).device(device));
  h = (h * k1 + (seed & mask32)).bitwise_and(mask32);
  h = h.bitwise_xor(h.bitwise_right_shift(16));
  h = (h * k2).bitwise_and(mask32);
  h = h.bitwise_xor(h.bitwise_right_shift(13));
  h = (h * k3).bitwise_and(mask32);
  h = h.bitwise_xor(h.bitwise_right_shift(16));
  return h.bitwise_and(int64_t{0xFFFF}).to(torch::kInt);
}

}  // namespace

torch::Tensor stochastic_round_bf16(const torch::Tensor& x, int64_t seed) {
  if (x.scalar_type() != torch::kFloat)
    throw Error("stochastic_round_bf16: expects float32, got " +
                std::string(c10::toString(x.scalar_type())));
  auto bits = x.contiguous().view(torch::kInt);
  auto noisy = (bits + dither16(x.numel(), seed, x.device()).view(x.sizes()))
                   .bitwise_and(static_cast<int32_t>(0xFFFF0000u));
  // The low 16 bits are zero, so the conversion to bf16 is exact.
  return noisy.view(torch::kFloat).to(torch::kBFloat16);
}

torch::Tensor CompactAdamW::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss;
  if (closure) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  int64_t ordinal = 0;
  for (auto& group : param_groups_) {
    const auto& o = static_cast<const torch::optim::AdamWOptions&>(group.options());
    const double beta1 = std::get<0>(o.betas()), beta2 = std::get<1>(o.betas());
    for (auto& p : group.params()) {
      ++ordinal;
      if (!p.grad().defined()) continue;
      const auto grad = p.grad().to(torch::kFloat);
      const std::string key = c10::guts::to_string(p.unsafeGetTensorImpl());
      auto it = state_.find(key);
      if (it == state_.end()) {
        auto s = std::make_unique<torch::optim::AdamWParamState>();
        s->step(0);
        s->exp_avg(torch::zeros_like(p, p.options().dtype(torch::kBFloat16)));
        s->exp_avg_sq(torch::zeros_like(p, p.options().dtype(torch::kBFloat16)));
        it = state_.emplace(key, std::move(s)).first;
      }
      auto& s = static_cast<torch::optim::AdamWParamState&>(*it->second);
      s.step(s.step() + 1);
      if (o.weight_decay() != 0) p.mul_(1 - o.lr() * o.weight_decay());
      auto m = s.exp_avg().to(torch::kFloat).mul_(beta1).add_(grad, 1 - beta1);
      auto v = s.exp_avg_sq().to(torch::kFloat).mul_(beta2).addcmul_(grad, grad, 1 - beta2);
      const double bc1 = 1 - std::pow(beta1, static_cast<double>(s.step()));
      const double bc2 = 1 - std::pow(beta2, static_cast<double>(s.step()));
      auto denom = (v.sqrt() / std::sqrt(bc2)).add_(o.eps());
      p.addcdiv_(m.to(p.scalar_type()), denom.to(p.scalar_type()), -o.lr() / bc1);
      // Distinct dithers for m and v, each step and each parameter.
      const int64_t seed = s.step() * 1000003 + ordinal * 2;
      s.exp_avg(stochastic_round_bf16(m, seed));
      s.exp_avg_sq(stochastic_round_bf16(v, seed + 1));
    }
  }
  return loss;
}

}  // namespace qatwb::train
