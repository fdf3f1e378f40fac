// Learning-rate schedules: linear warmup, then constant, cosine or linear decay to
// lr * min_lr_ratio at the last step.
#pragma once
#include <cstdint>

#include "core/project/project_config.h"

namespace qatwb::train {

// Multiplier of the base learning rate for optimizer step `step` (0-based) of `total_steps`.
double lr_factor(const project::ScheduleSection& schedule, int64_t step, int64_t total_steps);

}  // namespace qatwb::train
