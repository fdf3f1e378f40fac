#include "core/quant/activation_quant.h"

#include "core/util/error.h"

namespace qatwb::quant {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class PactFn : public torch::autograd::Function<PactFn> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, torch::Tensor x, torch::Tensor alpha,
                               int64_t bits, bool is_signed) {
    ctx->save_for_backward({x, alpha});
    ctx->saved_data["signed"] = is_signed;
    auto xf = x.to(torch::kFloat);
    auto a = alpha.detach().to(torch::kFloat);
    const int64_t steps = is_signed ? (int64_t{1} << (bits - 1)) - 1 : (int64_t{1} << bits) - 1;
    const double levels = static_cast<double>(steps);
    auto y = is_signed ? torch::max(torch::min(xf, a), -a) : torch::min(xf.clamp_min(0.0), a);
    return (torch::round(y * levels / a) * a / levels).to(x.scalar_type());
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const bool is_signed = ctx->saved_data["signed"].toBool();
    auto xf = saved[0].to(torch::kFloat);
    auto a = saved[1].to(torch::kFloat);
    auto g = grads[0].to(torch::kFloat);
    auto zero = torch::zeros({}, g.options());
    auto pass = is_signed ? (xf > -a).logical_and(xf < a) : (xf >= 0).logical_and(xf < a);
    auto gx = torch::where(pass, g, zero).to(saved[0].scalar_type());
    torch::Tensor ga;
    if (saved[1].requires_grad()) {
      auto clipped = is_signed ? torch::where(xf >= a, g, torch::where(xf <= -a, -g, zero))
                               : torch::where(xf >= a, g, zero);
      ga = clipped.sum().view(saved[1].sizes()).to(saved[1].scalar_type());
    }
    return {gx, ga, torch::Tensor(), torch::Tensor()};
  }
};

class Int8TokenFn : public torch::autograd::Function<Int8TokenFn> {
 public:
  static torch::Tensor forward(AutogradContext*, torch::Tensor x) {
    auto xf = x.to(torch::kFloat);
    auto s = xf.abs().amax(-1, true).clamp_min(1e-8) / 127.0;
    return (torch::round(xf / s).clamp(-127, 127) * s).to(x.scalar_type());
  }
  static variable_list backward(AutogradContext*, variable_list grads) { return {grads[0]}; }
};

}  // namespace

torch::Tensor pact_quant(const torch::Tensor& x, const torch::Tensor& alpha, int bits,
                         bool is_signed) {
  if (bits < (is_signed ? 2 : 1) || bits > 16)
    throw Error("pact: bits " + std::to_string(bits) + " not in " + (is_signed ? "2" : "1") +
                "..16");
  return PactFn::apply(x, alpha, static_cast<int64_t>(bits), is_signed);
}

torch::Tensor int8_per_token_quant(const torch::Tensor& x) { return Int8TokenFn::apply(x); }

ActivationQuantizer::ActivationQuantizer(const ActivationQuant& config, const torch::Device& device)
    : config_(config) {
  if (config_.kind == ActivationQuant::Kind::Pact) {
    if (!(config_.pact_alpha_init > 0))
      throw Error("activations.pact_alpha_init must be > 0, got " +
                  std::to_string(config_.pact_alpha_init));
    alpha_ = torch::full({}, config_.pact_alpha_init,
                         torch::TensorOptions().dtype(torch::kFloat).device(device))
                 .requires_grad_(true);
  }
}

torch::Tensor ActivationQuantizer::forward(const torch::Tensor& x) const {
  switch (config_.kind) {
    case ActivationQuant::Kind::None:
      return x;
    case ActivationQuant::Kind::Int8PerToken:
      return int8_per_token_quant(x);
    case ActivationQuant::Kind::Pact:
      return pact_quant(x, alpha_, config_.pact_bits, config_.pact_signed);
  }
  return x;
}

std::vector<torch::Tensor> ActivationQuantizer::parameters() const {
  if (alpha_.defined()) return {alpha_};
  return {};
}

torch::Tensor ActivationQuantizer::regularization() const {
  if (!alpha_.defined()) return {};
  return alpha_.pow(2) * config_.pact_l2;
}

std::vector<std::pair<std::string, torch::Tensor>> ActivationQuantizer::state() const {
  if (!alpha_.defined()) return {};
  return {{"input_alpha", alpha_}};
}

void ActivationQuantizer::load_state(const std::string& module, const std::string& name,
                                     const torch::Tensor& t) {
  if (name != "input_alpha" || !alpha_.defined())
    throw Error("quant state: unexpected tensor " + module + "." + name);
  if (t.numel() != 1)
    throw Error("quant state: " + module + ".input_alpha must hold one value, got " +
                std::to_string(t.numel()));
  torch::NoGradGuard g;
  alpha_.copy_(t.reshape({}).to(alpha_.options()));
}

void ActivationQuantizer::project() {
  if (!alpha_.defined()) return;
  torch::NoGradGuard g;
  alpha_.clamp_min_(1e-3);
}

}  // namespace qatwb::quant
