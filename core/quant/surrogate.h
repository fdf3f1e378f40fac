// The surrogate registry: what each `Surrogate` of scheme.h means for a weight quantizer, plus
// the scalar closed forms of every weight-gradient surrogate (in double; the fused kernels in
// int_kernels.cpp compute the same in float, and the tests pin one against the other).
//
// Notation (docs/QAT_METHODS.md): v = w/s, r = v - round(v), g = dL/dw_hat, M = in-range mask.
// dL/dw = g * M * G(v).
#pragma once
#include <string>

#include "core/quant/scheme.h"

namespace qatwb::quant {

// How the weight gradient is shaped inside the quantization range.
enum class WeightGrad {
  ClippedSte,  // G = 1
  Fourier,     // StableQAT: G = (1 - S)/(1 + S)
  Dsq,         // G = 0.5 k sech^2(k (v - m)) / tanh(k/2), alpha learnable; scale gradient
               // d = q - v G inside (chain rule, default) or LSQ's q - v
  Ewgs         // G = 1 + delta * sign(g) * (v - q(v)) / span (the paper's normalised domain)
};

struct SurrogateImpl {
  WeightGrad weight_grad = WeightGrad::ClippedSte;
  bool stretched_grid = false;  // ParetoQ: SEQ grid at 2 bits (ternary always uses SEQ)
  bool pact_inputs = false;     // Pact: PACT on the Linear inputs, weights use clipped STE
  // AdaRound: a learned rounding variable per weight replaces round-to-nearest; the latent
  // weights and the scales stay fixed (core/quant/adaround.h).
  bool learned_rounding = false;
  const char* description = "";
};

// 1/(sqrt(2)*pi): StableQAT's G stays in (0, 1] only for amplitudes below this.
constexpr double kStableQatMaxAmplitude = 0.22507907903927651;

// Looks a surrogate up and validates its parameters (amplitude, order, DSQ alpha, EWGS delta,
// AdaRound's regulariser) against the grid and scale mode it will run on. Throws qatwb::Error
// naming `where` and the field.
SurrogateImpl surrogate_impl(const QuantScheme& scheme, const std::string& where = "quant");

// StableQAT: S = sum_{m=0..M} sqrt2*pi*A*(-1)^m/(2m+1) * cos((2m+1)*pi*(v + round v)),
// G = (1 - S)/(1 + S), evaluated literally (with v + round v, as the paper writes it).
double stableqat_g(double v, double amplitude, int order);

// DSQ on the integer grid (cells of width 1 in units of s, midpoint m = floor(v) + 0.5),
// k = ln(2/alpha - 1): the soft quantizer value m + 0.5*phi(v), phi = tanh(k(v-m))/tanh(k/2);
// its v-derivative (= G) and its alpha-derivative (the DSQ alpha gradient per unit g*s).
double dsq_k(double alpha);
double dsq_soft(double v, double alpha);
double dsq_g(double v, double alpha);
double dsq_dsoft_dalpha(double v, double alpha);

}  // namespace qatwb::quant
