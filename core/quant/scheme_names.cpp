// The quantization enums' tables: YAML spelling and one-line description of each value (the
// parser's "expected one of" lists, the emitter, `qatwb project choices`, the wizard's combo
// boxes and tooltips), and the surrogate table's parameter rules.
#include <algorithm>
#include <cmath>
#include <utility>

#include "core/quant/scheme.h"

namespace qatwb::quant {
namespace {

const EnumRow<Format> kFormats[] = {
    {Format::Int, "int", "integer grid of quant.bits (1, 1.58 ternary, 2, 3, 4, 8)"},
    {Format::MxFp4, "mxfp4", "OCP MX FP4 (E2M1) with an 8-bit shared exponent per 32 values"},
    {Format::NvFp4, "nvfp4", "NVIDIA FP4 (E2M1) with an FP8 scale per 16 values"},
    {Format::Gguf, "gguf", "one of llama.cpp's ggml block types (gguf_type), exported as is"}};

const EnumRow<Granularity> kGranularities[] = {
    {Granularity::PerTensor, "per_tensor", "one scale for the whole weight"},
    {Granularity::PerChannel, "per_channel", "one scale per output row"},
    {Granularity::PerGroup, "per_group", "one scale per group_size inputs of a row"}};

const EnumRow<ScaleMode> kScaleModes[] = {
    {ScaleMode::MinMax, "minmax", "s = max|w|/Qp recomputed every forward (not learned)"},
    {ScaleMode::Learned, "learned", "initialised by scale_init, then learned (LSQ's gradient)"},
    {ScaleMode::Frozen, "frozen", "computed once by scale_init, then fixed"}};

const EnumRow<ScaleInit> kScaleInits[] = {
    {ScaleInit::Auto, "auto", "max|w|/Qp, but max|w|/2 at 2 bits (level -2 reachable)"},
    {ScaleInit::StableQat, "stableqat", "StableQAT's max|w|/Qp (max|w| at 2 bits)"},
    {ScaleInit::MaxOverQp, "max_over_qp", "max|w|/Qp"},
    {ScaleInit::MaxOverQn, "max_over_qn", "max|w|/|Qn|"},
    {ScaleInit::MaxAbs, "max_abs", "max|w|"},
    {ScaleInit::MeanAbs, "mean_abs", "mean|w|"},
    {ScaleInit::Lsq, "lsq", "LSQ's 2 mean|w|/sqrt(Qp)"},
    {ScaleInit::MseSearch, "mse", "the scale of least squared error, searched per row or group"}};

const EnumRow<Surrogate> kSurrogates[] = {
    {Surrogate::Ste, "ste",
     "Straight-through estimator: rounding passes the gradient unchanged (the baseline)."},
    {Surrogate::StableQat, "stableqat",
     "StableQAT: a Fourier-series surrogate of rounding (amplitude A, order M) gives a smooth, "
     "bounded gradient."},
    {Surrogate::Dsq, "dsq",
     "DSQ: a tanh soft quantizer whose sharpness alpha is learned per layer, approaching hard "
     "rounding; the scale gradient goes through the soft quantizer (chain, as StableQAT's DSQ "
     "baseline) or is LSQ's."},
    {Surrogate::Lsq, "lsq",
     "LSQ: STE for weights plus a learned step size with a scaled gradient."},
    {Surrogate::Pact, "pact",
     "PACT: the Linear inputs are clipped to [-alpha, alpha] (alpha learned) and quantized; "
     "weights use STE."},
    {Surrogate::ParetoQ, "paretoq",
     "ParetoQ: stretched elastic quantization grids for low bit-widths (ternary, 2-bit)."},
    {Surrogate::Ewgs, "ewgs",
     "EWGS: scales the STE gradient by the rounding error in the paper's normalised [0, 1] units "
     "(delta; 0 is STE)."},
    {Surrogate::AdaRound, "adaround",
     "AdaRound: learns for each weight whether it rounds up or down (a rectified sigmoid pushed "
     "to 0/1 by an annealed regulariser); weights and scales stay fixed, so the scale is "
     "frozen."}};

const EnumRow<Rounding> kRoundings[] = {
    {Rounding::Nearest, "nearest", "to nearest, half to even"},
    {Rounding::Up, "up", "up (ceil): SupportiveQAT's UP worker"},
    {Rounding::Down, "down", "down (floor): SupportiveQAT's DOWN worker"}};

const EnumRow<DsqScaleGrad> kDsqScaleGrads[] = {
    {DsqScaleGrad::Chain, "chain", "through the soft quantizer, Q(v) - v G(v)"},
    {DsqScaleGrad::Lsq, "lsq", "LSQ's round(v) - v"}};

const EnumRow<ActivationQuant::Kind> kActivationKinds[] = {
    {ActivationQuant::Kind::None, "none",
     "weights only (PACT as the surrogate still clips inputs)"},
    {ActivationQuant::Kind::Int8PerToken, "int8_per_token", "dynamic per-token int8"},
    {ActivationQuant::Kind::Pact, "pact", "learned clip alpha per Linear, then activations.bits"}};

struct IntBits {
  double bits;
  const char* name;
  bool schedule_phase;
};
const IntBits kIntBits[] = {{1.0, "1", false}, {1.58, "1.58", false}, {2.0, "2", true},
                            {3.0, "3", true},  {4.0, "4", true},      {8.0, "8", true}};

// The surrogate table's rules. Columns: the quant.surrogate_params keys it reads; trains on
// gguf; trains on mxfp4 / nvfp4; remainder-free (EASGD's up / down rounding); learned rounding.
const SurrogateRules& rules_of(Surrogate s) {
  static const std::pair<Surrogate, SurrogateRules> kSurrogateRules[] = {
      {Surrogate::Ste, {{}, true, true, true, false}},
      {Surrogate::StableQat, {{"amplitude", "fourier_order"}, true, false, false, false}},
      {Surrogate::Dsq, {{"alpha", "learn_alpha", "scale_grad"}, false, false, false, false}},
      {Surrogate::Lsq, {{}, true, true, true, false}},
      {Surrogate::Pact, {{}, false, true, true, false}},
      {Surrogate::ParetoQ, {{}, false, true, false, false}},
      {Surrogate::Ewgs, {{"delta"}, false, false, false, false}},
      {Surrogate::AdaRound,
       {{"reg_weight", "beta_start", "beta_end", "reg_warmup"}, false, false, false, true}}};
  for (const auto& [value, rules] : kSurrogateRules)
    if (value == s) return rules;
  static const SurrogateRules none;
  return none;
}

}  // namespace

EnumRows<Format> enum_rows(Format) { return kFormats; }
EnumRows<Granularity> enum_rows(Granularity) { return kGranularities; }
EnumRows<ScaleMode> enum_rows(ScaleMode) { return kScaleModes; }
EnumRows<ScaleInit> enum_rows(ScaleInit) { return kScaleInits; }
EnumRows<Surrogate> enum_rows(Surrogate) { return kSurrogates; }
EnumRows<Rounding> enum_rows(Rounding) { return kRoundings; }
EnumRows<DsqScaleGrad> enum_rows(DsqScaleGrad) { return kDsqScaleGrads; }
EnumRows<ActivationQuant::Kind> enum_rows(ActivationQuant::Kind) { return kActivationKinds; }

const char* to_string(Format f) { return enum_name(f); }
const char* to_string(Granularity g) { return enum_name(g); }
const char* to_string(ScaleMode m) { return enum_name(m); }
const char* to_string(ScaleInit i) { return enum_name(i); }
const char* to_string(Surrogate s) { return enum_name(s); }
const char* to_string(Rounding r) { return enum_name(r); }
const char* to_string(DsqScaleGrad g) { return enum_name(g); }
const char* to_string(ActivationQuant::Kind k) { return enum_name(k); }

std::vector<std::string> int_bits_names(bool schedule_phase) {
  std::vector<std::string> out;
  for (const auto& b : kIntBits)
    if (b.schedule_phase || !schedule_phase) out.emplace_back(b.name);
  return out;
}

bool valid_int_bits(double bits, bool schedule_phase) {
  for (const auto& b : kIntBits)
    if ((b.schedule_phase || !schedule_phase) && std::fabs(bits - b.bits) < 1e-9) return true;
  return false;
}

const SurrogateRules& surrogate_rules(Surrogate s) { return rules_of(s); }

bool surrogate_takes(Surrogate s, const std::string& param) {
  const auto& p = rules_of(s).params;
  return std::find(p.begin(), p.end(), param) != p.end();
}

bool surrogate_allowed(Surrogate s, Format f) {
  switch (f) {
    case Format::Int:
      return true;
    case Format::Gguf:
      return rules_of(s).on_gguf;
    case Format::MxFp4:
    case Format::NvFp4:
      return rules_of(s).on_fp4;
  }
  return false;
}

std::vector<std::string> surrogates_for(Format f) {
  return enum_names_where<Surrogate>([f](Surrogate s) { return surrogate_allowed(s, f); });
}

}  // namespace qatwb::quant
