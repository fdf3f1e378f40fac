#include "core/report/chart_transforms.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace qatwb::report {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

const std::vector<double>& steps_of(const ChartSeries& s) { return s.step.empty() ? s.x : s.step; }
}  // namespace

double value_at_step(const ChartSeries& s, double step) {
  const auto& st = steps_of(s);
  const size_t n = std::min(st.size(), s.y.size());
  if (n == 0 || step < st[0] || step > st[n - 1]) return kNaN;
  auto it = std::lower_bound(st.begin(), st.begin() + static_cast<std::ptrdiff_t>(n), step);
  const size_t j = static_cast<size_t>(it - st.begin());
  if (st[j] == step) return s.y[j];
  const size_t i = j - 1;  // st[i] < step < st[j]
  const double t = (step - st[i]) / (st[j] - st[i]);
  return s.y[i] + t * (s.y[j] - s.y[i]);
}

ChartSpec difference_to_baseline(const ChartSpec& spec, int64_t baseline_run) {
  const ChartSeries* base = nullptr;
  for (const auto& s : spec.series)
    if (s.run_id == baseline_run) base = &s;
  if (!base) return spec;
  ChartSpec out = spec;
  out.title = spec.title + " \u2212 " + base->label;
  out.y_label = "\u0394 " + spec.y_label;
  out.log_y = false;
  out.reference_lines.clear();
  out.series.clear();
  for (const auto& s : spec.series) {
    ChartSeries d;
    d.label = s.label;
    d.run_id = s.run_id;
    d.colour_index = s.colour_index;
    d.line_style = s.line_style;
    const auto& st = steps_of(s);
    for (size_t i = 0; i < s.y.size() && i < st.size() && i < s.x.size(); ++i) {
      const double b = value_at_step(*base, st[i]);
      if (std::isnan(b)) continue;
      d.x.push_back(s.x[i]);
      d.y.push_back(s.y[i] - b);
      d.step.push_back(st[i]);
      if (i < s.time.size()) d.time.push_back(s.time[i]);
    }
    if (d.time.size() != d.x.size()) d.time.clear();
    out.series.push_back(std::move(d));
  }
  return out;
}

std::string seed_group_key(const std::map<std::string, std::string>& params) {
  std::string key;
  for (const auto& [k, v] : params) {
    const size_t dot = k.find_last_of('.');
    const std::string last = dot == std::string::npos ? k : k.substr(dot + 1);
    if (last.find("seed") != std::string::npos) continue;
    key += k + "=" + v + ";";
  }
  return key;
}

ChartSpec group_series(const ChartSpec& spec, const std::map<int64_t, std::string>& group_of_run) {
  ChartSpec out = spec;
  out.series.clear();
  std::vector<std::vector<const ChartSeries*>> groups;
  std::vector<std::string> keys;
  for (const auto& s : spec.series) {
    auto it = group_of_run.find(s.run_id);
    const std::string key =
        it == group_of_run.end() ? "#run" + std::to_string(s.run_id) : it->second;
    auto k = std::find(keys.begin(), keys.end(), key);
    if (k == keys.end()) {
      keys.push_back(key);
      groups.push_back({&s});
    } else {
      groups[static_cast<size_t>(k - keys.begin())].push_back(&s);
    }
  }
  for (const auto& members : groups) {
    const ChartSeries& first = *members.front();
    if (members.size() == 1) {
      out.series.push_back(first);
      continue;
    }
    ChartSeries m;
    m.label = first.label + " (mean of " + std::to_string(members.size()) + ")";
    m.run_id = first.run_id;
    m.colour_index = first.colour_index;
    m.line_style = first.line_style;
    const auto& st = steps_of(first);
    for (size_t i = 0; i < first.x.size() && i < st.size() && i < first.y.size(); ++i) {
      double sum = 0;
      std::vector<double> v;
      for (const ChartSeries* s : members) {
        const double y = s == &first ? first.y[i] : value_at_step(*s, st[i]);
        if (!std::isfinite(y)) continue;
        v.push_back(y);
        sum += y;
      }
      if (v.empty()) continue;
      const double mean = sum / static_cast<double>(v.size());
      double ss = 0;
      for (double y : v) ss += (y - mean) * (y - mean);
      const double sd = v.size() > 1 ? std::sqrt(ss / static_cast<double>(v.size() - 1)) : 0.0;
      m.x.push_back(first.x[i]);
      m.y.push_back(mean);
      m.y_min.push_back(mean - sd);
      m.y_max.push_back(mean + sd);
      m.step.push_back(st[i]);
      if (i < first.time.size()) m.time.push_back(first.time[i]);
    }
    if (m.time.size() != m.x.size()) m.time.clear();
    out.series.push_back(std::move(m));
  }
  return out;
}

}  // namespace qatwb::report
