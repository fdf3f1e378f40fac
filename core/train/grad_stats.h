// Gradient-norm stability: a rolling window of global gradient norms, its mean and standard
// deviation, and the count of spikes (a norm above mean + k * std of the window before it).
#pragma once
#include <cstdint>
#include <deque>

#include <nlohmann/json.hpp>

namespace qatwb::train {

class GradNormStats {
 public:
  GradNormStats(int64_t window, double spike_k) : window_(window), spike_k_(spike_k) {}
  // Records one finite norm; returns true if it was a spike relative to the window before it.
  bool add(double norm);
  double mean() const;
  double stddev() const;
  int64_t spikes() const { return spikes_; }

  nlohmann::json state() const;
  void load_state(const nlohmann::json& j);

 private:
  int64_t window_;
  double spike_k_;
  std::deque<double> values_;
  int64_t spikes_ = 0;
};

}  // namespace qatwb::train
