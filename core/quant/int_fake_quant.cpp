#include "core/quant/int_fake_quant.h"

#include <algorithm>

namespace qatwb::quant {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Function::apply (LibTorch 1.13) reads the device of every tensor argument, so optional
// tensors travel as empty placeholders.
torch::Tensor placeholder(const torch::Tensor& t) { return t.defined() ? t : torch::empty({0}); }
torch::Tensor optional(const torch::Tensor& t) { return t.numel() ? t : torch::Tensor(); }

class IntFakeQuantFn : public torch::autograd::Function<IntFakeQuantFn> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, torch::Tensor w2d, torch::Tensor scale,
                               torch::Tensor zero_in, torch::Tensor alpha_in,
                               std::vector<double> spec, int64_t rows_per_scale) {
    const torch::Tensor zero = optional(zero_in), alpha = optional(alpha_in);
    const IntQuantSpec s = IntQuantSpec::from_vector(spec);
    ctx->save_for_backward({w2d, scale});
    ctx->saved_data["spec"] = spec;
    ctx->saved_data["rps"] = rows_per_scale;
    ctx->saved_data["zero"] = zero_in;
    ctx->saved_data["need_scale"] = scale.requires_grad();
    double a = 0.2;
    bool alpha_grad = false;
    if (alpha.defined()) {
      a = alpha.item<double>();
      alpha_grad = alpha.requires_grad() && a >= kDsqAlphaMin && a <= kDsqAlphaMax;
      a = std::clamp(a, kDsqAlphaMin, kDsqAlphaMax);
    }
    ctx->saved_data["alpha"] = a;
    ctx->saved_data["need_alpha"] = alpha_grad;
    return int_forward_values(s, w2d, scale, zero, rows_per_scale);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const IntQuantSpec s = IntQuantSpec::from_vector(ctx->saved_data["spec"].toDoubleVector());
    const int64_t rps = ctx->saved_data["rps"].toInt();
    const torch::Tensor zero = optional(ctx->saved_data["zero"].toTensor());
    const bool need_scale = ctx->saved_data["need_scale"].toBool();
    const bool need_alpha = ctx->saved_data["need_alpha"].toBool();
    const double alpha = ctx->saved_data["alpha"].toDouble();
    IntBackward b =
        int_backward(s, saved[0], saved[1], zero, rps, grads[0], alpha, need_scale, need_alpha);
    return {b.grad_w,     b.grad_scale,    torch::Tensor(),
            b.grad_alpha, torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor int_fake_quant(const IntQuantSpec& spec, const BlockLayout& layout,
                             const torch::Tensor& w, const torch::Tensor& scale,
                             const torch::Tensor& zero, const torch::Tensor& alpha) {
  auto w2d = w.reshape({layout.rows, layout.cols});
  auto out = IntFakeQuantFn::apply(w2d, scale, placeholder(zero), placeholder(alpha),
                                   spec.to_vector(), layout.rows_per_scale);
  return out.view(w.sizes());
}

}  // namespace qatwb::quant
