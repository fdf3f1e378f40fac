#include "core/report/run_style.h"

#include <algorithm>
#include <cstdio>
#include <limits>

#include "core/quant/scheme.h"
#include "core/store/store.h"

namespace qatwb::report {

const std::vector<Rgb>& run_palette() {
  static const std::vector<Rgb> palette = {
      {0, 114, 178},   {230, 159, 0},  {0, 158, 115},   {204, 121, 167}, {86, 180, 233},
      {213, 94, 0},    {68, 119, 170}, {238, 102, 119}, {34, 136, 51},   {204, 187, 68},
      {102, 204, 238}, {170, 51, 119}, {100, 100, 100}};
  return palette;
}

Rgb palette_colour(int colour_index) {
  const auto& p = run_palette();
  const int n = static_cast<int>(p.size());
  return p[static_cast<size_t>(((colour_index % n) + n) % n)];
}

std::string hex(Rgb c) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", c.r & 255, c.g & 255, c.b & 255);
  return buf;
}

namespace {
const EnumRow<LineStyle> kLineStyles[] = {
    {LineStyle::solid, "solid", "solid line"},
    {LineStyle::dash, "dash", "dashes"},
    {LineStyle::dot, "dot", "dots"},
    {LineStyle::dash_dot, "dash-dot", "dash, dot"},
    {LineStyle::dash_dot_dot, "dash-dot-dot", "dash, dot, dot"},
    {LineStyle::long_dash, "long dash", "long dashes"},
    {LineStyle::short_dash, "short dash", "short dashes"}};
}  // namespace

EnumRows<LineStyle> enum_rows(LineStyle) { return kLineStyles; }
const char* to_string(LineStyle s) { return enum_name(s); }

LineStyle line_style_for_surrogate(const std::string& surrogate) {
  using quant::Surrogate;
  const auto s = parse_enum<Surrogate>(surrogate);
  if (!s) return LineStyle::solid;  // "fp" (quantization off), or a name of another version
  switch (*s) {
    case Surrogate::Ste:
      return LineStyle::solid;
    case Surrogate::StableQat:
      return LineStyle::dash;
    case Surrogate::Dsq:
      return LineStyle::dot;
    case Surrogate::Lsq:
    case Surrogate::AdaRound:
      return LineStyle::dash_dot;
    case Surrogate::Pact:
      return LineStyle::dash_dot_dot;
    case Surrogate::ParetoQ:
      return LineStyle::long_dash;
    case Surrogate::Ewgs:
      return LineStyle::short_dash;
  }
  return LineStyle::solid;
}

std::vector<double> dash_pattern(LineStyle s) {
  switch (s) {
    case LineStyle::solid:
      return {};
    case LineStyle::dash:
      return {6, 3};
    case LineStyle::dot:
      return {1, 2};
    case LineStyle::dash_dot:
      return {6, 2, 1, 2};
    case LineStyle::dash_dot_dot:
      return {6, 2, 1, 2, 1, 2};
    case LineStyle::long_dash:
      return {12, 4};
    case LineStyle::short_dash:
      return {3, 3};
  }
  return {};
}

std::string run_surrogate(const store::RunSummary& summary) {
  auto get = [&](const char* key) {
    auto it = summary.params.find(key);
    std::string v = it == summary.params.end() ? std::string() : it->second;
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    return v;
  };
  const std::string s = get("quant.surrogate");
  if (get("quant.enabled") == "false" || s.empty()) return "fp";
  return s;
}

std::map<int64_t, int> colour_indices(const store::Store& store) {
  std::vector<store::RunInfo> runs = store.list_runs();
  std::sort(runs.begin(), runs.end(), [](const store::RunInfo& a, const store::RunInfo& b) {
    const double ta = a.started > 0 ? a.started : std::numeric_limits<double>::infinity();
    const double tb = b.started > 0 ? b.started : std::numeric_limits<double>::infinity();
    if (ta != tb) return ta < tb;
    if (a.name != b.name) return a.name < b.name;
    return a.id < b.id;
  });
  std::map<int64_t, int> out;
  for (size_t i = 0; i < runs.size(); ++i) out[runs[i].id] = static_cast<int>(i);
  return out;
}

RunStyle run_style(const store::Store& store, int64_t run) {
  RunStyle s;
  const auto slots = colour_indices(store);
  auto it = slots.find(run);
  s.colour_index = it == slots.end() ? 0 : it->second;
  s.colour = palette_colour(s.colour_index);
  if (store.run_info(run)) s.line = line_style_for_surrogate(run_surrogate(store.run_summary(run)));
  return s;
}

}  // namespace qatwb::report
