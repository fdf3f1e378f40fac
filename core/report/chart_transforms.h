// Derived views of a ChartSpec for comparing runs (the GUI's metric browser draws them): each
// run's difference to a baseline run, and runs that differ only in their seeds merged into one
// mean +- standard-deviation series. Plain C++; both work on the (step, y) points of the series.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/report/chart_spec.h"

namespace qatwb::report {

// Value of a series at `step` by linear interpolation between its points (by step); NaN outside
// the series' step range or when it has no points.
double value_at_step(const ChartSeries& s, double step);

// Every series minus the baseline run's series at the same step (interpolated where the buckets
// differ); points outside the baseline's step range are dropped, bands cleared. The baseline
// itself becomes zero. A spec without the baseline run is returned unchanged. Reference lines go
// (they are not differences); log_y is switched off (differences are signed).
ChartSpec difference_to_baseline(const ChartSpec& spec, int64_t baseline_run);

// What identifies a run's recipe apart from its seed: its flattened config without any key whose
// last component contains "seed" (train.seed, data.seed, ...), as "key=value;..." text.
std::string seed_group_key(const std::map<std::string, std::string>& params);

// Series whose runs share a group key (run_id -> key; a run without one is its own group) merged
// into one: at each point of the group's first series, the mean of the members' values there and
// a band of mean +- sample standard deviation (no band for a group of one). The merged series
// keeps the first member's run id and colour and is labelled "<first label> (mean of N)".
// Groups keep the order of their first member.
ChartSpec group_series(const ChartSpec& spec, const std::map<int64_t, std::string>& group_of_run);

}  // namespace qatwb::report
