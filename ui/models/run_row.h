// One row of the run list, read from the store: what RunTableModel shows for a run. Plain C++
// (no Qt) so it can be loaded on a worker thread with that thread's own Store.
#pragma once
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace qatwb::store {
class Store;
}

namespace qatwb::ui {

struct RunRow {
  int64_t id = 0;
  std::string name, project, surrogate, status, run_dir;
  double bits = NAN;        // NaN: unquantized (or unknown)
  int64_t last_step = -1;   // highest metric step (0-based); -1: none yet
  int64_t total_steps = 0;  // train.steps from the run's config; 0: unknown
  double last_loss = NAN;
  double best_ppl = NAN;  // lowest post-quantization perplexity seen (eval/ppl_postquant)
  int colour_index = 0;   // the run's colour slot (core/report/run_style.h), as in its charts
  std::vector<std::string> tags;  // sorted (store schema v3)
  std::string note;

  int64_t steps_done() const { return last_step + 1; }
  double progress() const;  // steps_done / total_steps in [0, 1]; NaN when unknown
  bool operator==(const RunRow& o) const;
  bool operator!=(const RunRow& o) const { return !(*this == o); }
};

// Every run of the store (oldest first, so new runs append at the end), each with its folder as
// resolve_run_dir finds it.
std::vector<RunRow> load_run_rows(const store::Store& store);

// Where a run's folder is now. The store keeps absolute paths, so a copied runs folder (database
// and run folders together) still names the originals: when `run_dir` is not under the
// database's folder and the database's folder holds a run folder with the same trailing path
// (events.jsonl in it; the last 1 to 4 components tried, longest first), that copy is the run's
// folder. Otherwise `run_dir` as stored.
std::string resolve_run_dir(const std::string& db_path, const std::string& run_dir);

}  // namespace qatwb::ui
