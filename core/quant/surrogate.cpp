#include "core/quant/surrogate.h"

#include <cmath>
#include <sstream>

#include "core/util/error.h"
#include "core/util/strings.h"

namespace qatwb::quant {

SurrogateImpl surrogate_impl(const QuantScheme& scheme, const std::string& where) {
  const SurrogateParams& p = scheme.params;
  SurrogateImpl impl;
  switch (scheme.surrogate) {
    case Surrogate::Ste:
      impl.description = "clipped straight-through estimator";
      break;
    case Surrogate::Lsq:
      impl.description = "LSQ: clipped STE for w, LSQ gradient for the scale";
      break;
    case Surrogate::StableQat:
      if (!(p.amplitude >= 0) || p.amplitude >= kStableQatMaxAmplitude)
        throw Error(where + ": surrogate.amplitude " + number_text(p.amplitude) +
                    " must be in [0, 1/(sqrt2*pi) = 0.2251) so that StableQAT's G stays in (0, 1]");
      if (p.fourier_order < 0 || p.fourier_order > 7)
        throw Error(where + ": surrogate.fourier_order " + std::to_string(p.fourier_order) +
                    " must be in 0..7");
      impl.weight_grad = WeightGrad::Fourier;
      impl.description = "StableQAT rotated damped Fourier surrogate";
      break;
    case Surrogate::Dsq:
      if (!(p.dsq_alpha > 0 && p.dsq_alpha < 0.5))
        throw Error(where + ": surrogate.dsq_alpha " + number_text(p.dsq_alpha) +
                    " must be in (0, 0.5)");
      impl.weight_grad = WeightGrad::Dsq;
      impl.description = scheme.params.dsq_scale_grad == DsqScaleGrad::Chain
                             ? "DSQ differentiable soft quantization (chain-rule scale gradient)"
                             : "DSQ differentiable soft quantization (LSQ scale gradient)";
      break;
    case Surrogate::Ewgs:
      if (!(p.ewgs_delta >= 0))
        throw Error(where + ": surrogate.ewgs_delta " + number_text(p.ewgs_delta) +
                    " must be >= 0");
      impl.weight_grad = WeightGrad::Ewgs;
      impl.description = "EWGS element-wise gradient scaling";
      break;
    case Surrogate::ParetoQ:
      impl.stretched_grid = true;
      impl.description = "ParetoQ: SEQ grid at 2 bits and ternary, LSQ otherwise";
      break;
    case Surrogate::Pact:
      impl.pact_inputs = true;
      impl.description = "PACT on the inputs, clipped STE for the weights";
      break;
    case Surrogate::AdaRound:
      if (!(p.adaround_reg_weight >= 0))
        throw Error(where + ": surrogate_params.reg_weight " + number_text(p.adaround_reg_weight) +
                    " must be >= 0");
      if (!(p.adaround_beta_start >= p.adaround_beta_end && p.adaround_beta_end > 0))
        throw Error(where + ": surrogate_params.beta_start " + number_text(p.adaround_beta_start) +
                    " and beta_end " + number_text(p.adaround_beta_end) +
                    " must satisfy beta_start >= beta_end > 0");
      if (!(p.adaround_reg_warmup >= 0 && p.adaround_reg_warmup < 1))
        throw Error(where + ": surrogate_params.reg_warmup " + number_text(p.adaround_reg_warmup) +
                    " must be in [0, 1)");
      if (scheme.format != Format::Int || scheme.bits < 2 || scheme.ternary())
        throw Error(where +
                    ": surrogate adaround learns up/down rounding on an INT grid of 2+ "
                    "bits; it is not defined for " +
                    std::string(to_string(scheme.format)) + " bits " + number_text(scheme.bits));
      if (scheme.scale_mode == ScaleMode::Learned)
        throw Error(where +
                    ": surrogate adaround learns the rounding of fixed weights on a fixed "
                    "grid; set quant.scale to frozen (scales from scale_init) or minmax");
      impl.learned_rounding = true;
      impl.description = "AdaRound learned rounding (latent weights and scales fixed)";
      break;
  }
  const bool special_grid =
      scheme.bits == 1 || scheme.ternary() || (scheme.bits == 2 && impl.stretched_grid);
  if (scheme.format == Format::Int && special_grid &&
      (impl.weight_grad == WeightGrad::Dsq ||
       (scheme.bits == 1 && impl.weight_grad == WeightGrad::Fourier)))
    throw Error(where + ": surrogate " + to_string(scheme.surrogate) + " needs an integer grid; " +
                "it is not defined for bits " + number_text(scheme.bits));
  if (scheme.format == Format::Gguf) {
    if ((impl.weight_grad != WeightGrad::ClippedSte && impl.weight_grad != WeightGrad::Fourier) ||
        impl.stretched_grid || impl.pact_inputs)
      throw Error(where + ": format gguf trains with the ste, lsq or stableqat surrogates; " +
                  to_string(scheme.surrogate) + " is not available for it");
  } else if (scheme.format != Format::Int && impl.weight_grad != WeightGrad::ClippedSte)
    throw Error(where + ": format " + to_string(scheme.format) +
                " trains with the clipped STE only; surrogate " + to_string(scheme.surrogate) +
                " is not available for it");
  return impl;
}

double stableqat_g(double v, double amplitude, int order) {
  const double c = std::sqrt(2.0) * M_PI * amplitude;
  const double x = v + std::nearbyint(v);
  double s = 0.0;
  for (int m = 0; m <= order; ++m) {
    const double sign = (m % 2 == 0) ? 1.0 : -1.0;
    s += c * sign / (2 * m + 1) * std::cos((2 * m + 1) * M_PI * x);
  }
  return (1.0 - s) / (1.0 + s);
}

double dsq_k(double alpha) { return std::log(2.0 / alpha - 1.0); }

double dsq_soft(double v, double alpha) {
  const double k = dsq_k(alpha);
  const double m = std::floor(v) + 0.5;
  return m + 0.5 * std::tanh(k * (v - m)) / std::tanh(k / 2);
}

double dsq_g(double v, double alpha) {
  const double k = dsq_k(alpha);
  const double m = std::floor(v) + 0.5;
  const double t = std::tanh(k * (v - m));
  return 0.5 * k * (1 - t * t) / std::tanh(k / 2);
}

double dsq_dsoft_dalpha(double v, double alpha) {
  // phi = tanh(k x)/T, T = tanh(k/2), x = v - m:
  // dphi/dk = x sech^2(kx)/T - tanh(kx) * 0.5 sech^2(k/2) / T^2;  dk/dalpha = -2/(alpha(2-alpha))
  const double k = dsq_k(alpha);
  const double x = v - (std::floor(v) + 0.5);
  const double t = std::tanh(k * x), big_t = std::tanh(k / 2);
  const double dphi_dk = x * (1 - t * t) / big_t - t * 0.5 * (1 - big_t * big_t) / (big_t * big_t);
  const double dk_dalpha = -2.0 / (alpha * (2.0 - alpha));
  return 0.5 * dphi_dk * dk_dalpha;
}

}  // namespace qatwb::quant
