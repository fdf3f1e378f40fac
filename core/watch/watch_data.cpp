#include "core/watch/watch_data.h"

#include <cmath>
#include <filesystem>
#include <map>

#include "core/report/run_style.h"
#include "core/util/error.h"

namespace qatwb::watch {

void ingest_active_runs(store::Store& store, const std::vector<int64_t>& runs) {
  for (int64_t id : runs) {
    auto info = store.run_info(id);
    if (!info || (info->status != "running" && info->status != "unknown")) continue;
    std::error_code ec;
    if (info->run_dir.empty() || !std::filesystem::is_directory(info->run_dir, ec)) continue;
    try {
      store.ingest_run_dir(info->run_dir);
    } catch (const Error&) {
      // A transient problem (file being replaced, database busy): try again next refresh.
    }
  }
}

void refresh_model(store::Store& store, const WatchSource& source, WatchModel& model, int points) {
  std::vector<int64_t> ids;
  if (source.runs.empty()) {
    store::RunFilter filter;
    filter.limit = source.limit;
    for (const auto& r : store.list_runs(filter)) ids.push_back(r.id);
  } else {
    for (const auto& r : source.runs) ids.push_back(store.find_run(r));
  }
  ingest_active_runs(store, ids);
  const int64_t selected_id =
      model.selected < model.runs.size() ? model.runs[model.selected].id : 0;
  const std::map<int64_t, int> colours = report::colour_indices(store);
  std::vector<WatchRun> runs;
  for (int64_t id : ids) {
    auto s = store.run_summary(id);
    WatchRun r;
    r.id = id;
    r.name = s.run.name;
    r.project = s.run.project;
    r.status = s.run.status;
    r.step = s.run.last_step >= 0 ? s.run.steps_done() : -1;  // steps done
    auto get = [](const std::map<std::string, double>& m, const std::string& k) {
      auto it = m.find(k);
      return it == m.end() ? NAN : it->second;
    };
    r.loss = get(s.last_metrics, "loss");
    r.grad_norm = get(s.last_metrics, "grad_norm");
    r.ppl = get(s.eval, "ppl_postquant");
    r.colour_index = colours.count(id) ? colours.at(id) : 0;
    r.ppl_rtn = get(s.eval, "ppl_rtn");
    if (std::isfinite(r.ppl_rtn)) r.ppl_fp = get(s.eval, "ppl_fp");  // FP: of quantized runs
    runs.push_back(std::move(r));
  }
  model.runs = std::move(runs);
  model.selected = std::min(model.selected, model.runs.empty() ? 0 : model.runs.size() - 1);
  for (size_t i = 0; i < model.runs.size(); ++i)
    if (model.runs[i].id == selected_id) model.selected = i;
  model.series.clear();
  model.run_series.clear();
  if (model.runs.empty()) return;
  const std::string& key = watch_metrics()[model.metric % watch_metrics().size()];
  // Every run's series (the overlay), the selected one also as `series`.
  for (const auto& r : model.runs) {
    std::vector<std::pair<double, double>> pts;
    for (const auto& b : store.series(r.id, key, std::max(points, 2)))
      pts.push_back({double(b.step_last), b.last});
    model.run_series.push_back(std::move(pts));
  }
  model.series = model.run_series[model.selected];
}

}  // namespace qatwb::watch
