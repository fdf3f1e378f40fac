#include "core/model/fused_layers.h"

#include <ATen/Parallel.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace qatwb::model {
namespace {

std::atomic<bool> g_fused_layers{true};

// ---- Row kernels. Compiled at O3 (GCC's -O2 cost model leaves these loops scalar) without
// trapping math (if-conversion of the clamps), each in a baseline and an AVX2 clone chosen when
// the program loads. Reductions keep 8 explicit partial sums so that they vectorise without
// reassociating anything: both clones give the same bits.
#pragma GCC push_options
#pragma GCC optimize("O3", "no-trapping-math")

#define QATWB_FUSED_INLINE inline __attribute__((always_inline))
#define QATWB_FUSED_CLONES __attribute__((target_clones("avx2", "default")))

// exp(x) for float: Cody-Waite reduction by ln 2 and Cephes' degree-6 polynomial on
// [-ln2/2, ln2/2] (within 2 ulp of the exact value), arguments clamped to the finite range.
QATWB_FUSED_INLINE float exp_poly(float x) {
  x = x < -87.3f ? -87.3f : (x > 88.3f ? 88.3f : x);
  const float magic = 12582912.f;  // 1.5 * 2^23: adding it rounds to an integer
  const float n = (x * 1.44269504088896341f + magic) - magic;
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(float));
  return p * scale;
}

QATWB_FUSED_INLINE float sum_squares(const float* x, int64_t d) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t j = 0;
  for (; j + 8 <= d; j += 8)
    for (int k = 0; k < 8; ++k) acc[k] += x[j + k] * x[j + k];
  float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; j < d; ++j) s += x[j] * x[j];
  return s;
}

QATWB_FUSED_CLONES void rms_norm_rows(const float* x, const float* w, float* y, float* rstd,
                                      int64_t rows, int64_t d, float eps) {
  for (int64_t i = 0; i < rows; ++i) {
    const float* xi = x + i * d;
    float* yi = y + i * d;
    const float r = 1.f / std::sqrt(sum_squares(xi, d) / static_cast<float>(d) + eps);
    rstd[i] = r;
    for (int64_t j = 0; j < d; ++j) yi[j] = w[j] * (xi[j] * r);
  }
}

// gx = r * w * gy - x * r^3 * sum(w * gy * x) / d; gw_partial += gy * x * r.
QATWB_FUSED_CLONES void rms_norm_rows_backward(const float* x, const float* w, const float* rstd,
                                               const float* gy, float* gx, float* gw_partial,
                                               int64_t rows, int64_t d) {
  for (int64_t i = 0; i < rows; ++i) {
    const float* xi = x + i * d;
    const float* gyi = gy + i * d;
    const float r = rstd[i];
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t j = 0;
    for (; j + 8 <= d; j += 8)
      for (int k = 0; k < 8; ++k) acc[k] += w[j + k] * gyi[j + k] * xi[j + k];
    float dot = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; j < d; ++j) dot += w[j] * gyi[j] * xi[j];
    const float c = r * r * r * dot / static_cast<float>(d);
    if (gx) {
      float* gxi = gx + i * d;
      for (int64_t j2 = 0; j2 < d; ++j2) gxi[j2] = r * (w[j2] * gyi[j2]) - xi[j2] * c;
    }
    if (gw_partial)
      for (int64_t j2 = 0; j2 < d; ++j2) gw_partial[j2] += gyi[j2] * (xi[j2] * r);
  }
}

QATWB_FUSED_CLONES void swiglu_elems(const float* g, const float* u, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float s = 1.f / (1.f + exp_poly(-g[i]));
    y[i] = g[i] * s * u[i];
  }
}

// d/dg = gy * u * s * (1 + g * (1 - s)); d/du = gy * g * s, with s = sigmoid(g).
QATWB_FUSED_CLONES void swiglu_elems_backward(const float* g, const float* u, const float* gy,
                                              float* gg, float* gu, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float s = 1.f / (1.f + exp_poly(-g[i]));
    const float t = gy[i] * s;
    gg[i] = t * u[i] * (1.f + g[i] * (1.f - s));
    gu[i] = t * g[i];
  }
}

#pragma GCC pop_options

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

constexpr int64_t kRowGrain = 16;
constexpr int64_t kElemGrain = 16384;

