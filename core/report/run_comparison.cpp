#include "core/report/run_comparison.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <filesystem>

#include "core/project/project_yaml.h"
#include "core/run/event_log.h"
#include "core/run/run_dir.h"
#include "core/util/error.h"

namespace qatwb::report {
namespace {

std::string fmt(double v, const char* spec = "%.2f") {
  if (v < 0) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, spec, v);
  return buf;
}

std::string pct(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

void describe_scheme(const std::string& config_json, RunResult& r) {
  try {
    const auto c = nlohmann::json::parse(config_json);
    if (!c.contains("quant")) return;
    const auto& q = c["quant"];
    if (!q.value("enabled", true)) return;
    r.surrogate = q.value("surrogate", "");
    std::string bits = "?";
    if (q.contains("bits") && q["bits"].is_number()) {
      char buf[16];
      std::snprintf(buf, sizeof buf, "%g", q["bits"].get<double>());  // 2, 1.58
      bits = buf;
    }
    r.scheme = q.value("format", "int") + " W" + bits + " " + q.value("granularity", "");
    if (q.value("granularity", "") == "per_group" && q.contains("group_size"))
      r.scheme += " g" + q["group_size"].dump();
  } catch (const std::exception&) {
  }
}

}  // namespace

double RunResult::recovery() const {
  if (ppl_fp < 0 || ppl_rtn < 0 || ppl_qat < 0 || ppl_rtn == ppl_fp)
    return std::numeric_limits<double>::quiet_NaN();
  return (ppl_rtn - ppl_qat) / (ppl_rtn - ppl_fp);
}

RunResult read_run_result(const std::string& run_dir) {
  run::RunDir rd(run_dir);
  if (!std::filesystem::exists(rd.events_path()))
    throw Error(rd.events_path() + ": no event log (is this a run directory?)");
  RunResult r;
  r.run_dir = run_dir;
  r.status = "running";
  std::vector<run::LogLine> lines;
  for (int64_t offset = 0;;) {
    const size_t before = lines.size();
    offset = run::read_complete_lines(rd.events_path(), offset, lines);
    if (lines.size() == before) break;
  }
  for (const auto& line : lines) {
    auto ev = run::parse_event_line(line.text);
    if (!ev) continue;
    switch (ev->type) {
      case run::EventType::Start:
        r.project = ev->start.project;
        describe_scheme(ev->start.config_json, r);
        break;
      case run::EventType::Metric:
        if (ev->step) r.steps = std::max(r.steps, *ev->step + 1);
        if (auto it = ev->values.find("loss"); it != ev->values.end()) r.final_loss = it->second;
        break;
      case run::EventType::Eval:
        for (const auto& [k, v] : ev->values) {
          if (k == "ppl_fp") r.ppl_fp = v;
          if (k == "ppl_rtn") r.ppl_rtn = v;
          if (k == "ppl_postquant") r.ppl_qat = v;
        }
        break;
      case run::EventType::End:
        r.status = ev->status;
        break;
      default:
        break;
    }
  }
  return r;
}

std::string format_comparison(const std::vector<RunResult>& runs) {
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line, "%-28s %-10s %-22s %-9s %6s %10s %10s %10s %9s\n", "run",
                "surrogate", "scheme", "status", "steps", "FP ppl", "RTN ppl", "QAT ppl",
                "recovery");
  out += line;
  for (const auto& r : runs) {
    const std::string name = r.project.empty()
                                 ? std::filesystem::path(r.run_dir).filename().string()
                                 : r.project;
    const double rec = r.recovery();
    std::snprintf(line, sizeof line, "%-28s %-10s %-22s %-9s %6lld %10s %10s %10s %9s\n",
                  name.c_str(), r.surrogate.empty() ? "-" : r.surrogate.c_str(),
                  r.scheme.empty() ? "fp" : r.scheme.c_str(), r.status.c_str(),
                  static_cast<long long>(r.steps), fmt(r.ppl_fp).c_str(), fmt(r.ppl_rtn).c_str(),
                  fmt(r.ppl_qat).c_str(),
                  std::isnan(rec) ? "-" : (pct(100.0 * rec) + "%").c_str());
    out += line;
  }
  return out;
}

nlohmann::json comparison_json(const std::vector<RunResult>& runs) {
  nlohmann::json arr = nlohmann::json::array();
  auto num = [](double v) { return v < 0 ? nlohmann::json(nullptr) : nlohmann::json(v); };
  for (const auto& r : runs)
    arr.push_back({{"run_dir", r.run_dir},
                   {"project", r.project},
                   {"surrogate", r.surrogate},
                   {"scheme", r.scheme},
                   {"status", r.status},
                   {"steps", r.steps},
                   {"ppl_fp", num(r.ppl_fp)},
                   {"ppl_rtn", num(r.ppl_rtn)},
                   {"ppl_qat", num(r.ppl_qat)},
                   {"recovery", std::isnan(r.recovery()) ? nlohmann::json(nullptr)
                                                         : nlohmann::json(r.recovery())},
                   {"final_loss", num(r.final_loss)}});
  return arr;
}

}  // namespace qatwb::report
