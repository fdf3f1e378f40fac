// Runs a sweep (`qatwb batch`): validates every point before anything starts, writes each
// point's resolved project to <output>/points/<name>.yaml, and runs one job per point through
// the jobs API (core/jobs: local processes with a concurrency limit, an ssh host or Slurm),
// each in <output>/runs/<name>, ingested into the run database. <output>/sweep.json records the
// points' jobs, so a second run skips finished points, re-attaches to running ones (the workers
// are detached: an interrupted `qatwb batch` leaves them running) and retries failed ones only
// with retry_failed (the job is resumed from its last checkpoint in the same run directory).
#pragma once
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "core/sweep/sweep_spec.h"
#include "core/sweep/sweep_state.h"

namespace qatwb::sweep {

struct BatchOptions {
  std::string db_path;                  // "" : store::kDefaultDbPath
  std::string output;                   // "" : spec.output, else <db folder>/sweeps/<name>
  std::string hosts_file;               // ssh hosts (for ssh:HOST; the edge fills the default)
  std::string home;                     // $HOME: what ~/ means in the hosts file
  std::string launcher;                 // "" : spec.launcher
  int concurrency = -1;                 // -1: spec.concurrency (default: local 1, else all)
  std::vector<std::string> worker_cmd;  // replaces spec.worker (e.g. the fake trainer in tests)
  bool retry_failed = false;
  double poll_s = 0.5;
  std::ostream* progress = nullptr;  // progress lines (stderr in the CLI); null: silent
};

struct PreparedPoint {
  SweepPoint point;
  std::string project;  // <output>/points/<name>.yaml
  std::string run_dir;  // <output>/runs/<name>
};

struct PreparedSweep {
  SweepSpec spec;
  std::string output, db_path, state_path;
  std::vector<PreparedPoint> points;
};

// Resolves the output folder and validates every point's project (load_project with the
// point's overrides). Throws qatwb::Error listing every point's mistakes (file:line:col: field:
// message, once each) before anything is written. With `write`, writes the point YAMLs.
PreparedSweep prepare_sweep(const SweepSpec& spec, const BatchOptions& options, bool write);

struct BatchResult {
  std::string output;
  int total = 0, succeeded = 0, failed = 0, skipped = 0, started = 0;
  SweepState state;
  bool ok() const { return succeeded == total; }
};

// Runs the sweep until every point is finished or failed. Throws qatwb::Error on a bad spec
// or state file; a point whose launch fails is marked failed and the others go on.
BatchResult run_sweep(const SweepSpec& spec, const BatchOptions& options);

// "3/12 done, 2 running, 1 failed, 6 pending; 1m02s elapsed, ETA 3m10s"
std::string progress_line(const SweepState& state, double elapsed_s, double mean_point_s,
                          int concurrency);

}  // namespace qatwb::sweep
