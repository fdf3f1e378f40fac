// The dashboard's data work, off the GUI thread: a StoreWorker (its own QThread with its own Store
// connection; a sqlite3 handle is never shared across threads). Each request ingests the run
// directories of live runs (status running / unknown) and queries the buckets of every chart;
// the result is handed back on the GUI thread through a callback run there.
#pragma once
#include <QObject>
#include <QString>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/report/chart_spec.h"
#include "ui/widgets/store_worker.h"

namespace qatwb::ui {

struct DashboardRequest {
  QString db_path;
  std::vector<int64_t> runs;
  std::vector<std::string> keys;
  report::XAxis x = report::XAxis::step;
  int max_points = 1000;
  std::vector<std::pair<std::optional<int64_t>, std::optional<int64_t>>> zoom;  // per key
  bool ingest = true;
};

struct DashboardResult {
  std::vector<report::ChartSpec> charts;  // one per requested key
  bool live = false;                      // some run still running (or unknown)
  int64_t ingested_lines = 0;
  std::string error;  // "" : fine
};

// Single-run charts by (run, key, axis, zoom, points), each with the version of the run's data
// it was read at (status and bytes ingested): a refresh re-queries only runs with new events.
class SeriesCache {
 public:
  const report::ChartSpec* find(const std::string& key, const std::string& version) const;
  void put(const std::string& key, const std::string& version, report::ChartSpec spec);

 private:
  std::map<std::string, std::pair<std::string, report::ChartSpec>> entries_;
};

// Does one request synchronously on the calling thread with `store` (opened by the caller).
DashboardResult load_dashboard(store::Store& store, const DashboardRequest& request,
                               SeriesCache* cache = nullptr);

struct DashboardConnection;  // dashboard_loader.cpp: the worker's Store and SeriesCache

class DashboardLoader {
 public:
  DashboardLoader();
  ~DashboardLoader();  // waits for a running load; nothing is delivered after it
  // Runs on the loader's thread; `done` is then called on the thread that made the loader
  // (dropped if the receiver is gone).
  void load(const DashboardRequest& request, QObject* receiver,
            std::function<void(const DashboardResult&)> done);

 private:
  StoreWorker<DashboardConnection> worker_;
};

}  // namespace qatwb::ui
