#include "ui/dashboard/dashboard_loader.h"

#include <algorithm>

#include "core/store/store.h"

namespace qatwb::ui {

const report::ChartSpec* SeriesCache::find(const std::string& key,
                                           const std::string& version) const {
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second.first != version) return nullptr;
  return &it->second.second;
}

void SeriesCache::put(const std::string& key, const std::string& version, report::ChartSpec spec) {
  if (entries_.size() > 4000) entries_.clear();  // bounded; refilled on the next refresh
  entries_[key] = {version, std::move(spec)};
}

namespace {

std::string cache_key(int64_t run, const std::string& key, const report::ChartQuery& q) {
  return std::to_string(run) + "|" + key + "|" + report::to_string(q.x) + "|" +
         std::to_string(q.max_points) + "|" + (q.step_min ? std::to_string(*q.step_min) : "") +
         "|" + (q.step_max ? std::to_string(*q.step_max) : "");
}

// Reference lines of single-run charts merged the way report::metric_chart does for several:
// one line per distinct value, named after its run only when the runs disagree.
void merge_reference_lines(report::ChartSpec& out,
                           const std::vector<std::pair<std::string, report::ChartSpec>>& parts) {
  for (const char* tag : {"FP", "RTN"}) {
    std::vector<std::pair<std::string, double>> lines;
    for (const auto& [label, spec] : parts)
      for (const auto& [name, value] : spec.reference_lines)
        if (name == tag) lines.emplace_back(label, value);
    std::vector<double> distinct;
    for (const auto& l : lines)
      if (std::find(distinct.begin(), distinct.end(), l.second) == distinct.end())
        distinct.push_back(l.second);
    std::vector<double> done;
    for (const auto& [label, value] : lines) {
      if (std::find(done.begin(), done.end(), value) != done.end()) continue;
      done.push_back(value);
      out.reference_lines.emplace_back(distinct.size() == 1 ? tag : std::string(tag) + " " + label,
                                       value);
    }
  }
}

}  // namespace

DashboardResult load_dashboard(store::Store& store, const DashboardRequest& request,
                               SeriesCache* cache) {
  DashboardResult out;
  try {
    std::vector<std::pair<int64_t, std::string>> present;  // (run, version of its data)
    for (int64_t run : request.runs) {
      auto info = store.run_info(run);
      if (!info) continue;
      bool live = info->status == "running" || info->status == "unknown";
      if (live && request.ingest) {
        try {
          out.ingested_lines += store.ingest_run_dir(info->run_dir);
        } catch (const std::exception& e) {
          out.error = e.what();  // a vanished run folder: show what is stored
        }
        info = store.run_info(run);
        live = info && (info->status == "running" || info->status == "unknown");
      }
      out.live = out.live || live;
      if (!info) continue;
      present.emplace_back(run, info->status + "|" + std::to_string(store.ingested_bytes(run)));
    }
    for (size_t k = 0; k < request.keys.size(); ++k) {
      report::ChartQuery q;
      q.x = request.x;
      q.max_points = request.max_points;
      if (k < request.zoom.size())
        q.step_min = request.zoom[k].first, q.step_max = request.zoom[k].second;
      const std::string& key = request.keys[k];
      report::ChartSpec chart = report::metric_chart(store, {}, key, q);  // title, labels
      std::vector<std::pair<std::string, report::ChartSpec>> parts;
      for (const auto& [run, version] : present) {
        const std::string ck = cache_key(run, key, q);
        const report::ChartSpec* cached = cache ? cache->find(ck, version) : nullptr;
        report::ChartSpec one = cached ? *cached : report::metric_chart(store, {run}, key, q);
        if (cache && !cached) cache->put(ck, version, one);
        if (!one.series.empty()) {
          chart.series.push_back(one.series.front());
          parts.emplace_back(one.series.front().label, std::move(one));
        }
      }
      merge_reference_lines(chart, parts);
      out.charts.push_back(std::move(chart));
    }
  } catch (const std::exception& e) {
    out.error = e.what();
  }
  return out;
}

// Opened by the worker from the request's path; the cache goes with the store it was read from.
struct DashboardConnection {
  store::Store store;
  SeriesCache cache;
};

DashboardLoader::DashboardLoader()
    : worker_(
          "qatwb-dashboard-loader",
          [](const std::string& db_path) {
            return std::make_unique<DashboardConnection>(
                DashboardConnection{store::Store::open_existing(db_path), SeriesCache()});
          },
          {}, AfterFailure::keep) {}

DashboardLoader::~DashboardLoader() = default;

void DashboardLoader::load(const DashboardRequest& request, QObject* receiver,
                           std::function<void(const DashboardResult&)> done) {
  worker_.set_database(request.db_path);
  worker_.post(
      receiver,
      [request](DashboardConnection& c) { return load_dashboard(c.store, request, &c.cache); },
      done,
      [done](const QString& message) {
        DashboardResult result;
        result.error = message.toStdString();
        done(result);
      });
}

}  // namespace qatwb::ui
