// quant.schedule (progressive quantization): the values in force at a step.
#include <sstream>

#include "core/quant/scheme.h"
#include "core/util/strings.h"

namespace qatwb::quant {
namespace {

// The value a field takes at the first step of phase `i` (i == size: the scheme's own).
double phase_value(const QuantScheme& q, size_t i, std::optional<double> SchedulePhase::*field,
                   double own) {
  if (i >= q.schedule.size()) return own;
  const auto& v = q.schedule[i].*field;
  return v ? *v : own;
}

double value_at(const QuantScheme& q, size_t i, int64_t step,
                std::optional<double> SchedulePhase::*field, double own) {
  const SchedulePhase& p = q.schedule[i];
  const double here = phase_value(q, i, field, own);
  if (!p.linear || !(p.*field)) return here;
  const int64_t start = i == 0 ? 0 : q.schedule[i - 1].until;
  const double target = phase_value(q, i + 1, field, own);
  const double f = static_cast<double>(step - start) / static_cast<double>(p.until - start);
  return here + (target - here) * f;
}

}  // namespace

ScheduledValues scheduled_values(const QuantScheme& q, int64_t step) {
  ScheduledValues v;
  v.bits = q.bits;
  v.amplitude = q.params.amplitude;
  v.ewgs_delta = q.params.ewgs_delta;
  for (size_t i = 0; i < q.schedule.size(); ++i) {
    if (step >= q.schedule[i].until) continue;
    v.phase = static_cast<int>(i);
    v.bits = phase_value(q, i, &SchedulePhase::bits, q.bits);
    v.amplitude = value_at(q, i, step, &SchedulePhase::amplitude, q.params.amplitude);
    v.ewgs_delta = value_at(q, i, step, &SchedulePhase::ewgs_delta, q.params.ewgs_delta);
    break;
  }
  return v;
}

std::string describe_schedule(const QuantScheme& q) {
  if (q.schedule.empty()) return "";
  std::ostringstream os;
  int64_t start = 0;
  for (const auto& p : q.schedule) {
    os << "steps " << start << "-" << p.until - 1 << ":";
    if (p.bits) os << " " << number_text(*p.bits) << " bits";
    const char* ramp = p.linear ? " ramped" : "";
    if (p.amplitude) os << " amplitude " << number_text(*p.amplitude) << ramp;
    if (p.ewgs_delta) os << " ewgs_delta " << number_text(*p.ewgs_delta) << ramp;
    os << "; ";
    start = p.until;
  }
  os << "from step " << start << ": the scheme (" << number_text(q.bits) << " bits)";
  return os.str();
}

}  // namespace qatwb::quant
