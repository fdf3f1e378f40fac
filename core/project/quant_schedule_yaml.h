// quant.schedule (progressive quantization) from YAML: a list of phases
//   - {until: STEP, bits: B, amplitude: A, ewgs_delta: D, ramp: step | linear}
// typed into quant::SchedulePhase with file:line errors. Used by project_yaml.cpp.
#pragma once
#include <cstdint>

#include "core/project/field_reader.h"
#include "core/quant/scheme.h"

namespace qatwb::project {

// Reads the list node `list` (quant.schedule; nullptr or null: no schedule) into q.schedule.
// Checks each phase on its own and against the scheme (format, surrogate).
void read_quant_schedule(FieldReader& r, const ConfigNode* list, quant::QuantScheme& q);

// Checks that need the rest of the project: every phase ends before train.steps (so the run
// trains and ends at quant.bits), and no bits phase under EASGD (its centre keeps the previous
// grid's scales).
void check_quant_schedule(FieldReader& r, const ConfigNode* list, const quant::QuantScheme& q,
                          int64_t train_steps, bool easgd);

}  // namespace qatwb::project
