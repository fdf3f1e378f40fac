#include "core/quant/weight_quantizer.h"

#include <cmath>

#include "core/quant/fp4.h"
#include "core/quant/int_fake_quant.h"
#include "core/quant/scale_init.h"
#include "core/util/error.h"

namespace qatwb::quant {
namespace {

std::string shape_str(torch::IntArrayRef s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

}  // namespace

WeightQuantizer::WeightQuantizer(const QuantScheme& scheme, const std::string& module,
                                 const torch::Tensor& weight)
    : scheme_(scheme), module_(module) {
  if (!weight.defined()) throw Error(module + ": no weight to quantize");
  if (!weight.is_floating_point())
    throw Error(module + ": weight must be a floating-point tensor");
  const SurrogateImpl impl = surrogate_impl(scheme, module);
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
  if (scheme.scale_mode != ScaleMode::MinMax) {
    InitScales s = init_scales(spec_, scheme.scale_init,
                               weight.detach().reshape({layout_.rows, layout_.cols}),
                               layout_.rows_per_scale);
    scale_ = s.scale.view(layout_.scale_shape).clone();
    if (s.zero.defined()) zero_ = s.zero.view(layout_.scale_shape).clone();
    if (scheme.scale_mode == ScaleMode::Learned) scale_.requires_grad_(true);
  }
}

int WeightQuantizer::levels_total() const {
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
    throw Error(module_ + ": weight shape " + shape_str(w.sizes()) + " differs from " +
                shape_str(layout_.shape) + " the quantizer was built for");
  if (scheme_.format != Format::Int) return fp4_fake_quant(scheme_.format, layout_, w);
  const Scales s = scales_for(w);
  return int_fake_quant(spec_, layout_, w, s.scale, s.zero, alpha_);
}

QuantizedTensor WeightQuantizer::quantize(const torch::Tensor& w_in) const {
  torch::NoGradGuard no_grad;
  auto w = w_in.detach();
  if (w.sizes().vec() != layout_.shape)
    throw Error(module_ + ": weight shape " + shape_str(w.sizes()) + " differs from " +
                shape_str(layout_.shape) + " the quantizer was built for");
  QuantizedTensor q;
  q.format = scheme_.format;
  q.bits = scheme_.format == Format::Int ? scheme_.bits : 4;
  q.shape = layout_.shape;
  q.dtype = w.scalar_type();
  auto w2d = w.reshape({layout_.rows, layout_.cols});
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
  q.codes = int_forward_codes(spec_, w2d, scale, s.zero, layout_.rows_per_scale)
                .view(layout_.shape);
  q.scales = scale.view(layout_.scale_shape).clone();
  if (s.zero.defined()) q.zeros = s.zero.detach().to(torch::kInt).view(layout_.scale_shape);
  return q;
}

std::vector<torch::Tensor> WeightQuantizer::parameters() const {
  std::vector<torch::Tensor> p;
  if (scale_.defined() && scale_.requires_grad()) p.push_back(scale_);
  if (alpha_.defined() && alpha_.requires_grad()) p.push_back(alpha_);
  return p;
}

std::vector<std::pair<std::string, torch::Tensor>> WeightQuantizer::state() const {
  std::vector<std::pair<std::string, torch::Tensor>> s;
  if (scale_.defined()) s.emplace_back("weight_scale", scale_);
  if (zero_.defined()) s.emplace_back("weight_zero_point", zero_);
  if (alpha_.defined()) s.emplace_back("dsq_alpha", alpha_);
  return s;
}

void WeightQuantizer::load_state(const std::string& name, const torch::Tensor& t) {
  torch::Tensor* dst = nullptr;
  if (name == "weight_scale") dst = &scale_;
  if (name == "weight_zero_point") dst = &zero_;
  if (name == "dsq_alpha") dst = &alpha_;
  if (!dst || !dst->defined())
    throw Error("quant state: unexpected tensor " + module_ + "." + name + " (the scheme has no " +
                "such state for this module)");
  if (t.numel() != dst->numel())
    throw Error("quant state: " + module_ + "." + name + " has shape " + shape_str(t.sizes()) +
                ", expected " + shape_str(dst->sizes()));
  torch::NoGradGuard g;
  dst->copy_(t.reshape(dst->sizes()).to(dst->options()));
}

void WeightQuantizer::project() {
  torch::NoGradGuard g;
  if (scale_.defined()) scale_.clamp_min_(kMinScale);
  if (alpha_.defined()) alpha_.clamp_(kDsqAlphaMin, kDsqAlphaMax);
}

torch::Tensor WeightQuantizer::current_scale(const torch::Tensor& w) const {
  torch::NoGradGuard g;
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
