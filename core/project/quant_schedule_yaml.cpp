#include "core/project/quant_schedule_yaml.h"

#include <cmath>

namespace qatwb::project {
namespace {

bool uses(const quant::QuantScheme& q, quant::Surrogate s) {
  if (q.surrogate == s) return true;
  for (const auto& o : q.overrides)
    if (o.surrogate && *o.surrogate == s) return true;
  return false;
}

}  // namespace

void read_quant_schedule(FieldReader& r, const ConfigNode* list, quant::QuantScheme& q) {
  if (!list || list->kind == ConfigNode::Kind::Null) return;
  if (list->kind != ConfigNode::Kind::Sequence) {
    r.error(list->origin, "quant.schedule",
            "expected a list of phases {until: STEP, bits, amplitude, ewgs_delta, ramp}, got " +
                list->describe());
    return;
  }
  int64_t previous = 0;
  for (size_t i = 0; i < list->items.size(); ++i) {
    const ConfigNode& item = list->items[i];
    const std::string F = "quant.schedule[" + std::to_string(i) + "]";
    if (!item.is_map()) {
      r.error(item.origin, F, "expected a map {until: STEP, bits, ...}, got " + item.describe());
      continue;
    }
    r.check_keys(item, F, {"until", "bits", "amplitude", "ewgs_delta", "ramp"});
    quant::SchedulePhase p;
    auto* until = r.read_int(&item, "until", F, p.until);
    if (!until) {
      r.error(item.origin, F + ".until", "is required: the step this phase ends before");
    } else if (p.until <= previous) {
      r.error(until->origin, F + ".until",
              "must be greater than " + std::to_string(previous) +
                  (i ? " (the previous phase's until)" : "") + ", got " + until->scalar);
    }
    double bits = 0;
    if (auto* n = r.read_number(&item, "bits", F, bits)) {
      const bool ok = quant::valid_int_bits(bits, /*schedule_phase=*/true);
      if (q.format != quant::Format::Int)
        r.error(n->origin, F + ".bits",
                std::string("changes the INT grid's bits; format ") + quant::to_string(q.format) +
                    " is 4-bit by definition");
      else if (!ok)
        r.error(n->origin, F + ".bits",
                "expected one of " + join_names(quant::int_bits_names(true)) +
                    " (an INT grid), got " + n->describe());
      else
        p.bits = bits;
    }
    double a = 0;
    const double a_max = 1.0 / (std::sqrt(2.0) * M_PI);
    if (auto* n = r.read_number(&item, "amplitude", F, a)) {
      if (!(a >= 0 && a < a_max))
        r.error(n->origin, F + ".amplitude",
                "must be in [0, 1/(sqrt2*pi) = 0.2251), got " + n->scalar);
      else if (!uses(q, quant::Surrogate::StableQat))
        r.error(n->origin, F + ".amplitude",
                "is StableQAT's amplitude; no module uses surrogate stableqat");
      else
        p.amplitude = a;
    }
    double d = 0;
    if (auto* n = r.read_number(&item, "ewgs_delta", F, d)) {
      if (!(d >= 0))
        r.error(n->origin, F + ".ewgs_delta", "must be >= 0 (0 is STE), got " + n->scalar);
      else if (!uses(q, quant::Surrogate::Ewgs))
        r.error(n->origin, F + ".ewgs_delta", "is EWGS's delta; no module uses surrogate ewgs");
      else
        p.ewgs_delta = d;
    }
    std::string ramp;
    if (auto* n = r.read_choice(&item, "ramp", F, {"step", "linear"}, ramp)) {
      p.linear = ramp == "linear";
      if (p.linear && !item.find("amplitude") && !item.find("ewgs_delta"))
        r.error(n->origin, F + ".ramp",
                "linear ramps amplitude or ewgs_delta (bits change in steps); set one of them");
    }
    if (!item.find("bits") && !item.find("amplitude") && !item.find("ewgs_delta"))
      r.error(item.origin, F, "sets nothing: give bits, amplitude or ewgs_delta");
    if (p.until > previous) previous = p.until;
    q.schedule.push_back(p);
  }
}

void check_quant_schedule(FieldReader& r, const ConfigNode* list, const quant::QuantScheme& q,
                          int64_t train_steps, bool easgd) {
  if (!list || q.schedule.empty() || list->items.size() != q.schedule.size()) return;
  const size_t last = q.schedule.size() - 1;
  const ConfigNode& item = list->items[last];
  if (q.schedule[last].until >= train_steps) {
    const ConfigNode* at = item.find("until");
    r.error((at ? at : &item)->origin, "quant.schedule[" + std::to_string(last) + "].until",
            "must be below train.steps " + std::to_string(train_steps) +
                ": the run must train (and end) at the scheme itself, which evaluation and "
                "export use, got " +
                std::to_string(q.schedule[last].until));
  }
  if (!easgd) return;
  for (size_t i = 0; i < q.schedule.size(); ++i)
    if (q.schedule[i].bits)
      r.error(list->items[i].origin, "quant.schedule[" + std::to_string(i) + "].bits",
              "a bits schedule does not combine with easgd (the centre keeps the previous "
              "grid's scales)");
}

}  // namespace qatwb::project
