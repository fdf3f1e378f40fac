#include "core/train/grad_stats.h"

#include <cmath>

namespace qatwb::train {

bool GradNormStats::add(double norm) {
  // Needs a few values before a spike is meaningful.
  bool spike = values_.size() >= 8 && norm > mean() + spike_k_ * stddev();
  if (spike) ++spikes_;
  values_.push_back(norm);
  while (static_cast<int64_t>(values_.size()) > window_) values_.pop_front();
  return spike;
}

double GradNormStats::mean() const {
  if (values_.empty()) return 0.0;
  double s = 0;
  for (double v : values_) s += v;
  return s / values_.size();
}

double GradNormStats::stddev() const {
  if (values_.size() < 2) return 0.0;
  const double m = mean();
  double s = 0;
  for (double v : values_) s += (v - m) * (v - m);
  return std::sqrt(s / (values_.size() - 1));
}

nlohmann::json GradNormStats::state() const {
  return {{"values", std::vector<double>(values_.begin(), values_.end())}, {"spikes", spikes_}};
}

void GradNormStats::load_state(const nlohmann::json& j) {
  auto v = j.at("values").get<std::vector<double>>();
  values_.assign(v.begin(), v.end());
  spikes_ = j.at("spikes").get<int64_t>();
}

}  // namespace qatwb::train
