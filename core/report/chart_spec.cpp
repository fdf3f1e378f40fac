#include "core/report/chart_spec.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "core/util/error.h"

namespace qatwb::report {

namespace {

constexpr double kNoValue = std::numeric_limits<double>::quiet_NaN();

// Tokens consumed per optimizer step from the run's flattened config; 0 when unknown.
double tokens_per_step(const std::map<std::string, std::string>& params) {
  auto num = [&](const char* key, double fallback) {
    auto it = params.find(key);
    if (it == params.end()) return fallback;
    try {
      return std::stod(it->second);
    } catch (const std::exception&) {
      return fallback;
    }
  };
  const double batch = num("train.batch_size", 0), accum = num("train.grad_accum", 1);
  const double seq = num("tokenize.seq_len", 0);
  return batch > 0 && seq > 0 ? batch * std::max(1.0, accum) * seq : 0;
}

std::string title_for(const std::string& key) {
  static const std::map<std::string, std::string> titles = {
      {"loss", "Training loss"},
      {"lr", "Learning rate"},
      {"grad_norm", "Gradient norm"},
      {"tokens_per_s", "Throughput (tokens/s)"},
      {"step_time_s", "Step time (s)"},
      {"code_flip_fraction", "Code flips per step"},
      {"eval/ppl_postquant", "Post-quantization perplexity"},
      {"eval/ppl_fakequant", "Fake-quant perplexity"},
      {"eval/ppl", "Perplexity"},
      {"eval/ppl_fp", "Full-precision perplexity"},
      {"eval/ppl_rtn", "RTN perplexity"},
  };
  auto it = titles.find(key);
  return it == titles.end() ? key : it->second;
}

}  // namespace

const EnumRow<XAxis> kXAxes[] = {{XAxis::step, "step", "step"},
                                 {XAxis::tokens, "tokens", "tokens"},
                                 {XAxis::wall_time, "wall_time", "wall time"},
                                 {XAxis::relative_time, "relative_time", "time since start (s)"}};

EnumRows<XAxis> enum_rows(XAxis) { return kXAxes; }
const char* to_string(XAxis x) { return enum_name(x); }

std::optional<XAxis> parse_x_axis(const std::string& s) {
  if (auto x = parse_enum<XAxis>(s)) return x;
  if (s == "wall") return XAxis::wall_time;
  if (s == "relative") return XAxis::relative_time;
  return std::nullopt;
}

std::string x_axis_label(XAxis x) { return enum_help(x); }

bool smoothing_applies(const std::string& key) {
  if (key.rfind("eval/", 0) == 0) return false;
  return key != "lr" && key != "tokens_per_s" && key != "step_time_s";
}

ChartSpec metric_chart(const store::Store& store, const std::vector<int64_t>& runs,
                       const std::string& key, XAxis x, int max_points) {
  ChartQuery q;
  q.x = x;
  q.max_points = max_points;
  return metric_chart(store, runs, key, q);
}

ChartSpec metric_chart(const store::Store& store, const std::vector<int64_t>& runs,
                       const std::string& key, const ChartQuery& query) {
  if (query.max_points < 1) throw Error("metric_chart: max_points must be >= 1");
  ChartSpec spec;
  spec.metric_key = key;
  spec.title = title_for(key);
  spec.x_label = x_axis_label(query.x);
  spec.y_label = key;
  spec.log_y = key.rfind("eval/ppl", 0) == 0;
  if (!smoothing_applies(key)) spec.smoothing = 0;
  std::vector<std::pair<std::string, double>> fp_lines, rtn_lines;
  const std::map<int64_t, int> colours =
      runs.empty() ? std::map<int64_t, int>{} : colour_indices(store);
  for (int64_t run : runs) {
    auto info = store.run_info(run);
    if (!info) throw Error(store.path() + ": no run with id " + std::to_string(run));
    ChartSeries s;
    s.label = info->name;
    s.run_id = run;
    s.colour_index = colours.count(run) ? colours.at(run) : 0;
    const store::RunSummary summary = store.run_summary(run);
    s.line_style = line_style_for_surrogate(run_surrogate(summary));
    double per_step = 0, t0 = info->started > 0 ? info->started : kNoValue;
    if (query.x == XAxis::tokens) per_step = tokens_per_step(summary.params);
    auto buckets = store.series(run, key, query.max_points, query.step_min, query.step_max);
    if (key == "eval/ppl_postquant" && (!query.step_min || *query.step_min <= 0) &&
        (buckets.empty() || buckets.front().step_first > 0)) {
      // Before training the post-quantization perplexity is the RTN one (step 0 logs it under
      // that name): the curve starts there.
      const auto rtn = store.points(run, "eval/ppl_rtn");
      if (!rtn.empty() && rtn.front().first == 0) {
        store::Bucket b;
        b.count = 1;
        b.min = b.max = b.last = rtn.front().second;
        b.time_last = store.first_time(run, "eval/ppl_rtn").value_or(kNoValue);
        buckets.insert(buckets.begin(), b);
      }
    }
    if (query.x == XAxis::relative_time && std::isnan(t0)) {
      // No start event: time since the first point of the series.
      if (auto t = store.first_time(run, key)) t0 = *t;
    }
    s.x.reserve(buckets.size());
    s.y.reserve(buckets.size());
    bool band = false;
    for (const auto& b : buckets) {
      double xv = static_cast<double>(b.step_last);
      switch (query.x) {
        case XAxis::step:
          break;
        case XAxis::tokens:
          xv = per_step > 0 ? xv * per_step : kNoValue;
          break;
        case XAxis::wall_time:
          xv = b.time_last;
          break;
        case XAxis::relative_time:
          xv = b.time_last - t0;
          break;
      }
      if (!std::isfinite(xv)) continue;  // a point without a time cannot be placed
      s.x.push_back(xv);
      s.y.push_back(b.last);
      s.step.push_back(static_cast<double>(b.step_last));
      s.time.push_back(b.time_last);
      s.y_min.push_back(b.min);
      s.y_max.push_back(b.max);
      band = band || b.count > 1;
    }
    if (!band) s.y_min.clear(), s.y_max.clear();
    if (spec.log_y) {
      const auto& ev = summary.eval;
      auto fp = ev.find("ppl_fp");
      auto rtn = ev.find("ppl_rtn");
      // FP / RTN are references of quantized runs (the model before QAT); an unquantized run's
      // "ppl_fp" is just its own step-0 perplexity (a random init when pretraining).
      if (fp != ev.end() && rtn != ev.end() && std::isfinite(fp->second))
        fp_lines.emplace_back(s.label, fp->second);
      if (rtn != ev.end() && std::isfinite(rtn->second))
        rtn_lines.emplace_back(s.label, rtn->second);
    }
    spec.series.push_back(std::move(s));
  }
  // Reference lines: one per distinct value; named after the run only when runs differ.
  auto add_lines = [&](const char* tag, const std::vector<std::pair<std::string, double>>& v) {
    std::set<double> seen;
    for (const auto& [run, value] : v) seen.insert(value);
    std::set<double> done;
    for (const auto& [run, value] : v) {
      if (!done.insert(value).second) continue;
      spec.reference_lines.emplace_back(seen.size() == 1 ? tag : std::string(tag) + " " + run,
                                        value);
    }
  };
  if (key != "eval/ppl_fp") add_lines("FP", fp_lines);
  if (key != "eval/ppl_rtn") add_lines("RTN", rtn_lines);
  return spec;
}

std::vector<double> smooth_ema(const std::vector<double>& y, double weight) {
  if (!(weight >= 0)) weight = 0;  // NaN too
  weight = std::min(weight, 1.0);
  std::vector<double> out(y.size());
  // A constant series (all finite values equal) is returned unchanged.
  bool constant = true;
  bool have = false;
  double first = 0;
  for (double v : y) {
    if (!std::isfinite(v)) continue;
    if (!have)
      first = v, have = true;
    else if (v != first)
      constant = false;
  }
  if (constant) return y;
  double last = 0;
  int64_t n = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    const double v = y[i];
    if (!std::isfinite(v)) {
      out[i] = v;  // passed through raw; the accumulator does not move
      continue;
    }
    last = last * weight + (1 - weight) * v;
    ++n;
    const double debias = weight == 1 ? 1 : 1 - std::pow(weight, static_cast<double>(n));
    out[i] = last / debias;
  }
  return out;
}

