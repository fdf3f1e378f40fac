// The quantization scheme of a project, as typed values (parsed from YAML by core/project).
// No torch here: the project parser and the store use it too.
#pragma once
#include <map>
#include <string>
#include <vector>

namespace qatwb::quant {

enum class Format { Int, MxFp4, NvFp4 };
enum class Granularity { PerTensor, PerChannel, PerGroup };
// How scales are obtained: min/max every forward (not learned; symmetric s = max|w|/max(Qp, 1),
// asymmetric s = (max - min)/(2^b - 1); scale_init does not apply), learned with LSQ's gradient,
// or computed once at init and frozen.
enum class ScaleMode { MinMax, Learned, Frozen };
// Initial scale for learned/frozen scales (QAT_METHODS.md, "Scale gradients"; scale_init.h says
// exactly what each gives on each grid). StableQat is the preset of StableQAT's / ParetoQ's
// train.py (b = 2: max|w|); Auto differs from it only at INT b = 2 (max|w|/|Qn| = max|w|/2, so
// that level -2 is reachable); Lsq is LSQ's own 2 mean|w| / sqrt(Qp).
enum class ScaleInit { MaxOverQp, MaxOverQn, MaxAbs, MeanAbs, Lsq, StableQat, MseSearch, Auto };
enum class Surrogate { Ste, StableQat, Dsq, Lsq, Pact, ParetoQ, Ewgs };
// How an integer-grid code is rounded in the fake-quant forward: to nearest (half to even), up
// (ceil) or down (floor). Directed rounding is a per-worker option of EASGD (SupportiveQAT's
// UP / DOWN workers); real quantization for evaluation and export always rounds to nearest.
enum class Rounding { Nearest, Up, Down };
// DSQ's scale gradient: through the soft quantizer (the chain rule of s * Q(w/s), as StableQAT's
// DSQ baseline backpropagates: d = Q(v) - v G(v) inside the range) or LSQ's d = round(v) - v.
enum class DsqScaleGrad { Chain, Lsq };

struct SurrogateParams {
  // StableQAT: amplitude A (< 1/(sqrt2*pi)) and Fourier order M (terms m = 0..M).
  double amplitude = 0.21;
  int fourier_order = 0;
  // DSQ: initial alpha in (0, 0.5), learnable per layer.
  double dsq_alpha = 0.2;
  bool dsq_learn_alpha = true;
  DsqScaleGrad dsq_scale_grad = DsqScaleGrad::Chain;
  // EWGS: delta >= 0 (0 is STE), in the paper's normalised domain: the grid's range maps to
  // [0, 1], so (v - q(v)) is divided by the range width in steps (2^b - 1 on INT grids).
  // 1e-3 is the authors' fixed-delta setting (their headline runs adapt delta from the Hessian
  // trace, which qatwb does not do).
  double ewgs_delta = 1e-3;
  // LSQ gradient scale: <= 0 means 1/sqrt(numel(W) * max(Qp, 1)).
  double lsq_grad_scale = 0.0;
};

struct ActivationQuant {
  enum class Kind { None, Int8PerToken, Pact };
  Kind kind = Kind::None;
  int pact_bits = 8;
  // PACT's range: signed clips to [-alpha, alpha] on a symmetric grid of 2^(k-1) - 1 steps a
  // side; unsigned is the paper's [0, alpha) (it zeroes negative inputs, and every input of a
  // Llama Linear is signed, so the project parser refuses it).
  bool pact_signed = true;
  double pact_alpha_init = 6.0;
  double pact_l2 = 1e-4;  // L2 penalty on alpha
};

struct QuantScheme {
  bool enabled = true;
  Format format = Format::Int;
  // 1, 1.58 (ternary), 2, 3, 4, 8. Only INT uses it; MXFP4/NVFP4 are 4-bit by definition.
  double bits = 4;
  Granularity granularity = Granularity::PerChannel;
  int group_size = 128;  // PerGroup only
  bool symmetric = true;
  ScaleMode scale_mode = ScaleMode::Learned;
  ScaleInit scale_init = ScaleInit::Auto;
  Surrogate surrogate = Surrogate::Ste;
  SurrogateParams params;
  ActivationQuant activations;
  // Module name patterns (ECMAScript regex over HF names such as
  // "model.layers.3.self_attn.q_proj") to quantize / to leave in full precision. Defaults: every
  // Linear in the decoder layers; embeddings and lm_head excluded.
  std::vector<std::string> include = {R"(^model\.layers\.\d+\.(self_attn|mlp)\.\w+_proj$)"};
  std::vector<std::string> exclude;

  bool ternary() const { return bits > 1.5 && bits < 1.6; }
};

const char* to_string(Format f);
const char* to_string(Granularity g);
const char* to_string(ScaleMode m);
const char* to_string(ScaleInit i);
const char* to_string(Surrogate s);
const char* to_string(Rounding r);
const char* to_string(DsqScaleGrad g);
// Parsers return false on an unknown name (the caller reports file:line:field).
bool parse(const std::string& s, Format& out);
bool parse(const std::string& s, Granularity& out);
bool parse(const std::string& s, ScaleMode& out);
bool parse(const std::string& s, ScaleInit& out);
bool parse(const std::string& s, Surrogate& out);
bool parse(const std::string& s, Rounding& out);
bool parse(const std::string& s, DsqScaleGrad& out);

}  // namespace qatwb::quant