struct RmsNormFn : public torch::autograd::Function<RmsNormFn> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight, double eps) {
    const auto xc = x.contiguous();
    const auto wc = weight.contiguous();
    const int64_t d = xc.size(-1), rows = d ? xc.numel() / d : 0;
    auto y = torch::empty_like(xc);
    auto rstd = torch::empty({rows}, xc.options());
    const float* xp = xc.data_ptr<float>();
    const float* wp = wc.data_ptr<float>();
    float* yp = y.data_ptr<float>();
    float* rp = rstd.data_ptr<float>();
    at::parallel_for(0, rows, kRowGrain, [&](int64_t b, int64_t e) {
      rms_norm_rows(xp + b * d, wp, yp + b * d, rp + b, e - b, d, static_cast<float>(eps));
    });
    ctx->save_for_backward({xc, wc, rstd});
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& x = saved[0];
    const auto& w = saved[1];
    const auto& rstd = saved[2];
    const auto gy = grads[0].contiguous();
    const int64_t d = x.size(-1), rows = d ? x.numel() / d : 0;
    const bool need_x = ctx->needs_input_grad(0), need_w = ctx->needs_input_grad(1);
    torch::Tensor gx = need_x ? torch::empty_like(x) : torch::Tensor();
    // Weight gradient: one partial row per chunk of rows, summed in chunk order (deterministic
    // for a given thread count).
    const int64_t chunks =
        need_w ? std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), rows / kRowGrain))
               : 1;
    torch::Tensor partial = need_w ? torch::zeros({chunks, d}, x.options()) : torch::Tensor();
    const float* xp = x.data_ptr<float>();
    const float* wp = w.data_ptr<float>();
    const float* rp = rstd.data_ptr<float>();
    const float* gp = gy.data_ptr<float>();
    float* gxp = need_x ? gx.data_ptr<float>() : nullptr;
    float* pp = need_w ? partial.data_ptr<float>() : nullptr;
    const int64_t per = (rows + chunks - 1) / chunks;
    at::parallel_for(0, chunks, 1, [&](int64_t b, int64_t e) {
      for (int64_t c = b; c < e; ++c) {
        const int64_t r0 = c * per, r1 = std::min(rows, r0 + per);
        if (r0 >= r1) continue;
        rms_norm_rows_backward(xp + r0 * d, wp, rp + r0, gp + r0 * d, gxp ? gxp + r0 * d : nullptr,
                               pp ? pp + c * d : nullptr, r1 - r0, d);
      }
    });
    torch::Tensor gw = need_w ? partial.sum(0) : torch::Tensor();
    return {gx, gw, torch::Tensor()};
  }
};

struct SwigluFn : public torch::autograd::Function<SwigluFn> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& gate,
                               const torch::Tensor& up) {
    const auto g = gate.contiguous();
    const auto u = up.contiguous();
    auto y = torch::empty_like(g);
    const float* gp = g.data_ptr<float>();
    const float* up_ = u.data_ptr<float>();
    float* yp = y.data_ptr<float>();
    at::parallel_for(0, g.numel(), kElemGrain,
                     [&](int64_t b, int64_t e) { swiglu_elems(gp + b, up_ + b, yp + b, e - b); });
    ctx->save_for_backward({g, u});
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& g = saved[0];
    const auto& u = saved[1];
    const auto gy = grads[0].contiguous();
    auto gg = torch::empty_like(g);
    auto gu = torch::empty_like(u);
    const float* gp = g.data_ptr<float>();
    const float* up_ = u.data_ptr<float>();
    const float* gyp = gy.data_ptr<float>();
    float* ggp = gg.data_ptr<float>();
    float* gup = gu.data_ptr<float>();
    at::parallel_for(0, g.numel(), kElemGrain, [&](int64_t b, int64_t e) {
      swiglu_elems_backward(gp + b, up_ + b, gyp + b, ggp + b, gup + b, e - b);
    });
    return {gg, gu};
  }
};

bool fusable(const torch::Tensor& t) {
  return t.device().is_cpu() && t.scalar_type() == torch::kFloat && t.layout() == torch::kStrided;
}

}  // namespace

torch::Tensor rms_norm_reference(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
  const auto h = x.to(torch::kFloat32);
  const auto var = h.pow(2).mean(-1, /*keepdim=*/true);
  return weight * (h * torch::rsqrt(var + eps)).to(x.scalar_type());
}

torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
  if (g_fused_layers.load() && fusable(x) && fusable(weight) && x.dim() >= 1 && weight.dim() == 1 &&
      x.size(-1) == weight.size(0) && x.numel() > 0)
    return RmsNormFn::apply(x, weight, eps);
  return rms_norm_reference(x, weight, eps);
}

torch::Tensor swiglu_reference(const torch::Tensor& gate, const torch::Tensor& up) {
  return torch::silu(gate) * up;
}

torch::Tensor swiglu(const torch::Tensor& gate, const torch::Tensor& up) {
  if (g_fused_layers.load() && fusable(gate) && fusable(up) && gate.sizes() == up.sizes())
    return SwigluFn::apply(gate, up);
  return swiglu_reference(gate, up);
}

void set_fused_layers_enabled(bool enabled) { g_fused_layers.store(enabled); }
bool fused_layers_enabled() { return g_fused_layers.load(); }

}  // namespace qatwb::model