void rolling_mean_std(const std::vector<double>& y, int window, std::vector<double>& mean,
                      std::vector<double>& stddev) {
  window = std::max(1, window);
  mean.assign(y.size(), kNoValue);
  stddev.assign(y.size(), kNoValue);
  std::vector<double> ring;
  ring.reserve(static_cast<size_t>(window));
  size_t head = 0;
  double sum = 0, sum2 = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    const double v = y[i];
    if (std::isfinite(v)) {
      if (ring.size() < static_cast<size_t>(window)) {
        ring.push_back(v);
      } else {
        sum -= ring[head];
        sum2 -= ring[head] * ring[head];
        ring[head] = v;
        head = (head + 1) % ring.size();
      }
      sum += v;
      sum2 += v * v;
    }
    if (ring.empty()) continue;
    const double n = static_cast<double>(ring.size());
    const double m = sum / n;
    mean[i] = m;
    stddev[i] = std::sqrt(std::max(0.0, sum2 / n - m * m));
  }
}

std::optional<std::pair<double, double>> robust_range(const std::vector<double>& values, bool log_y,
                                                      double lo_q, double hi_q) {
  std::vector<double> v;
  v.reserve(values.size());
  for (double x : values)
    if (std::isfinite(x) && (!log_y || x > 0)) v.push_back(x);
  if (v.empty()) return std::nullopt;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    q = std::clamp(q, 0.0, 1.0);
    const double pos = q * static_cast<double>(v.size() - 1);
    const size_t i = static_cast<size_t>(std::floor(pos));
    const size_t j = std::min(v.size() - 1, i + 1);
    return v[i] + (v[j] - v[i]) * (pos - static_cast<double>(i));
  };
  double lo = at(lo_q), hi = at(hi_q);
  if (log_y) {
    double llo = std::log10(lo), lhi = std::log10(hi);
    double pad = lhi > llo ? 0.05 * (lhi - llo) : 0.1;
    return std::make_pair(std::pow(10.0, llo - pad), std::pow(10.0, lhi + pad));
  }
  double pad = hi > lo ? 0.05 * (hi - lo) : (lo != 0 ? 0.1 * std::abs(lo) : 1.0);
  return std::make_pair(lo - pad, hi + pad);
}

}  // namespace qatwb::report
