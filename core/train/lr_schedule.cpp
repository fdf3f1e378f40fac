#include "core/train/lr_schedule.h"

#include <algorithm>
#include <cmath>

namespace qatwb::train {

double lr_factor(const project::ScheduleSection& schedule, int64_t step, int64_t total_steps) {
  using Kind = project::ScheduleSection::Kind;
  const int64_t warmup = std::max<int64_t>(0, schedule.warmup_steps);
  if (step < warmup) return static_cast<double>(step + 1) / static_cast<double>(warmup + 1);
  if (schedule.kind == Kind::Constant) return 1.0;
  const int64_t decay_steps = std::max<int64_t>(1, total_steps - warmup - 1);
  const double t = std::clamp(static_cast<double>(step - warmup) / decay_steps, 0.0, 1.0);
  const double floor = schedule.min_lr_ratio;
  if (schedule.kind == Kind::Linear) return floor + (1.0 - floor) * (1.0 - t);
  return floor + (1.0 - floor) * 0.5 * (1.0 + std::cos(M_PI * t));
}

}  // namespace qatwb::train
