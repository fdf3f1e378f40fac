// `qatwb run`: everything between a project file and a finished run directory. Samples and
// tokenizes the data (cached by content in <run dir>/../.cache/data or $QATWB_CACHE/data), builds or loads the model,
// attaches the quantizer, evaluates FP / RTN at step 0, trains, evaluates, saves the final model,
// writes events.jsonl throughout and ingests them into the SQLite store.
#pragma once
#include <string>
#include <vector>

namespace qatwb::train {

struct RunRequest {
  std::string project_path;  // project YAML (new run)
  std::string run_dir;       // empty: runs/<name>/<timestamp> beside the current directory
  bool resume = false;       // continue run_dir from its last checkpoint (project_path unused)
  std::string db_path;       // empty: no store ingest
  int threads = -1;          // > 0 overrides train.threads
  std::vector<std::string> overrides;  // "key.path=value", applied before validation (new run)
};

// Returns the process exit code: 0 finished, 1 failed, 130 stopped (SIGINT/SIGTERM).
int run_project(const RunRequest& request);

}  // namespace qatwb::train
