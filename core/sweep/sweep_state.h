// <output>/sweep.json: what `qatwb batch` knows about each point of a sweep, so that running the
// same sweep again skips finished points, re-attaches to running ones and retries failed ones
// only when asked. Written atomically after every change.
//   {"version":1, "sweep":"name", "file":"/abs/sweep.yaml", "db":"/abs/qatwb.sqlite",
//    "points":[{"name":..., "overrides":[...], "project":..., "run_dir":..., "job_id":3,
//               "state":"succeeded", "reason":"", "attempts":1, "started":..., "ended":...}]}
// Point states (PointStatus): pending (never started), then the job's states (queued, starting,
// running, succeeded, failed, cancelled, lost).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/jobs/job.h"
#include "core/util/enum_table.h"

namespace qatwb::sweep {

enum class PointStatus { Pending, Queued, Starting, Running, Succeeded, Failed, Cancelled, Lost };
// Names as sweep.json spells them: "pending", then jobs::JobState's names.
EnumRows<PointStatus> enum_rows(PointStatus);
// The point's status while its job is in `state`.
PointStatus point_status(jobs::JobState state);

// The one place that knows the layout of a sweep's output folder (written by `qatwb batch`):
//   <output>/sweep.json            the state below
//   <output>/points/<point>.yaml   each point's resolved project
//   <output>/runs/<point>/         each point's run directory (core/run/run_dir.h)
//   <output>/report/               the sweep's report
class SweepDir {
 public:
  explicit SweepDir(std::string output);
  // <database folder>/sweeps/<sweep>: where a sweep without an output goes.
  static SweepDir default_for(const std::string& db_path, const std::string& sweep);

  const std::string& path() const { return path_; }
  std::string state_path() const;
  std::string points_dir() const;
  std::string point_project(const std::string& point) const;
  std::string runs_dir() const;
  std::string point_run_dir(const std::string& point) const;
  std::string report_dir() const;

 private:
  std::string path_;
};

struct PointState {
  std::string name;
  std::vector<std::string> overrides;
  std::string project;  // the point's resolved project YAML
  std::string run_dir;
  int64_t job_id = 0;  // 0: never submitted
  PointStatus state = PointStatus::Pending;
  std::string reason;
  int attempts = 0;
  double started = 0, ended = 0;

  bool finished() const { return state == PointStatus::Succeeded; }
  bool failed() const {
    return state == PointStatus::Failed || state == PointStatus::Cancelled ||
           state == PointStatus::Lost;
  }
  bool active() const {
    return job_id != 0 && !finished() && !failed() && state != PointStatus::Pending;
  }
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
