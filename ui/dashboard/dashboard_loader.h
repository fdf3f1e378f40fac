// The dashboard's data work, off the GUI thread: a QObject living on its own QThread with its own
// Store connection (a sqlite3 handle is never shared across threads). Each request ingests the run
// directories of live runs (status running / unknown) and queries the buckets of every chart;
// the result is handed back on the GUI thread through a callback posted to the receiver.
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

class DashboardLoader : public QObject {
  Q_OBJECT
 public:
  DashboardLoader();
  ~DashboardLoader() override;
  // Runs on the loader's thread; `done` is then called on `receiver`'s thread (dropped if the
  // receiver is gone).
  void load(const DashboardRequest& request, QObject* receiver,
            std::function<void(const DashboardResult&)> done);

 private:
  class QThread* thread_;
  QObject* worker_;                      // lives on thread_
  std::unique_ptr<store::Store> store_;  // used only on thread_
  SeriesCache cache_;                    // used only on thread_
  QString store_path_;
};

}  // namespace qatwb::ui
