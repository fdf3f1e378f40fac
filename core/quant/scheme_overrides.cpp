#include <algorithm>
#include <cmath>
#include <cstdio>
#include <regex>

#include "core/quant/scheme.h"

namespace qatwb::quant {
namespace {

bool matches_any(const std::vector<std::string>& patterns, const std::string& name) {
  for (const auto& p : patterns)
    if (std::regex_search(name, std::regex(p, std::regex::ECMAScript))) return true;
  return false;
}

}  // namespace

QuantScheme scheme_for_module(const QuantScheme& scheme, const std::string& module) {
  QuantScheme s = scheme;
  s.overrides.clear();
  s.enabled = scheme.enabled && (scheme.include.empty() || matches_any(scheme.include, module)) &&
              !matches_any(scheme.exclude, module);
  if (!scheme.enabled) return s;
  for (const auto& o : scheme.overrides) {
    if (!std::regex_search(module, std::regex(o.match, std::regex::ECMAScript))) continue;
    if (o.enabled) s.enabled = *o.enabled;
    if (o.format) {
      s.format = *o.format;
      if (s.format != Format::Int) s.bits = 4;
    }
    if (o.bits) s.bits = *o.bits;
    if (o.granularity) s.granularity = *o.granularity;
    if (o.group_size) s.group_size = *o.group_size;
    if (o.surrogate) s.surrogate = *o.surrogate;
  }
  return s;
}

double bits_per_weight(const QuantScheme& s, int64_t rows, int64_t cols) {
  if (!s.enabled) return 16.0;
  const double n = static_cast<double>(rows) * static_cast<double>(cols);
  if (s.format == Format::MxFp4) return 4.0 + 8.0 / 32.0;
  if (s.format == Format::NvFp4) return 4.0 + 8.0 / 16.0 + 32.0 / n;
  if (s.format == Format::Gguf) return ggml_bits_per_weight(s.gguf_type);
  const double code = s.ternary() ? std::log2(3.0) : s.bits;
  double scales = 0;
  switch (s.granularity) {
    case Granularity::PerTensor:
      scales = 1;
      break;
    case Granularity::PerChannel:
      scales = static_cast<double>(rows);
      break;
    case Granularity::PerGroup:
      scales = static_cast<double>(rows) *
               std::ceil(static_cast<double>(cols) / std::max(s.group_size, 1));
      break;
  }
  const double per_scale = s.symmetric ? 16.0 : 32.0;  // a zero point beside each scale
  return code + scales * per_scale / n;
}

ModelBits model_bits(const QuantScheme& scheme, const std::vector<LinearShape>& linears,
                     int64_t total_parameters) {
  ModelBits b;
  b.total_weights = total_parameters;
  double quantized_bits = 0;
  int64_t others = total_parameters;
  for (const auto& l : linears) {
    const QuantScheme s = scheme_for_module(scheme, l.module);
    if (!s.enabled) continue;
    const int64_t n = l.rows * l.cols;
    b.quantized_weights += n;
    others -= n;
    quantized_bits += bits_per_weight(s, l.rows, l.cols) * static_cast<double>(n);
  }
  if (b.quantized_weights > 0)
    b.quantized_bpw = quantized_bits / static_cast<double>(b.quantized_weights);
  if (total_parameters > 0)
    b.model_bpw = (quantized_bits + 16.0 * static_cast<double>(others)) /
                  static_cast<double>(total_parameters);
  return b;
}

std::string describe_module_scheme(const QuantScheme& s) {
  if (!s.enabled) return "not quantized";
  std::string out = to_string(s.format);
  if (s.format == Format::Gguf)
    return out + " " + to_string(s.gguf_type) + " " + to_string(s.surrogate);
  if (s.format == Format::Int) {
    char buf[32];
    std::snprintf(buf, sizeof buf, " %g-bit", s.bits);
    out += buf;
  }
  out += std::string(" ") + to_string(s.granularity);
  if (s.granularity == Granularity::PerGroup) out += " g" + std::to_string(s.group_size);
  return out + " " + to_string(s.surrogate);
}

}  // namespace qatwb::quant
