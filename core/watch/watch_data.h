// The data behind `qatwb watch`: runs and the selected run's series, read from the run store,
// after ingesting the new events of running runs (their run directories are tailed, so a run
// started by `qatwb run`, a job or a sweep shows up live).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/store/store.h"
#include "core/watch/dashboard.h"

namespace qatwb::watch {

struct WatchSource {
  std::vector<std::string> runs;  // as given on the command line ("" : every run, newest first)
  int limit = 50;                 // at most this many runs when none are given
};

// Ingests running (and unknown-status) runs whose directory exists; errors per run are ignored
// (a run being written is read again next time).
void ingest_active_runs(store::Store& store, const std::vector<int64_t>& runs);
// Fills model.runs (keeping the selection on the same run id when possible) and model.series
// (the selected run's metric, bucketed to about `points` points). Throws qatwb::Error when a run
// named in `source` does not exist.
void refresh_model(store::Store& store, const WatchSource& source, WatchModel& model, int points);

}  // namespace qatwb::watch
