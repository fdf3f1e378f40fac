// <output>/sweep.json: what `qatwb batch` knows about each point of a sweep, so that running the
// same sweep again skips finished points, re-attaches to running ones and retries failed ones
// only when asked. Written atomically after every change.
//   {"version":1, "sweep":"name", "file":"/abs/sweep.yaml", "db":"/abs/qatwb.sqlite",
//    "points":[{"name":..., "overrides":[...], "project":..., "run_dir":..., "job_id":3,
//               "state":"succeeded", "reason":"", "attempts":1, "started":..., "ended":...}]}
// Point states: pending (never started), then the job's states (queued, starting, running,
// succeeded, failed, cancelled, lost).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace qatwb::sweep {

struct PointState {
  std::string name;
  std::vector<std::string> overrides;
  std::string project;  // the point's resolved project YAML
  std::string run_dir;
  int64_t job_id = 0;  // 0: never submitted
  std::string state = "pending";
  std::string reason;
  int attempts = 0;
  double started = 0, ended = 0;

  bool finished() const { return state == "succeeded"; }
  bool failed() const { return state == "failed" || state == "cancelled" || state == "lost"; }
  bool active() const { return job_id != 0 && !finished() && !failed() && state != "pending"; }
};

struct SweepState {
  std::string sweep, file, db;
  std::vector<PointState> points;

  PointState* find(const std::string& name);
};

// Reads the state file; an empty state when it does not exist. Throws qatwb::Error naming the
// file when it is not valid JSON of this shape.
SweepState load_sweep_state(const std::string& path);
void save_sweep_state(const std::string& path, const SweepState& state);

}  // namespace qatwb::sweep
