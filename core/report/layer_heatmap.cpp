#include "core/report/layer_heatmap.h"

#include <algorithm>
#include <cctype>
#include <limits>
#include <map>

namespace qatwb::report {

bool natural_less(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  auto digit = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; };
  while (i < a.size() && j < b.size()) {
    if (digit(a[i]) && digit(b[j])) {
      size_t ie = i, je = j;
      while (ie < a.size() && digit(a[ie])) ++ie;
      while (je < b.size() && digit(b[je])) ++je;
      // Compare by value: strip leading zeros, then by length, then lexically.
      size_t is = i, js = j;
      while (is + 1 < ie && a[is] == '0') ++is;
      while (js + 1 < je && b[js] == '0') ++js;
      if (ie - is != je - js) return ie - is < je - js;
      const int c = a.compare(is, ie - is, b, js, je - js);
      if (c != 0) return c < 0;
      i = ie, j = je;
      continue;
    }
    if (a[i] != b[j]) return a[i] < b[j];
    ++i, ++j;
  }
  return a.size() - i < b.size() - j;
}

std::vector<std::string> metric_families(const std::vector<std::string>& keys) {
  std::map<std::string, int> count;
  for (const auto& k : keys) {
    const size_t slash = k.find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == k.size()) continue;
    const std::string prefix = k.substr(0, slash);
    if (prefix != "eval") ++count[prefix];
  }
  std::vector<std::string> out;
  for (const auto& [prefix, n] : count)
    if (n >= 2) out.push_back(prefix);
  return out;
}

std::vector<std::string> family_members(const std::vector<std::string>& keys,
                                        const std::string& family) {
  std::vector<std::string> out;
  const std::string prefix = family + "/";
  for (const auto& k : keys)
    if (k.size() > prefix.size() && k.compare(0, prefix.size(), prefix) == 0) out.push_back(k);
  std::sort(out.begin(), out.end(), natural_less);
  return out;
}

LayerHeatmap layer_heatmap(const store::Store& store, int64_t run, const std::string& family,
                           int max_columns) {
  LayerHeatmap h;
  h.family = family;
  h.rows = family_members(store.metric_keys(run), family);
  if (h.rows.empty()) return h;
  // The common step range, so that every member is cut at the same bucket edges.
  std::optional<int64_t> lo, hi;
  for (const auto& key : h.rows) {
    const auto pts = store.series(run, key, 1);
    for (const auto& b : pts) {
      lo = lo ? std::min(*lo, b.step_first) : b.step_first;
      hi = hi ? std::max(*hi, b.step_last) : b.step_last;
    }
  }
  if (!lo) {
    h.values.assign(h.rows.size(), {});
    return h;
  }
  std::vector<std::vector<store::Bucket>> buckets;
  for (const auto& key : h.rows)
    buckets.push_back(store.series(run, key, std::max(1, max_columns), lo, hi));
  for (const auto& b : buckets.front()) h.steps.push_back(static_cast<double>(b.step_last));
  // Columns from every member (a member may have a point where the first has none).
  for (size_t r = 1; r < buckets.size(); ++r)
    for (const auto& b : buckets[r]) h.steps.push_back(static_cast<double>(b.step_last));
  std::sort(h.steps.begin(), h.steps.end());
  h.steps.erase(std::unique(h.steps.begin(), h.steps.end()), h.steps.end());
  h.values.assign(h.rows.size(),
                  std::vector<double>(h.steps.size(), std::numeric_limits<double>::quiet_NaN()));
  for (size_t r = 0; r < buckets.size(); ++r)
    for (const auto& b : buckets[r]) {
      auto it = std::lower_bound(h.steps.begin(), h.steps.end(), static_cast<double>(b.step_last));
      h.values[r][static_cast<size_t>(it - h.steps.begin())] = b.last;
    }
  return h;
}

}  // namespace qatwb::report
