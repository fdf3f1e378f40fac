#include "core/quant/ggml_fake_quant.h"

#include <cmath>
#include <cstring>

#include "core/quant/ggml_reference.h"
#include "core/util/error.h"

namespace qatwb::quant {
namespace {

bool has_sub_scales(const GgmlQuantSpec& sp) { return sp.sub < sp.block; }

torch::Tensor half_round(const torch::Tensor& t) { return t.to(torch::kHalf).to(torch::kFloat); }

// round() with ties away from zero (roundf / lroundf), exactly.
torch::Tensor round_half_away(const torch::Tensor& v) {
  auto t = torch::trunc(v);
  return torch::where((v - t).abs() == 0.5, t + torch::sign(v), torch::round(v));
}

torch::Tensor ste_round(const torch::Tensor& x) { return x + (torch::round(x) - x).detach(); }

// StableQAT's G(v) = (1 - S)/(1 + S) (surrogate.h), on a tensor.
torch::Tensor fourier_g(const torch::Tensor& v, double amplitude, int order) {
  const double c = std::sqrt(2.0) * M_PI * amplitude;
  auto x = v + torch::round(v);
  auto s = torch::zeros_like(v);
  for (int m = 0; m <= order; ++m) {
    const double sign = (m % 2 == 0) ? 1.0 : -1.0;
    s = s + (c * sign / (2 * m + 1)) * torch::cos((2 * m + 1) * M_PI * x);
  }
  return (1 - s) / (1 + s);
}

}  // namespace

GgmlFakeQuant::GgmlFakeQuant(GgmlQuant type, const SurrogateImpl& impl, double amplitude,
                             int fourier_order, const std::string& module,
                             const torch::Tensor& weight)
    : type_(type),
      grad_(impl.weight_grad),
      amplitude_(amplitude),
      order_(fourier_order),
      module_(module),
      shape_(weight.sizes().vec()) {
  const auto& sp = ggml_quant_spec(type);
  if (grad_ != WeightGrad::ClippedSte && grad_ != WeightGrad::Fourier)
    throw Error(module + ": gguf formats train with the STE, LSQ or StableQAT surrogates");
  if (weight.dim() < 1 || weight.size(-1) % sp.block != 0)
    throw Error(module + ": " + sp.name + " needs rows of a multiple of " +
                std::to_string(sp.block) + " elements (the input dimension is " +
                (weight.dim() ? std::to_string(weight.size(-1)) : std::string("none")) + ")");
  torch::NoGradGuard ng;
  auto w = weight.detach().to(torch::kFloat).contiguous().cpu().reshape({-1});
  const int64_t numel = w.numel(), nb = numel / sp.block;
  nsub_ = numel / sp.sub;
  const auto fopts = torch::TensorOptions().dtype(torch::kFloat);
  const float* x = w.data_ptr<float>();
  d0_ = torch::empty({nb}, fopts);
  float* d = d0_.data_ptr<float>();
  if (has_sub_scales(sp)) {
    const GgmlBlocks b = ggml_reference_quantize(type, x, numel, module);
    for (int64_t i = 0; i < nb; ++i) d[i] = fp16_to_fp32(b.d[static_cast<size_t>(i)]);
    s_ = torch::tensor(std::vector<float>(b.scales.begin(), b.scales.end()), fopts);
    if (sp.mmax > 0) {
      dmin0_ = torch::empty({nb}, fopts);
      for (int64_t i = 0; i < nb; ++i)
        dmin0_.data_ptr<float>()[i] = fp16_to_fp32(b.dmin[static_cast<size_t>(i)]);
      m_ = torch::tensor(std::vector<float>(b.mins.begin(), b.mins.end()), fopts);
    }
  } else {  // the fp32 scale of ggml's _ref rule (the codes round with 1/d in fp32)
    for (int64_t i = 0; i < nb; ++i) d[i] = ggml_block_scale(type, x + i * sp.block);
  }
  const auto dev = weight.device();
  d0_ = d0_.to(dev);
  rd_ = torch::zeros({nb}, fopts.device(dev)).requires_grad_(true);
  if (dmin0_.defined()) {
    dmin0_ = dmin0_.to(dev);
    rm_ = torch::zeros({nb}, fopts.device(dev)).requires_grad_(true);
  }
  if (s_.defined()) s_ = s_.to(dev).requires_grad_(true);
  if (m_.defined()) m_ = m_.to(dev).requires_grad_(true);
}

torch::Tensor GgmlFakeQuant::per_sub(const torch::Tensor& per_block) const {
  const auto& sp = ggml_quant_spec(type_);
  auto t = per_block.reshape({-1});
  if (sp.block != sp.sub) t = t.repeat_interleave(sp.block / sp.sub);
  return t.unsqueeze(1);
}

GgmlFakeQuant::Exact GgmlFakeQuant::exact(const torch::Tensor& w2) const {
  torch::NoGradGuard ng;
  const auto& sp = ggml_quant_spec(type_);
  Exact e;
  auto d = d0_ * (1 + rd_.detach());
  if (has_sub_scales(sp)) {
    auto s = s_.detach().clamp(sp.smin, sp.smax).round();
    e.sigma = per_sub(half_round(d)) * s.unsqueeze(1);
    auto v = w2;
    if (m_.defined()) {
      auto m = m_.detach().clamp(0, sp.mmax).round();
      e.mu = per_sub(half_round(dmin0_ * (1 + rm_.detach()))) * m.unsqueeze(1);
      v = v + e.mu;
    }
    v = v / e.sigma;
    // A zero sub-scale keeps the lowest code, as ggml's quantizers leave it for a zero sub-block.
    e.q = torch::where(e.sigma == 0, torch::full_like(v, sp.qmin),
                       torch::round(v).clamp(sp.qmin, sp.qmax));
  } else {
    auto id = torch::where(d != 0, torch::ones_like(d) / d, torch::zeros_like(d));
    auto v = w2 * per_sub(id);
    if (type_ == GgmlQuant::Q4_0)
      e.q = torch::trunc(v + 8.5f).clamp(0, 15) - 8;
    else
      e.q = round_half_away(v).clamp(sp.qmin, sp.qmax);
    e.sigma = per_sub(half_round(d));
  }
  // ggml stores the integer 0, never -0: round() of a small negative v gives -0, and -0 * sigma
  // would differ from ggml's 0 * sigma in its sign bit.
  e.q.masked_fill_(e.q == 0, 0.0);
  e.y = e.sigma * e.q;
  if (e.mu.defined()) e.y = e.y - e.mu;
  return e;
}

torch::Tensor GgmlFakeQuant::forward(const torch::Tensor& w) const {
  const auto& sp = ggml_quant_spec(type_);
  auto w2 = w.to(torch::kFloat).reshape({nsub_, sp.sub});
  const Exact ex = exact(w2);
  const bool grads = torch::GradMode::is_enabled() && (w.requires_grad() || rd_.requires_grad() ||
                                                       (s_.defined() && s_.requires_grad()));
  if (!grads) return ex.y.to(w.scalar_type()).view(w.sizes());
  // The surrogate graph: its value is thrown away (y_soft.detach() - y_soft is exactly +0), its
  // gradient is the one of the header comment.
  auto d = d0_ * (1 + rd_);
  torch::Tensor sigma, mu;
  if (has_sub_scales(sp)) {
    auto d16 = d + (half_round(d.detach()) - d).detach();
    sigma = per_sub(d16) * ste_round(s_.clamp(sp.smin, sp.smax)).unsqueeze(1);
    if (m_.defined()) {
      auto dm = dmin0_ * (1 + rm_);
      auto dm16 = dm + (half_round(dm.detach()) - dm).detach();
      mu = per_sub(dm16) * ste_round(m_.clamp(0, sp.mmax)).unsqueeze(1);
    }
  } else {
    sigma = per_sub(d);
  }
  const auto zero = (ex.sigma == 0).to(torch::kFloat);
  auto v = (mu.defined() ? w2 + mu : w2) / (sigma + zero);
  auto vd = v.detach();
  auto gain = ((vd >= sp.qmin) & (vd <= sp.qmax)).to(torch::kFloat) * (1 - zero);
  if (grad_ == WeightGrad::Fourier) gain = gain * fourier_g(vd, amplitude_, order_);
  auto q = ex.q + gain * (v - vd);
  auto y_soft = sigma * q;
  if (mu.defined()) y_soft = y_soft - mu;
  auto y = ex.y - (y_soft.detach() - y_soft);  // x - (+0) keeps x's bits, -0 included
  return y.to(w.scalar_type()).view(w.sizes());
}

GgmlBlocks GgmlFakeQuant::blocks(const torch::Tensor& w) const {
  torch::NoGradGuard ng;
  const auto& sp = ggml_quant_spec(type_);
  const Exact ex = exact(w.detach().to(torch::kFloat).reshape({nsub_, sp.sub}));
  GgmlBlocks b = make_ggml_blocks(type_, nsub_ * sp.sub, module_);
  auto bits = [](const torch::Tensor& t) {
    auto h = t.to(torch::kHalf).contiguous().view(torch::kShort).cpu();
    return std::vector<uint16_t>(
        reinterpret_cast<const uint16_t*>(h.data_ptr<int16_t>()),
        reinterpret_cast<const uint16_t*>(h.data_ptr<int16_t>()) + h.numel());
  };
  auto ints = [](const torch::Tensor& t) {
    auto c = t.to(torch::kShort).contiguous().cpu();
    return std::vector<int16_t>(c.data_ptr<int16_t>(), c.data_ptr<int16_t>() + c.numel());
  };
  b.d = bits(d0_ * (1 + rd_.detach()));
  if (has_sub_scales(sp)) b.scales = ints(s_.detach().clamp(sp.smin, sp.smax).round());
  if (m_.defined()) {
    b.dmin = bits(dmin0_ * (1 + rm_.detach()));
    b.mins = ints(m_.detach().clamp(0, sp.mmax).round());
  }
  auto q = ex.q.to(torch::kChar).contiguous().cpu();
  std::memcpy(b.codes.data(), q.data_ptr<int8_t>(), b.codes.size());
  return b;
}

torch::Tensor GgmlFakeQuant::sub_scales(const torch::Tensor& w) const {
  const auto& sp = ggml_quant_spec(type_);
  return exact(w.detach().to(torch::kFloat).reshape({nsub_, sp.sub})).sigma.reshape({-1});
}

std::vector<torch::Tensor> GgmlFakeQuant::parameters() const {
  std::vector<torch::Tensor> p;
  for (const auto* t : {&rd_, &rm_, &s_, &m_})
    if (t->defined() && t->requires_grad()) p.push_back(*t);
  return p;
}

void GgmlFakeQuant::freeze() {
  for (auto* t : {&rd_, &rm_, &s_, &m_})
    if (t->defined()) t->requires_grad_(false);
}

std::vector<std::pair<std::string, torch::Tensor>> GgmlFakeQuant::state() const {
  std::vector<std::pair<std::string, torch::Tensor>> s;
  s.emplace_back("ggml_d0", d0_);
  s.emplace_back("ggml_rd", rd_);
  if (dmin0_.defined()) s.emplace_back("ggml_dmin0", dmin0_);
  if (rm_.defined()) s.emplace_back("ggml_rm", rm_);
  if (s_.defined()) s.emplace_back("ggml_s", s_);
  if (m_.defined()) s.emplace_back("ggml_m", m_);
  return s;
}

bool GgmlFakeQuant::load_state(const std::string& name, const torch::Tensor& t) {
  for (auto& [n, dst] : state()) {
    if (n != name) continue;
    if (t.numel() != dst.numel())
      throw Error("quant state: " + module_ + "." + name + " has " + std::to_string(t.numel()) +
                  " elements, expected " + std::to_string(dst.numel()));
    torch::NoGradGuard g;
    dst.copy_(t.reshape(dst.sizes()).to(dst.options()));
    return true;
  }
  return false;
}

void GgmlFakeQuant::project() {
  torch::NoGradGuard g;
  const auto& sp = ggml_quant_spec(type_);
  rd_.clamp_min_(-0.999f);
  if (rm_.defined()) rm_.clamp_min_(-0.999f);
  if (s_.defined()) s_.clamp_(sp.smin, sp.smax);
  if (m_.defined()) m_.clamp_(0, sp.mmax);
}

}  // namespace qatwb::quant
