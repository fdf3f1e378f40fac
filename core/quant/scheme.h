// The quantization scheme of a project, as typed values (parsed from YAML by core/project).
// No torch here: the project parser and the store use it too.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/quant/ggml_quant_type.h"
#include "core/util/enum_table.h"

namespace qatwb::quant {

// Gguf: one of ggml's block formats (QuantScheme::gguf_type, ggml_quant_type.h), trained on and
// exported as is.
enum class Format { Int, MxFp4, NvFp4, Gguf };
enum class Granularity { PerTensor, PerChannel, PerGroup };
// How scales are obtained: min/max every forward (not learned; symmetric s = max|w|/max(Qp, 1),
// asymmetric s = (max - min)/(2^b - 1); scale_init does not apply), learned with LSQ's gradient,
// or computed once at init and frozen.
enum class ScaleMode { MinMax, Learned, Frozen };
// Initial scale for learned/frozen scales (docs/QAT_METHODS.md, "Scale gradients"; scale_init.h
// says exactly what each gives on each grid). StableQat is the preset of StableQAT's / ParetoQ's
// train.py (b = 2: max|w|); Auto differs from it only at INT b = 2 (max|w|/|Qn| = max|w|/2, so
// that level -2 is reachable); Lsq is LSQ's own 2 mean|w| / sqrt(Qp).
enum class ScaleInit { MaxOverQp, MaxOverQn, MaxAbs, MeanAbs, Lsq, StableQat, MseSearch, Auto };
enum class Surrogate { Ste, StableQat, Dsq, Lsq, Pact, ParetoQ, Ewgs, AdaRound };
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
  // AdaRound (core/quant/adaround.h): the rounding regulariser's weight (added to the loss as
  // reg_weight * the mean over every learned-rounding weight of 1 - |2h(V) - 1|^beta), beta
  // annealed linearly from beta_start to beta_end after the first reg_warmup fraction of the
  // steps (no regulariser during it), as in AdaRound.
  double adaround_reg_weight = 0.01;
  double adaround_beta_start = 20.0;
  double adaround_beta_end = 2.0;
  double adaround_reg_warmup = 0.2;
};

// One phase of quant.schedule (progressive quantization): until step `until` (exclusive), the
// fields it sets replace the scheme's; fields it leaves unset keep the scheme's value. After
// the last phase the scheme itself applies, so quant.bits is what the run ends with (and what
// evaluation and export use). `linear` ramps the continuous fields (amplitude, ewgs_delta)
// from the phase's value at its first step to the value they take at `until`. Bits apply to
// every INT module at the scheme's bits (modules an override gives other bits keep theirs).
struct SchedulePhase {
  int64_t until = 0;
  std::optional<double> bits;
  std::optional<double> amplitude;   // StableQAT's A
  std::optional<double> ewgs_delta;  // EWGS's delta
  bool linear = false;
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

// One entry of quant.overrides (mixed precision by module): the modules whose HF name matches
// `match` (ECMAScript regex, searched; in YAML e.g. 'mlp\.down_proj$') take the fields that are set
// instead of the scheme's. Entries apply in order; a later match overrides an earlier one.
// `enabled` adds a module the include/exclude patterns leave out, or removes one they select.
struct SchemeOverride {
  std::string match;
  std::optional<bool> enabled;
  std::optional<Format> format;
  std::optional<double> bits;
  std::optional<Granularity> granularity;
  std::optional<int> group_size;
  std::optional<Surrogate> surrogate;
};

struct QuantScheme {
  bool enabled = true;
  Format format = Format::Int;
  // 1, 1.58 (ternary), 2, 3, 4, 8. Only INT uses it; MXFP4/NVFP4 are 4-bit by definition.
  double bits = 4;
  GgmlQuant gguf_type = GgmlQuant::Q4_K;  // Gguf only
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
  std::vector<SchemeOverride> overrides;
  std::vector<SchedulePhase> schedule;

