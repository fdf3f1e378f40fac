#include "ui/models/run_row.h"

#include <algorithm>
#include <filesystem>

#include "core/report/run_style.h"
#include "core/report/summary_table.h"
#include "core/run/run_dir.h"
#include "core/store/store.h"

namespace qatwb::ui {

namespace {

bool same(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

std::string param(const store::RunSummary& s, const std::string& key) {
  auto it = s.params.find(key);
  return it == s.params.end() ? std::string() : it->second;
}

double to_double(const std::string& s) {
  if (s.empty()) return NAN;
  try {
    size_t used = 0;
    double v = std::stod(s, &used);
    return used == s.size() ? v : NAN;
  } catch (...) {
    return NAN;
  }
}

}  // namespace

double RunRow::progress() const {
  if (total_steps <= 0 || last_step < 0) return NAN;
  return std::clamp(double(steps_done()) / double(total_steps), 0.0, 1.0);
}

bool RunRow::operator==(const RunRow& o) const {
  return id == o.id && name == o.name && project == o.project && surrogate == o.surrogate &&
         status == o.status && run_dir == o.run_dir && same(bits, o.bits) &&
         last_step == o.last_step && total_steps == o.total_steps && same(last_loss, o.last_loss) &&
         same(best_ppl, o.best_ppl) && colour_index == o.colour_index && tags == o.tags &&
         note == o.note;
}

std::string resolve_run_dir(const std::string& db_path, const std::string& run_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path db_dir = fs::absolute(fs::path(db_path), ec).parent_path().lexically_normal();
  const fs::path dir = fs::path(run_dir).lexically_normal();
  if (db_dir.empty() || dir.empty()) return run_dir;
  // Under the database's folder already: as stored.
  const auto rel = dir.lexically_relative(db_dir);
  if (!rel.empty() && *rel.begin() != "..") return run_dir;
  std::vector<fs::path> parts(dir.begin(), dir.end());
  while (!parts.empty() && parts.back().empty()) parts.pop_back();
  for (size_t k = std::min<size_t>(4, parts.size()); k >= 1; --k) {
    fs::path tail;
    for (size_t i = parts.size() - k; i < parts.size(); ++i) tail /= parts[i];
    const fs::path candidate = db_dir / tail;
    if (fs::is_regular_file(run::RunDir(candidate.string()).events_path(), ec))
      return candidate.string();
  }
  return run_dir;
}

std::vector<RunRow> load_run_rows(const store::Store& store) {
  std::vector<store::RunInfo> runs = store.list_runs();
  std::sort(runs.begin(), runs.end(),
            [](const store::RunInfo& a, const store::RunInfo& b) { return a.id < b.id; });
  const std::map<int64_t, int> colours = report::colour_indices(store);
  std::vector<RunRow> rows;
  rows.reserve(runs.size());
  for (const auto& info : runs) {
    const store::RunSummary s = store.run_summary(info.id);
    RunRow r;
    r.id = info.id;
    r.name = info.name;
    r.project = info.project;
    r.status = info.status;
    r.run_dir = resolve_run_dir(store.path(), info.run_dir);
    r.last_step = info.last_step;
    r.colour_index = colours.count(info.id) ? colours.at(info.id) : 0;
    r.tags = info.tags;
    r.note = info.note;
    const bool quantized = param(s, "quant.enabled") != "false";
    r.surrogate = quantized ? param(s, "quant.surrogate") : "fp";
    if (quantized) r.bits = report::scheme_bits(s.params);
    const double steps = to_double(param(s, "train.steps"));
    r.total_steps = std::isnan(steps) ? 0 : int64_t(steps);
    if (auto it = s.last_metrics.find("loss"); it != s.last_metrics.end()) r.last_loss = it->second;
    for (const auto& [step, v] : store.points(info.id, "eval/ppl_postquant")) {
      (void)step;
      if (!std::isnan(v) && (std::isnan(r.best_ppl) || v < r.best_ppl)) r.best_ppl = v;
    }
    rows.push_back(std::move(r));
  }
  return rows;
}

}  // namespace qatwb::ui
