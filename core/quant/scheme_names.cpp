#include "core/quant/scheme.h"

#include <utility>

namespace qatwb::quant {
namespace {

template <typename E, size_t N>
const char* name_of(const std::pair<E, const char*> (&table)[N], E value) {
  for (const auto& [e, n] : table)
    if (e == value) return n;
  return "?";
}

template <typename E, size_t N>
bool value_of(const std::pair<E, const char*> (&table)[N], const std::string& s, E& out) {
  for (const auto& [e, n] : table)
    if (s == n) {
      out = e;
      return true;
    }
  return false;
}

const std::pair<Format, const char*> kFormats[] = {
    {Format::Int, "int"}, {Format::MxFp4, "mxfp4"}, {Format::NvFp4, "nvfp4"}, {Format::Gguf, "gguf"}};
const std::pair<Granularity, const char*> kGranularities[] = {
    {Granularity::PerTensor, "per_tensor"},
    {Granularity::PerChannel, "per_channel"},
    {Granularity::PerGroup, "per_group"}};
const std::pair<ScaleMode, const char*> kScaleModes[] = {
    {ScaleMode::MinMax, "minmax"}, {ScaleMode::Learned, "learned"}, {ScaleMode::Frozen, "frozen"}};
const std::pair<ScaleInit, const char*> kScaleInits[] = {{ScaleInit::Auto, "auto"},
                                                         {ScaleInit::StableQat, "stableqat"},
                                                         {ScaleInit::MaxOverQp, "max_over_qp"},
                                                         {ScaleInit::MaxOverQn, "max_over_qn"},
                                                         {ScaleInit::MaxAbs, "max_abs"},
                                                         {ScaleInit::MeanAbs, "mean_abs"},
                                                         {ScaleInit::Lsq, "lsq"},
                                                         {ScaleInit::MseSearch, "mse"}};
const std::pair<Surrogate, const char*> kSurrogates[] = {
    {Surrogate::Ste, "ste"},   {Surrogate::StableQat, "stableqat"}, {Surrogate::Dsq, "dsq"},
    {Surrogate::Lsq, "lsq"},   {Surrogate::Pact, "pact"},           {Surrogate::ParetoQ, "paretoq"},
    {Surrogate::Ewgs, "ewgs"}, {Surrogate::AdaRound, "adaround"}};
const std::pair<Rounding, const char*> kRoundings[] = {
    {Rounding::Nearest, "nearest"}, {Rounding::Up, "up"}, {Rounding::Down, "down"}};
const std::pair<DsqScaleGrad, const char*> kDsqScaleGrads[] = {{DsqScaleGrad::Chain, "chain"},
                                                               {DsqScaleGrad::Lsq, "lsq"}};

}  // namespace

const char* to_string(Format f) { return name_of(kFormats, f); }
const char* to_string(Granularity g) { return name_of(kGranularities, g); }
const char* to_string(ScaleMode m) { return name_of(kScaleModes, m); }
const char* to_string(ScaleInit i) { return name_of(kScaleInits, i); }
const char* to_string(Surrogate s) { return name_of(kSurrogates, s); }
const char* to_string(Rounding r) { return name_of(kRoundings, r); }
const char* to_string(DsqScaleGrad g) { return name_of(kDsqScaleGrads, g); }
bool parse(const std::string& s, Format& out) { return value_of(kFormats, s, out); }
bool parse(const std::string& s, Granularity& out) { return value_of(kGranularities, s, out); }
bool parse(const std::string& s, ScaleMode& out) { return value_of(kScaleModes, s, out); }
bool parse(const std::string& s, ScaleInit& out) { return value_of(kScaleInits, s, out); }
bool parse(const std::string& s, Surrogate& out) { return value_of(kSurrogates, s, out); }
bool parse(const std::string& s, Rounding& out) { return value_of(kRoundings, s, out); }
bool parse(const std::string& s, DsqScaleGrad& out) { return value_of(kDsqScaleGrads, s, out); }

}  // namespace qatwb::quant