  bool ternary() const { return bits > 1.5 && bits < 1.6; }
};

// The scheme one module is quantized with: the scheme's fields with every matching override
// applied in order, and `enabled` false when the module is not quantized (the scheme off, not
// included, excluded, or switched off by an override). The result has no overrides of its own.
// Throws std::regex_error on a bad pattern (the project parser has checked them).
QuantScheme scheme_for_module(const QuantScheme& scheme, const std::string& module);

// Bits per weight of one quantized [rows, cols] weight, scales included: the code bits plus
// 16 bits per scale (and per zero point when asymmetric) at the scheme's granularity; MXFP4
// adds an 8-bit shared exponent per 32 values, NVFP4 an FP8 scale per 16 and one FP32 scale
// per tensor. Ternary codes count log2(3) bits. An unquantized weight is 16 (bf16/fp16).
double bits_per_weight(const QuantScheme& module_scheme, int64_t rows, int64_t cols);

// What a scheme costs over a whole model: each candidate Linear (HF module name, [rows, cols])
// at its own scheme's bits_per_weight, every other parameter at 16 bits.
struct LinearShape {
  std::string module;  // "model.layers.0.mlp.down_proj"
  int64_t rows = 0, cols = 0;
};
struct ModelBits {
  int64_t quantized_weights = 0;  // weights of the quantized modules
  int64_t total_weights = 0;      // every parameter of the model
  double quantized_bpw = 0;       // mean over the quantized modules' weights
  double model_bpw = 0;           // mean over every parameter
};
ModelBits model_bits(const QuantScheme& scheme, const std::vector<LinearShape>& linears,
                     int64_t total_parameters);
// What quant.schedule gives at optimizer step `step` (0-based): the scheme's bits, StableQAT
// amplitude and EWGS delta, or the values of the phase in force where it sets them (ramped
// when linear). `phase` is that phase's index, -1 from the last phase's `until` on.
struct ScheduledValues {
  int phase = -1;
  double bits = 0, amplitude = 0, ewgs_delta = 0;
};
ScheduledValues scheduled_values(const QuantScheme& scheme, int64_t step);
// "4 bits until step 100, 3 bits until 200, then 2 bits"-style description (empty: no schedule).
std::string describe_schedule(const QuantScheme& scheme);

// "int 2-bit per_channel ste"-style description of one module's scheme.
std::string describe_module_scheme(const QuantScheme& module_scheme);

// One table per enum (core/util/enum_table.h; rows in scheme_names.cpp): the YAML spelling and a
// one-line description of every value, in the order messages list them.
EnumRows<Format> enum_rows(Format);
EnumRows<Granularity> enum_rows(Granularity);
EnumRows<ScaleMode> enum_rows(ScaleMode);
EnumRows<ScaleInit> enum_rows(ScaleInit);
EnumRows<Surrogate> enum_rows(Surrogate);
EnumRows<Rounding> enum_rows(Rounding);
EnumRows<DsqScaleGrad> enum_rows(DsqScaleGrad);
EnumRows<ActivationQuant::Kind> enum_rows(ActivationQuant::Kind);
// enum_name of each (the YAML spelling).
const char* to_string(Format f);
const char* to_string(Granularity g);
const char* to_string(ScaleMode m);
const char* to_string(ScaleInit i);
const char* to_string(Surrogate s);
const char* to_string(Rounding r);
const char* to_string(DsqScaleGrad g);
const char* to_string(ActivationQuant::Kind k);

// The INT grid widths quant.bits and an override's bits accept, as YAML spells them ("1.58":
// ternary); a quant.schedule phase takes the whole widths of 2 bits and more.
std::vector<std::string> int_bits_names(bool schedule_phase = false);
bool valid_int_bits(double bits, bool schedule_phase = false);  // to 1e-9

// The surrogate table's parameter rules, applied by the project parser and the wizard alike.
struct SurrogateRules {
  std::vector<std::string> params;  // the quant.surrogate_params keys it reads
  bool on_gguf = false;             // trains on format gguf (ggml's blocks)
  bool on_fp4 = false;              // trains on mxfp4 / nvfp4 (clipped STE weight gradient)
  // Its gradient does not depend on the rounding remainder, so EASGD's up / down rounding
  // workers may use it.
  bool remainder_free = false;
  // Learns the rounding of fixed weights on a fixed INT grid of 2..8 bits: scales frozen or
  // minmax, never learned.
  bool learned_rounding = false;
};
const SurrogateRules& surrogate_rules(Surrogate s);
bool surrogate_takes(Surrogate s, const std::string& param);
// Whether `s` trains on weight format `f` (every surrogate trains on int).
bool surrogate_allowed(Surrogate s, Format f);
// The surrogates `f` trains with, in table order ("ste", "lsq", "stableqat" for gguf).
std::vector<std::string> surrogates_for(Format f);

}  // namespace qatwb::quant
