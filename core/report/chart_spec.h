// What a chart shows, independent of how it is drawn: one metric of several runs, bucketed from
// the store (min / max / last per bucket), on a chosen x axis, plus reference lines. Built here in
// plain C++ so that the GUI (ui/plot) and headless reports draw exactly the same data.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/report/run_style.h"
#include "core/store/store.h"

namespace qatwb::report {

enum class XAxis { step, tokens, wall_time, relative_time };
// Names "step", "tokens", "wall_time", "relative_time"; the description is the axis label.
EnumRows<XAxis> enum_rows(XAxis);
const char* to_string(XAxis x);
std::optional<XAxis> parse_x_axis(const std::string& s);  // also "wall", "relative"
std::string x_axis_label(XAxis x);  // "step", "tokens", "wall time", "time since start (s)"

struct ChartSeries {
  std::string label;  // run name
  int64_t run_id = 0;
  int colour_index = 0;  // the run's colour slot (run_style.h), the same in GUI and reports
  LineStyle line_style = LineStyle::solid;  // by the run's surrogate (run_style.h)
  std::vector<double> x, y;                 // y = last value of each bucket
  std::vector<double> y_min, y_max;         // bucket min/max band; empty or same size as x
  std::vector<double> step, time;           // step and unix time of each point (same size as x)
};

struct ChartSpec {
  std::string title, metric_key, x_label, y_label;
  bool log_y = false;
  double smoothing = 0.6;  // debiased EMA weight in [0, 1); 0 = none
  std::vector<ChartSeries> series;
  std::vector<std::pair<std::string, double>> reference_lines;  // e.g. {"FP", 23.1}, {"RTN", 95}
};

// One chart of metric `key` for `runs`, each series bucketed to at most `max_points` points.
ChartSpec metric_chart(const store::Store& store, const std::vector<int64_t>& runs,
                       const std::string& key, XAxis x = XAxis::step, int max_points = 2000);

// As metric_chart, restricted to steps [step_min, step_max] (rebucketing on zoom).
struct ChartQuery {
  XAxis x = XAxis::step;
  int max_points = 2000;
  std::optional<int64_t> step_min, step_max;
};
ChartSpec metric_chart(const store::Store& store, const std::vector<int64_t>& runs,
                       const std::string& key, const ChartQuery& query);

// Whether smoothing may be applied to `key`: not to evaluations (a handful of points: an EMA
// would draw values the run never had), nor to the schedule and speed (lr, tokens_per_s,
// step_time_s: smoothing flattens a learning-rate peak and hides slow steps).
bool smoothing_applies(const std::string& key);

// TensorBoard's debiased EMA (weight clamped to [0,1], constant series unchanged, NaN/Inf passed
// through raw without advancing the accumulator, value / (1 - w^n)).
std::vector<double> smooth_ema(const std::vector<double>& y, double weight);

// Rolling mean and standard deviation over the previous `window` finite values (inclusive of the
// current one), for the gradient-norm band; NaN where no finite value has been seen.
void rolling_mean_std(const std::vector<double>& y, int window, std::vector<double>& mean,
                      std::vector<double>& stddev);

// Outlier-robust y range: the [lo_q, hi_q] quantiles of the finite values (log_y: positive ones
// only), padded by 5%; nullopt when there is nothing finite.
std::optional<std::pair<double, double>> robust_range(const std::vector<double>& values,
                                                      bool log_y = false, double lo_q = 0.05,
                                                      double hi_q = 0.95);

}  // namespace qatwb::report
