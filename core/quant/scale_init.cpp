#include "core/quant/scale_init.h"

#include <cmath>

namespace qatwb::quant {
namespace {

std::vector<double> mse_ratios() {
  std::vector<double> r = {1.0};
  for (int i = 0; i <= 48; ++i) {
    const double p = 0.3 + 0.025 * i;
    if (std::abs(p - 1.0) > 1e-9) r.push_back(p);
  }
  return r;
}

InitScales asym_minmax(const WeightGrid& g, const torch::Tensor& mn, const torch::Tensor& mx) {
  InitScales r;
  auto lo = mn.clamp_max(0.0), hi = mx.clamp_min(0.0);
  r.scale = ((hi - lo) / static_cast<double>(g.cmax)).clamp_min(kMinScale);
  r.zero = torch::round(-lo / r.scale).clamp(0, g.cmax);
  return r;
}

torch::Tensor block_error(const IntQuantSpec& spec, const torch::Tensor& w2d, const InitScales& s,
                          int64_t rps) {
  auto fq = int_forward_values(spec, w2d, s.scale, s.zero, rps);
  const int64_t n = s.scale.numel();
  return (fq - w2d).pow(2).reshape({n, -1}).sum(1);
}

}  // namespace

InitScales init_scales(const IntQuantSpec& spec, ScaleInit init, const torch::Tensor& w2d_in,
                       int64_t rps) {
  torch::NoGradGuard no_grad;
  const WeightGrid& g = spec.grid;
  auto w2d = w2d_in.detach().to(torch::kFloat).contiguous();
  const int64_t n = w2d.size(0) / rps;
  auto x = w2d.reshape({n, -1});
  const bool asym = g.kind == GridKind::Int && !g.symmetric;
  if (asym) {
    auto mn = x.amin(1), mx = x.amax(1);
    InitScales best = asym_minmax(g, mn, mx);
    if (init != ScaleInit::MseSearch) return best;
    auto best_err = block_error(spec, w2d, best, rps);
    for (double p : mse_ratios()) {
      InitScales cand = asym_minmax(g, mn * p, mx * p);
      auto err = block_error(spec, w2d, cand, rps);
      auto better = err < best_err;
      best.scale = torch::where(better, cand.scale, best.scale);
      best.zero = torch::where(better, cand.zero, best.zero);
      best_err = torch::where(better, err, best_err);
    }
    return best;
  }
  auto amax = x.abs().amax(1);
  auto mean = x.abs().mean(1);
  torch::Tensor preset;  // StableQAT's train.py
  switch (g.kind) {
    case GridKind::Int:
      preset = amax / g.qp_gamma;
      break;
    case GridKind::Stretched:
      preset = amax;
      break;
    case GridKind::Binary:
      preset = mean;
      break;
  }
  const bool int2 = g.kind == GridKind::Int && g.bits == 2;
  auto auto_scale = int2 ? amax / g.qn_abs() : preset;
  InitScales r;
  switch (init) {
    case ScaleInit::MaxOverQp:
      r.scale = amax / g.qp_gamma;
      break;
    case ScaleInit::MaxOverQn:
      r.scale = amax / g.qn_abs();
      break;
    case ScaleInit::MaxAbs:
      r.scale = amax;
      break;
    case ScaleInit::MeanAbs:
      r.scale = mean;
      break;
    case ScaleInit::Lsq:
      r.scale = mean * (2.0 / std::sqrt(g.qp_gamma));
      break;
    case ScaleInit::StableQat:
      r.scale = preset;
      break;
    case ScaleInit::Auto:
    case ScaleInit::MseSearch:
      r.scale = auto_scale;
      break;
  }
  r.scale = r.scale.clamp_min(kMinScale);
  if (init != ScaleInit::MseSearch) return r;
  auto best_err = block_error(spec, w2d, r, rps);
  for (double p : mse_ratios()) {
    InitScales cand{(auto_scale * p).clamp_min(kMinScale), torch::Tensor()};
    auto err = block_error(spec, w2d, cand, rps);
    auto better = err < best_err;
    r.scale = torch::where(better, cand.scale, r.scale);
    best_err = torch::where(better, err, best_err);
  }
  return r;
}

}  // namespace qatwb::quant
