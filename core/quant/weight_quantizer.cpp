#include "core/quant/weight_quantizer.h"

#include <cmath>

#include "core/quant/adaround.h"
#include "core/quant/fp4.h"
#include "core/quant/int_fake_quant.h"
#include "core/quant/scale_init.h"
#include "core/util/error.h"

namespace qatwb::quant {
namespace {

// Per-row broadcast [rows or 1, 1] of a per-scale tensor.
torch::Tensor per_row(const torch::Tensor& t, int64_t rows_per_scale) {
  auto flat = t.reshape({-1});
  if (rows_per_scale != 1 && flat.numel() != 1) flat = flat.repeat_interleave(rows_per_scale);
  return flat.unsqueeze(1);
}

std::string shape_text(torch::IntArrayRef s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

}  // namespace

WeightQuantizer::WeightQuantizer(const QuantScheme& scheme, const std::string& module,
                                 const torch::Tensor& weight)
    : scheme_(scheme), module_(module) {
  if (!weight.defined()) throw Error(module + ": no weight to quantize");
  if (!weight.is_floating_point()) throw Error(module + ": weight must be a floating-point tensor");
  const SurrogateImpl impl = surrogate_impl(scheme, module);
  if (scheme.format == Format::Gguf) {
    const auto& sp = ggml_quant_spec(scheme.gguf_type);
    ggml_ = std::make_shared<GgmlFakeQuant>(scheme.gguf_type, impl, scheme.params.amplitude,
                                            scheme.params.fourier_order, module, weight);
    layout_ = make_block_layout(Granularity::PerGroup, sp.sub, weight.sizes().vec(), module);
    if (scheme.scale_mode == ScaleMode::Frozen) ggml_->freeze();
    return;
  }
  if (scheme.format != Format::Int) {
    layout_ = make_block_layout(Granularity::PerGroup, fp4_block_size(scheme.format),
                                weight.sizes().vec(), module);
    return;
  }
  layout_ = make_block_layout(scheme.granularity, scheme.group_size, weight.sizes().vec(), module);
  spec_.grid = make_weight_grid(scheme, module);
  spec_.weight_grad = impl.weight_grad;
  spec_.amplitude = scheme.params.amplitude;
  spec_.fourier_order = scheme.params.fourier_order;
  spec_.ewgs_delta = scheme.params.ewgs_delta;
  spec_.dsq_scale_grad = scheme.params.dsq_scale_grad;
  spec_.gamma = scheme.params.lsq_grad_scale > 0
                    ? scheme.params.lsq_grad_scale
                    : 1.0 / std::sqrt(static_cast<double>(weight.numel()) * spec_.grid.qp_gamma);
  const auto fopts = torch::TensorOptions().dtype(torch::kFloat).device(weight.device());
  if (impl.weight_grad == WeightGrad::Dsq)
    alpha_ = torch::full({}, scheme.params.dsq_alpha, fopts)
                 .requires_grad_(scheme.params.dsq_learn_alpha);
  if (impl.learned_rounding) round_v_ = torch::zeros({layout_.rows, layout_.cols}, fopts);
  init_state(weight);
  if (scale_.defined() && scheme.scale_mode == ScaleMode::Learned) scale_.requires_grad_(true);
  if (round_v_.defined()) round_v_.requires_grad_(true);
}

// Scales and zero points from scale_init, and AdaRound's V at the remainder of w/s.
void WeightQuantizer::init_state(const torch::Tensor& weight) {
  torch::NoGradGuard g;
  if (scheme_.scale_mode != ScaleMode::MinMax) {
    InitScales s =
        init_scales(spec_, scheme_.scale_init,
                    weight.detach().reshape({layout_.rows, layout_.cols}), layout_.rows_per_scale);
    if (scale_.defined())
      scale_.copy_(s.scale.view(layout_.scale_shape));
    else
      scale_ = s.scale.view(layout_.scale_shape).clone();
    if (s.zero.defined() && zero_.defined())
      zero_.copy_(s.zero.view(layout_.scale_shape));
    else if (s.zero.defined())
      zero_ = s.zero.view(layout_.scale_shape).clone();
  }
  if (round_v_.defined()) {
    const Scales s = scales_for(weight);
    auto v = weight.detach().reshape({layout_.rows, layout_.cols}).to(torch::kFloat) /
             per_row(s.scale.detach().clamp_min(kMinScale), layout_.rows_per_scale);
    round_v_.copy_(adaround_v_for(v - torch::floor(v)));
  }
}

torch::Tensor WeightQuantizer::rounded_codes(const torch::Tensor& w, bool hard,
                                             torch::Tensor& s_rows, torch::Tensor& z_rows) const {
  const Scales s = scales_for(w);
  s_rows = per_row(s.scale.detach().to(torch::kFloat).clamp_min(kMinScale), layout_.rows_per_scale);
  z_rows = s.zero.defined() ? per_row(s.zero.detach().to(torch::kFloat), layout_.rows_per_scale)
                            : torch::Tensor();
  auto base =
      torch::floor(w.detach().reshape({layout_.rows, layout_.cols}).to(torch::kFloat) / s_rows);
  if (z_rows.defined()) base = base + z_rows;
  auto up = hard ? (round_v_.detach() >= 0).to(torch::kFloat) : adaround_h(round_v_);
  return (base + up).clamp(spec_.grid.cmin, spec_.grid.cmax);
}

torch::Tensor WeightQuantizer::rounding_regulariser(double beta) const {
  if (!round_v_.defined()) return torch::Tensor();
  return adaround_regulariser_sum(round_v_, beta);
}

int64_t WeightQuantizer::soft_rounding_count() const {
  if (!round_v_.defined()) return 0;
  return round_v_.detach().abs().lt(kAdaRoundHardAt).sum().item<int64_t>();
}

void WeightQuantizer::set_bits(double bits, const torch::Tensor& w, bool reinit) {
  if (scheme_.format != Format::Int || bits == scheme_.bits) return;
  QuantScheme s = scheme_;
  s.bits = bits;
  surrogate_impl(s, module_);  // the surrogate must be defined on the new grid
  spec_.grid = make_weight_grid(s, module_);
  if (!(s.params.lsq_grad_scale > 0))
    spec_.gamma = 1.0 / std::sqrt(static_cast<double>(w.numel()) * spec_.grid.qp_gamma);
  scheme_.bits = bits;
  if (reinit) init_state(w);
}

void WeightQuantizer::set_surrogate_values(double amplitude, double ewgs_delta) {
  if (ggml_) ggml_->set_amplitude(amplitude);
  spec_.amplitude = amplitude;
  spec_.ewgs_delta = ewgs_delta;
}

int WeightQuantizer::levels_total() const {
  if (ggml_) {
    const auto& sp = ggml_quant_spec(scheme_.gguf_type);
    return sp.qmax - sp.qmin + 1;
  }
  if (scheme_.format != Format::Int) return 15;  // E2M1: 8 magnitudes, +-0 counted once
  return spec_.grid.levels_total();
}

WeightQuantizer::Scales WeightQuantizer::scales_for(const torch::Tensor& w) const {
  if (scheme_.scale_mode != ScaleMode::MinMax) return {scale_, zero_};
  // Min/max statistics, whatever scale_init says: max|w|/Qp (asymmetric: (max - min)/(2^b - 1)).
  InitScales s =
      init_scales(spec_, ScaleInit::MaxOverQp, w.detach().reshape({layout_.rows, layout_.cols}),
                  layout_.rows_per_scale);
  return {s.scale.view(layout_.scale_shape),
          s.zero.defined() ? s.zero.view(layout_.scale_shape) : torch::Tensor()};
}

torch::Tensor WeightQuantizer::forward(const torch::Tensor& w) const {
  if (w.sizes().vec() != layout_.shape)
    throw Error(module_ + ": weight shape " + shape_text(w.sizes()) + " differs from " +
                shape_text(layout_.shape) + " the quantizer was built for");
  if (ggml_) return ggml_->forward(w);
  if (scheme_.format != Format::Int) return fp4_fake_quant(scheme_.format, layout_, w);
  if (round_v_.defined()) {
    if (!torch::GradMode::is_enabled()) return dequantize(quantize(w));
    torch::Tensor s_rows, z_rows;
    auto codes = rounded_codes(w, false, s_rows, z_rows);
    auto values = s_rows * (z_rows.defined() ? codes - z_rows : codes);
    return values.to(w.scalar_type()).view(w.sizes());
  }
  const Scales s = scales_for(w);
  return int_fake_quant(spec_, layout_, w, s.scale, s.zero, alpha_);
}

QuantizedTensor WeightQuantizer::quantize(const torch::Tensor& w_in) const {
  torch::NoGradGuard no_grad;
  auto w = w_in.detach();
  if (w.sizes().vec() != layout_.shape)
    throw Error(module_ + ": weight shape " + shape_text(w.sizes()) + " differs from " +
                shape_text(layout_.shape) + " the quantizer was built for");
  QuantizedTensor q;
  q.format = scheme_.format;
  q.bits = scheme_.format == Format::Int ? scheme_.bits : 4;
  q.shape = layout_.shape;
  q.dtype = w.scalar_type();
  auto w2d = w.reshape({layout_.rows, layout_.cols});
  if (ggml_) {
    q.bits = ggml_bits_per_weight(scheme_.gguf_type);
    q.granularity = Granularity::PerGroup;
    q.group_size = layout_.cols;
    q.ggml = ggml_->blocks(w);
    q.codes = torch::from_blob(q.ggml.codes.data(), {static_cast<int64_t>(q.ggml.codes.size())},
                               torch::kChar)
                  .clone()
                  .to(w.device())
                  .view(layout_.shape);
    q.scales = ggml_->sub_scales(w).view(layout_.scale_shape).to(w.device());
    return q;
  }
  if (scheme_.format != Format::Int) {
    q.granularity = Granularity::PerGroup;
    q.group_size = layout_.cols;
    const Fp4Scales s = fp4_scales(scheme_.format, w2d);
    q.codes = e2m1_encode(w2d.to(torch::kFloat) / s.divisor).view(layout_.shape);
    q.scales = s.block.view(layout_.scale_shape);
    q.scale_2 = s.scale_2;
    return q;
  }
  q.grid = spec_.grid;
  q.granularity = scheme_.granularity;
  q.group_size = scheme_.granularity == Granularity::PerTensor ? 0 : layout_.cols;
  const Scales s = scales_for(w);
  auto scale = s.scale.detach().to(torch::kFloat).clamp_min(kMinScale);
  if (round_v_.defined()) {
    torch::Tensor s_rows, z_rows;
    q.codes = rounded_codes(w, true, s_rows, z_rows)
                  .to(spec_.grid.symmetric ? torch::kInt8 : torch::kUInt8)
                  .view(layout_.shape);
  } else {
    q.codes =
        int_forward_codes(spec_, w2d, scale, s.zero, layout_.rows_per_scale).view(layout_.shape);
  }
  q.scales = scale.view(layout_.scale_shape).clone();
  if (s.zero.defined()) q.zeros = s.zero.detach().to(torch::kInt).view(layout_.scale_shape);
  return q;
}

std::vector<torch::Tensor> WeightQuantizer::parameters() const {
  if (ggml_) return ggml_->parameters();
  std::vector<torch::Tensor> p;
  if (scale_.defined() && scale_.requires_grad()) p.push_back(scale_);
  if (alpha_.defined() && alpha_.requires_grad()) p.push_back(alpha_);
  if (round_v_.defined()) p.push_back(round_v_);
  return p;
}

std::vector<std::pair<std::string, torch::Tensor>> WeightQuantizer::state() const {
  if (ggml_) return ggml_->state();
  std::vector<std::pair<std::string, torch::Tensor>> s;
  if (scale_.defined()) s.emplace_back("weight_scale", scale_);
  if (zero_.defined()) s.emplace_back("weight_zero_point", zero_);
  if (alpha_.defined()) s.emplace_back("dsq_alpha", alpha_);
  if (round_v_.defined()) s.emplace_back("round_v", round_v_);
  return s;
}

void WeightQuantizer::load_state(const std::string& name, const torch::Tensor& t) {
  if (ggml_ && ggml_->load_state(name, t)) return;
  torch::Tensor* dst = nullptr;
  if (name == "weight_scale") dst = &scale_;
  if (name == "weight_zero_point") dst = &zero_;
  if (name == "dsq_alpha") dst = &alpha_;
  if (name == "round_v") dst = &round_v_;
  if (!dst || !dst->defined())
    throw Error("quant state: unexpected tensor " + module_ + "." + name + " (the scheme has no " +
                "such state for this module)");
  if (t.numel() != dst->numel())
    throw Error("quant state: " + module_ + "." + name + " has shape " + shape_text(t.sizes()) +
                ", expected " + shape_text(dst->sizes()));
  torch::NoGradGuard g;
  dst->copy_(t.reshape(dst->sizes()).to(dst->options()));
}

void WeightQuantizer::project() {
  if (ggml_) return ggml_->project();
  torch::NoGradGuard g;
  if (scale_.defined()) scale_.clamp_min_(kMinScale);
  if (alpha_.defined()) alpha_.clamp_(kDsqAlphaMin, kDsqAlphaMax);
}

torch::Tensor WeightQuantizer::current_scale(const torch::Tensor& w) const {
  torch::NoGradGuard g;
  if (ggml_) return ggml_->sub_scales(w).view(layout_.scale_shape);
  if (scheme_.format != Format::Int) {
    const Fp4Scales s = fp4_scales(scheme_.format, w.reshape({layout_.rows, layout_.cols}));
    return s.divisor.view(layout_.scale_shape);
  }
  return scales_for(w).scale.detach().clamp_min(kMinScale);
}

QuantizedTensor quantize(const torch::Tensor& w, const QuantScheme& scheme,
                         const std::string& module) {
  return WeightQuantizer(scheme, module, w).quantize(w);
}

}  // namespace qatwb::quant
