// Integer-grid fake quantization kernels. The fused CPU path reads each weight once in the
// forward (writing values or codes) and once in the backward (writing dL/dw and per-row partial
// sums for dL/ds and DSQ's dL/dalpha); nothing but w and s is kept between the two.
//
// Rounding is round-half-to-even everywhere (torch::round; the CPU kernel uses the 1.5*2^23
// trick, exact for |x| < 2^22 - inputs are clamped to the grid first, so that always holds).
#include "core/quant/int_kernels.h"

#include <ATen/Parallel.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "core/util/error.h"

namespace qatwb::quant {
namespace {

std::atomic<bool> g_fused{true};
std::atomic<bool> g_bf16_vector{true};

// bf16 as its raw bits: the vectorised kernels convert it with inline bit operations (see
// int_kernel_rows.inc); c10::BFloat16 itself is the scalar reference path.
struct Bf16Bits {
  uint16_t bits;
};
static_assert(sizeof(Bf16Bits) == sizeof(c10::BFloat16), "bf16 is two bytes");

// Levels of non-asymmetric grids as float, computed once in double (shared by both paths).
std::vector<float> level_table(const WeightGrid& g) {
  std::vector<float> t;
  for (int c = g.cmin; c <= g.cmax; ++c) t.push_back(static_cast<float>(g.level(c)));
  return t;
}

struct KParams {
  GridKind kind;
  bool asym;
  float cmin, cmax, n, h, seq_out;
  WeightGrad wg;
  bool dsq_chain;  // DSQ: chain-rule scale gradient
  int nterms;
  float fc[8];
  float ewgs;              // delta / span: EWGS in the normalised domain
  float k, inv_t, dphi_c;  // DSQ: k, 1/tanh(k/2), 0.5 sech^2(k/2)/tanh^2(k/2)
  // Levels of the grid (8-bit grids have 256); a plain array keeps KParams a POD that the row
  // kernels copy into a local, so the vectoriser knows no output store can change it.
  float table[256];
  int table_size;
};

KParams make_params(const IntQuantSpec& spec, double alpha) {
  const WeightGrid& g = spec.grid;
  KParams p{};
  p.kind = g.kind;
  p.asym = g.kind == GridKind::Int && !g.symmetric;
  p.cmin = static_cast<float>(g.cmin);
  p.cmax = static_cast<float>(g.cmax);
  p.n = static_cast<float>(g.n);
  p.h = static_cast<float>(g.h);
  p.seq_out = static_cast<float>(g.seq_out);
  p.wg = spec.weight_grad;
  p.nterms = spec.fourier_order + 1;
  const double c = std::sqrt(2.0) * M_PI * spec.amplitude;
  for (int m = 0; m < p.nterms && m < 8; ++m)
    p.fc[m] = static_cast<float>(c * ((m % 2 == 0) ? 1.0 : -1.0) / (2 * m + 1));
  p.ewgs = static_cast<float>(spec.ewgs_delta / g.span());
  p.dsq_chain = spec.dsq_scale_grad == DsqScaleGrad::Chain;
  if (spec.weight_grad == WeightGrad::Dsq) {
    const double k = std::log(2.0 / alpha - 1.0), t = std::tanh(k / 2);
    p.k = static_cast<float>(k);
    p.inv_t = static_cast<float>(1.0 / t);
    p.dphi_c = static_cast<float>(0.5 * (1 - t * t) / (t * t));
  }
  const auto levels = level_table(g);
  if (levels.size() > 256) throw Error("quant: a grid with more than 256 levels");
  std::copy(levels.begin(), levels.end(), p.table);
  p.table_size = static_cast<int>(levels.size());
  return p;
}

// ---- Per-element code, templated per grid / surrogate so that each inner loop is branch-free
// and vectorisable (GCC's -O2 cost model does not vectorise; these functions ask for O3).
// Both copies ask for O3 (GCC's -O2 cost model does not vectorise these loops) and for
// -fno-trapping-math (else every conditional float operation "could trap" and blocks
// if-conversion; results do not change, floating-point exceptions are never enabled here). Every
// result is the same bit for bit in both: the AVX2 copy only widens the vectors (no FMA
// contraction, and the reductions use explicit per-lane accumulators). Surrogate kinds as the
// kernels see them (Fourier with one term gets its own straight loop). DSQ with the chain-rule
// scale gradient is DsqChain.
enum class KGrad { Ste, Fourier1, FourierN, Dsq, DsqChain, Ewgs };

#pragma GCC push_options
#pragma GCC optimize("O3", "no-trapping-math")
namespace rows_base {
#include "core/quant/int_kernel_rows.inc"
}  // namespace rows_base
#pragma GCC target("avx2")
namespace rows_avx2 {
#include "core/quant/int_kernel_rows.inc"
}  // namespace rows_avx2
#pragma GCC pop_options

const bool kHaveAvx2 = __builtin_cpu_supports("avx2");

// Calls f(grid kind, asym) with both as compile-time constants.
template <typename F>
void dispatch_grid(const KParams& p, F&& f) {
  switch (p.kind) {
    case GridKind::Int:
      if (p.asym)
        f(std::integral_constant<GridKind, GridKind::Int>(), std::true_type());
      else
        f(std::integral_constant<GridKind, GridKind::Int>(), std::false_type());
      return;
    case GridKind::Stretched:
      f(std::integral_constant<GridKind, GridKind::Stretched>(), std::false_type());
      return;
    case GridKind::Binary:
      f(std::integral_constant<GridKind, GridKind::Binary>(), std::false_type());
      return;
  }
}

template <typename F>
void dispatch_grad(const KParams& p, F&& f) {
  switch (p.wg) {
    case WeightGrad::ClippedSte:
      return f(std::integral_constant<KGrad, KGrad::Ste>());
    case WeightGrad::Fourier:
      if (p.nterms == 1) return f(std::integral_constant<KGrad, KGrad::Fourier1>());
      return f(std::integral_constant<KGrad, KGrad::FourierN>());
    case WeightGrad::Dsq:
      if (p.dsq_chain) return f(std::integral_constant<KGrad, KGrad::DsqChain>());
      return f(std::integral_constant<KGrad, KGrad::Dsq>());
    case WeightGrad::Ewgs:
      return f(std::integral_constant<KGrad, KGrad::Ewgs>());
  }
}

template <typename T>
struct TypeTag {
  using type = T;
};

// Calls f(TypeTag<T>) with the element type the fused kernels use for `st` (fp32 or bf16).
template <typename F>
void dispatch_dtype(torch::ScalarType st, F&& f) {
  if (st == torch::kFloat) return f(TypeTag<float>());
  if (g_bf16_vector.load()) return f(TypeTag<Bf16Bits>());
  return f(TypeTag<c10::BFloat16>());
}

bool use_fused(const torch::Tensor& w) {
  return g_fused.load() && w.device().is_cpu() && w.is_contiguous() &&
         (w.scalar_type() == torch::kFloat || w.scalar_type() == torch::kBFloat16);
}

int64_t grain_rows(int64_t cols) {
  return std::max<int64_t>(1, 32768 / std::max<int64_t>(cols, 1));
}

// Per-row broadcast [rows, 1] of a per-scale tensor.
torch::Tensor scale_column(const torch::Tensor& t, int64_t rps) {
  auto flat = t.reshape({-1});
  if (rps != 1) flat = flat.repeat_interleave(rps);
  return flat.unsqueeze(1);
}

torch::Tensor table_tensor(const WeightGrid& g, const torch::Device& dev) {
  auto t = level_table(g);
  return torch::from_blob(t.data(), {static_cast<int64_t>(t.size())}, torch::kFloat)
      .clone()
      .to(dev);
}

torch::Tensor round_codes(const torch::Tensor& v, Rounding r) {
  switch (r) {
    case Rounding::Up:
      return torch::ceil(v);
    case Rounding::Down:
      return torch::floor(v);
    case Rounding::Nearest:
      break;
  }
  return torch::round(v);
}

// Torch-op forward: float codes [rows, cols].
torch::Tensor torch_codes(const IntQuantSpec& spec, const torch::Tensor& v,
                          const torch::Tensor& z_rows) {
  const WeightGrid& g = spec.grid;
  switch (g.kind) {
    case GridKind::Int: {
      if (!z_rows.defined())
        // "+ 0.0" turns round()'s -0.0 into +0.0, as the fused kernel produces.
        return (round_codes(v.clamp(g.cmin - 1.0, g.cmax + 1.0), spec.rounding) + 0.0)
            .clamp(g.cmin, g.cmax);
      auto u = torch::min(torch::max(v, g.cmin - z_rows - 1.0), g.cmax - z_rows + 1.0);
      return (round_codes(u, spec.rounding) + z_rows).clamp(g.cmin, g.cmax);
    }
    case GridKind::Stretched:
      return torch::round(v.clamp(-0.99, 0.99).mul(g.n).sub(g.h)).clamp(g.cmin, g.cmax);
    case GridKind::Binary:
      return torch::where(v < 0, torch::full({}, -1.f, v.options()),
                          torch::full({}, 1.f, v.options()));
  }
  return v;
}

torch::Tensor torch_levels(const IntQuantSpec& spec, const torch::Tensor& c,
                           const torch::Tensor& z_rows) {
  const WeightGrid& g = spec.grid;
  if (g.kind == GridKind::Stretched) {
    // NaN codes (NaN weights) index level 0 and stay NaN, as in the fused kernel.
    auto nan = torch::isnan(c);
    auto idx = torch::where(nan, torch::zeros_like(c), c - g.cmin).to(torch::kLong).reshape({-1});
    auto levels = table_tensor(g, c.device()).index_select(0, idx).view(c.sizes());
    return torch::where(nan, c, levels);
  }
  if (z_rows.defined()) return c - z_rows;
  return c;
}

void check_inputs(const torch::Tensor& w2d, const torch::Tensor& scale, int64_t rps) {
  if (w2d.dim() != 2 || rps <= 0 || w2d.size(0) % rps != 0 || scale.numel() != w2d.size(0) / rps)
    throw Error("int fake quant: scale count " + std::to_string(scale.numel()) +
                " does not match the blocked weight [" + std::to_string(w2d.size(0)) + ", " +
                std::to_string(w2d.size(1)) + "] with " + std::to_string(rps) + " rows per scale");
}

}  // namespace

std::vector<double> IntQuantSpec::to_vector() const {
  return {static_cast<double>(grid.kind),
          grid.bits,
          grid.symmetric ? 1.0 : 0.0,
          static_cast<double>(grid.cmin),
          static_cast<double>(grid.cmax),
          grid.n,
          grid.h,
          grid.seq_out,
          grid.qp_gamma,
          static_cast<double>(weight_grad),
          amplitude,
          static_cast<double>(fourier_order),
          ewgs_delta,
          gamma,
          static_cast<double>(rounding),
          static_cast<double>(dsq_scale_grad)};
}

IntQuantSpec IntQuantSpec::from_vector(const std::vector<double>& v) {
  IntQuantSpec s;
  s.grid.kind = static_cast<GridKind>(static_cast<int>(v.at(0)));
  s.grid.bits = v.at(1);
  s.grid.symmetric = v.at(2) != 0.0;
  s.grid.cmin = static_cast<int>(v.at(3));
  s.grid.cmax = static_cast<int>(v.at(4));
  s.grid.n = v.at(5);
  s.grid.h = v.at(6);
  s.grid.seq_out = v.at(7);
  s.grid.qp_gamma = v.at(8);
  s.weight_grad = static_cast<WeightGrad>(static_cast<int>(v.at(9)));
  s.amplitude = v.at(10);
  s.fourier_order = static_cast<int>(v.at(11));
  s.ewgs_delta = v.at(12);
  s.gamma = v.at(13);
  s.rounding = static_cast<Rounding>(static_cast<int>(v.at(14)));
  s.dsq_scale_grad = static_cast<DsqScaleGrad>(static_cast<int>(v.at(15)));
  return s;
}

void set_fused_kernels_enabled(bool enabled) { g_fused.store(enabled); }
bool fused_kernels_enabled() { return g_fused.load(); }
void set_bf16_vector_kernels_enabled(bool enabled) { g_bf16_vector.store(enabled); }
bool bf16_vector_kernels_enabled() { return g_bf16_vector.load(); }

torch::Tensor int_forward_values(const IntQuantSpec& spec, const torch::Tensor& w2d,
                                 const torch::Tensor& scale, const torch::Tensor& zero,
                                 int64_t rps) {
  check_inputs(w2d, scale, rps);
  auto sc = scale.detach().to(torch::kFloat).contiguous();
  auto zp = zero.defined() ? zero.detach().to(torch::kFloat).contiguous() : torch::Tensor();
  if (use_fused(w2d) && spec.rounding == Rounding::Nearest && sc.device().is_cpu()) {
    const KParams p = make_params(spec, 0.2);
    auto out = torch::empty_like(w2d);
    const int64_t cols = w2d.size(1);
    dispatch_dtype(w2d.scalar_type(), [&](auto tag) {
      using scalar_t = typename decltype(tag)::type;
      const scalar_t* w = static_cast<const scalar_t*>(w2d.data_ptr());
      scalar_t* o = static_cast<scalar_t*>(out.data_ptr());
      const float* s = sc.data_ptr<float>();
      const float* z = zp.defined() ? zp.data_ptr<float>() : nullptr;
      dispatch_grid(p, [&](auto kind, auto asym) {
        at::parallel_for(0, w2d.size(0), grain_rows(cols), [&](int64_t b, int64_t e) {
          constexpr GridKind k = decltype(kind)::value;
          constexpr bool a = decltype(asym)::value;
          if (kHaveAvx2)
            rows_avx2::forward_values_rows<scalar_t, k, a>(p, w, s, z, rps, cols, b, e, o);
          else
            rows_base::forward_values_rows<scalar_t, k, a>(p, w, s, z, rps, cols, b, e, o);
        });
      });
    });
    return out;
  }
  auto s_rows = scale_column(sc.clamp_min(kMinScale), rps);
  auto z_rows = zp.defined() ? scale_column(zp, rps) : torch::Tensor();
  auto v = w2d.detach().to(torch::kFloat) / s_rows;
  auto c = torch_codes(spec, v, z_rows);
  return (s_rows * torch_levels(spec, c, z_rows)).to(w2d.scalar_type());
}

torch::Tensor int_forward_codes(const IntQuantSpec& spec, const torch::Tensor& w2d,
                                const torch::Tensor& scale, const torch::Tensor& zero,
                                int64_t rps) {
  check_inputs(w2d, scale, rps);
  const bool asym = spec.grid.kind == GridKind::Int && !spec.grid.symmetric;
  const auto code_type = asym ? torch::kUInt8 : torch::kInt8;
  auto sc = scale.detach().to(torch::kFloat).contiguous();
  auto zp = zero.defined() ? zero.detach().to(torch::kFloat).contiguous() : torch::Tensor();
  auto wd = w2d.detach();
  if (use_fused(wd) && spec.rounding == Rounding::Nearest && sc.device().is_cpu()) {
    const KParams p = make_params(spec, 0.2);
    auto codes = torch::empty(wd.sizes(), wd.options().dtype(code_type));
    const int64_t cols = wd.size(1);
    dispatch_dtype(wd.scalar_type(), [&](auto tag) {
      using scalar_t = typename decltype(tag)::type;
      const scalar_t* w = static_cast<const scalar_t*>(wd.data_ptr());
      void* o = codes.data_ptr();
      const float* s = sc.data_ptr<float>();
      const float* z = zp.defined() ? zp.data_ptr<float>() : nullptr;
      dispatch_grid(p, [&](auto kind, auto asym) {
        at::parallel_for(0, wd.size(0), grain_rows(cols), [&](int64_t b, int64_t e) {
          constexpr GridKind k = decltype(kind)::value;
          constexpr bool a = decltype(asym)::value;
          using Code = std::conditional_t<a, uint8_t, int8_t>;
          Code* out = static_cast<Code*>(o);
          if (kHaveAvx2)
            rows_avx2::forward_codes_rows<scalar_t, k, a>(p, w, s, z, rps, cols, b, e, out);
          else
            rows_base::forward_codes_rows<scalar_t, k, a>(p, w, s, z, rps, cols, b, e, out);
        });
      });
    });
    return codes;
  }
  auto s_rows = scale_column(sc.clamp_min(kMinScale), rps);
  auto z_rows = zp.defined() ? scale_column(zp, rps) : torch::Tensor();
  auto v = wd.to(torch::kFloat) / s_rows;
  return torch_codes(spec, v, z_rows).to(code_type);
}

torch::Tensor int_levels_to_values(const IntQuantSpec& spec, const torch::Tensor& codes2d,
                                   const torch::Tensor& scale, const torch::Tensor& zero,
                                   int64_t rps) {
  check_inputs(codes2d, scale, rps);
  auto s_rows = scale_column(scale.to(torch::kFloat).clamp_min(kMinScale), rps);
  auto z_rows = zero.defined() ? scale_column(zero.to(torch::kFloat), rps) : torch::Tensor();
  auto c = codes2d.to(torch::kFloat);
  return s_rows * torch_levels(spec, c, z_rows);
}

IntBackward int_backward(const IntQuantSpec& spec, const torch::Tensor& w2d,
                         const torch::Tensor& scale, const torch::Tensor& zero, int64_t rps,
                         const torch::Tensor& g2d, double alpha, bool need_scale, bool need_alpha) {
  check_inputs(w2d, scale, rps);
  IntBackward res;
  const bool dsq = spec.weight_grad == WeightGrad::Dsq;
  auto sc = scale.detach().to(torch::kFloat).contiguous();
  auto zp = zero.defined() ? zero.detach().to(torch::kFloat).contiguous() : torch::Tensor();
  const int64_t rows = w2d.size(0), cols = w2d.size(1);
  torch::Tensor ds_row, da_row;  // [rows] double
  if (use_fused(w2d) && spec.rounding == Rounding::Nearest && sc.device().is_cpu()) {
    const KParams p = make_params(spec, alpha);
    auto g = g2d.to(w2d.scalar_type()).contiguous();
    res.grad_w = torch::empty_like(w2d);
    ds_row = torch::empty({rows}, torch::kDouble);
    if (dsq) da_row = torch::empty({rows}, torch::kDouble);
    dispatch_dtype(w2d.scalar_type(), [&](auto tag) {
      using scalar_t = typename decltype(tag)::type;
      const scalar_t* w = static_cast<const scalar_t*>(w2d.data_ptr());
      const scalar_t* gp = static_cast<const scalar_t*>(g.data_ptr());
      scalar_t* o = static_cast<scalar_t*>(res.grad_w.data_ptr());
      const float* s = sc.data_ptr<float>();
      const float* z = zp.defined() ? zp.data_ptr<float>() : nullptr;
      double* dsp = ds_row.data_ptr<double>();
      double* dap = dsq ? da_row.data_ptr<double>() : nullptr;
      dispatch_grid(p, [&](auto kind, auto asym) {
        dispatch_grad(p, [&](auto grad) {
          at::parallel_for(0, rows, grain_rows(cols), [&](int64_t b, int64_t e) {
            constexpr GridKind k = decltype(kind)::value;
            constexpr bool a = decltype(asym)::value;
            constexpr KGrad gk = decltype(grad)::value;
            if (kHaveAvx2)
              rows_avx2::backward_rows<scalar_t, k, a, gk>(p, w, gp, s, z, rps, cols, b, e, o, dsp,
                                                           dap);
            else
              rows_base::backward_rows<scalar_t, k, a, gk>(p, w, gp, s, z, rps, cols, b, e, o, dsp,
                                                           dap);
          });
        });
      });
    });
  } else {
    const WeightGrid& gr = spec.grid;
    auto s_rows = scale_column(sc.clamp_min(kMinScale), rps);
    auto z_rows = zp.defined() ? scale_column(zp, rps) : torch::Tensor();
    auto v = w2d.detach().to(torch::kFloat) / s_rows;
    auto g = g2d.to(torch::kFloat);
    torch::Tensor inside, q, d, rc;
    auto fzero = torch::zeros({}, v.options());
    switch (gr.kind) {
      case GridKind::Int: {
        auto uc = z_rows.defined() ? v + z_rows : v;
        inside = (uc >= gr.cmin).logical_and(uc <= gr.cmax);
        q = round_codes(v, spec.rounding);
        auto zr = z_rows.defined() ? z_rows : fzero;
        d = torch::where(inside, q - v, torch::where(uc < gr.cmin, gr.cmin - zr, gr.cmax - zr));
        rc = v - q;
        break;
      }
      case GridKind::Stretched: {
        inside = v.abs() <= 0.99;
        auto u = v.clamp(-0.99, 0.99).mul(gr.n).sub(gr.h);
        auto ru = torch::round(u);
        q = torch_levels(spec, ru.clamp(gr.cmin, gr.cmax), torch::Tensor());
        rc = u - ru;
        auto out = torch::where(v < 0, torch::full({}, -gr.seq_out, v.options()),
                                torch::full({}, gr.seq_out, v.options()));
        d = torch::where(inside, q - v, out);
        break;
      }
      case GridKind::Binary: {
        inside = v.abs() <= 1.0;
        q = torch::where(v < 0, torch::full({}, -1.f, v.options()),
                         torch::full({}, 1.f, v.options()));
        d = q;
        rc = torch::zeros_like(v);
        break;
      }
    }
    torch::Tensor big_g;
    switch (spec.weight_grad) {
      case WeightGrad::ClippedSte:
        big_g = torch::ones_like(v);
        break;
      case WeightGrad::Fourier: {
        const double c = std::sqrt(2.0) * M_PI * spec.amplitude;
        auto s = torch::zeros_like(v);
        for (int m = 0; m <= spec.fourier_order; ++m)
          s = s + (c * ((m % 2 == 0) ? 1.0 : -1.0) / (2 * m + 1)) *
                      torch::cos(rc * ((2 * m + 1) * M_PI));
        big_g = (1 - s) / (1 + s);
        break;
      }
      case WeightGrad::Ewgs:
        big_g = 1 + (spec.ewgs_delta / gr.span()) * torch::sign(g) * (v - q);
        break;
      case WeightGrad::Dsq: {
        const double k = std::log(2.0 / alpha - 1.0), t_half = std::tanh(k / 2);
        auto x = v - (torch::floor(v) + 0.5);
        auto t = torch::tanh(k * x);
        auto sech2 = 1 - t * t;
        big_g = 0.5 * k * sech2 / t_half;
        auto dphi = x * sech2 / t_half - t * (0.5 * (1 - t_half * t_half) / (t_half * t_half));
        da_row = torch::where(inside, g * dphi, fzero).sum(1).to(torch::kDouble).cpu();
        if (spec.dsq_scale_grad == DsqScaleGrad::Chain)
          d = torch::where(inside, q - v * big_g, d);  // d(s Q(w/s))/ds through the soft Q
        break;
      }
    }
    res.grad_w = torch::where(inside, g * big_g, fzero).to(w2d.scalar_type());
    ds_row = (g * d).to(torch::kDouble).sum(1).cpu();
  }
  if (need_scale) {
    auto per_scale = ds_row.view({rows / rps, rps}).sum(1) * spec.gamma;
    per_scale = torch::where(sc.reshape({-1}).to(torch::kDouble).cpu() < kMinScale,
                             torch::zeros_like(per_scale), per_scale);
    res.grad_scale = per_scale.to(torch::kFloat).to(scale.device()).view(scale.sizes());
  }
  if (need_alpha && dsq) {
    const double dk_dalpha = -2.0 / (alpha * (2.0 - alpha));
    auto s_rows = sc.clamp_min(kMinScale).to(torch::kDouble).cpu().reshape({-1});
    if (rps != 1) s_rows = s_rows.repeat_interleave(rps);
    const double total = (s_rows * da_row).sum().item<double>() * 0.5 * dk_dalpha;
    res.grad_alpha =
        torch::full({}, total, torch::TensorOptions().dtype(torch::kFloat)).to(scale.device());
  }
  return res;
}

}  // namespace qatwb::quant
