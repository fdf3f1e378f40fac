// `qatwb run` as an engine API: everything between a project file and a finished run directory.
// Samples and tokenizes the data (cached by content under RunRequest::cache_root), builds or
// loads the model, attaches the quantizer, evaluates FP / RTN at step 0, trains, evaluates, saves
// the final model, writes events.jsonl throughout and ingests them into the SQLite store.
//
// The caller owns the process (app/cmd_run.cpp): it reads the environment once into the
// request, handles signals through RunHooks::stop_requested, prints RunHooks::log lines and the
// progress, and maps the outcome to an exit code.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/train/data_parallel.h"
#include "core/train/trainer.h"

namespace qatwb::train {

struct RunRequest {
  std::string project_path;  // project YAML (new run)
  std::string run_dir;       // empty: runs/<name>/<timestamp> beside the current directory
  bool resume = false;       // continue run_dir from its last checkpoint (project_path unused)
  std::string db_path;       // empty: no store ingest
  int threads = -1;          // > 0 overrides train.threads
  std::vector<std::string> overrides;  // "key.path=value", applied before validation (new run)

  // What the environment says, read once by the caller.
  DistEnv dist;                 // this process's data-parallel rank (RANK, WORLD_SIZE, ...)
  std::string cache_root;       // data cache ($QATWB_CACHE); empty: <run dir>/../.cache
  int threads_per_rank = 0;     // QATWB_THREADS_PER_RANK, used when threads <= 0
  std::string openmp_note;      // how the OpenMP wait policy was chosen, for the log
  TrainerTestHooks test_hooks;  // QATWB_TEST_*
};

struct RunHooks {
  std::function<void(const std::string&)> log;  // one line of progress or a warning
  // The progress bar: begin(total steps, first step), then step(step, loss, tokens/s), end().
  std::function<void(int64_t total, int64_t first)> progress_begin;
  std::function<void(int64_t step, double loss, double tokens_per_s)> progress_step;
  std::function<void()> progress_end;
  std::function<bool()> stop_requested;  // polled after every step (e.g. a signal's flag)
};

struct RunOutcome {
  TrainStatus status = TrainStatus::Failed;
  std::string reason;
  std::map<std::string, double> final_eval;
  std::string run_dir;
};

// Throws qatwb::Error (after writing a "failed" end event where a run had started) on errors;
// otherwise the outcome of training (finished, stopped on request, failed on non-finite steps).
RunOutcome run_project(const RunRequest& request, const RunHooks& hooks);

}  // namespace qatwb::train
