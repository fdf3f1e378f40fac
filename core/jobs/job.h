// The one job model shared by the CLI (`qatwb jobs`) and the GUI's jobs view. A job is one
// worker run (`qatwb run PROJECT --run-dir D`, or `--resume D`) started by a launcher (local
// process, ssh host or Slurm) and tracked through its states:
//
//   queued -> starting -> running -> succeeded | failed | cancelled | lost
//
// queued: submitted, not started (a Slurm job pending); starting: the worker process exists but
// has not written its start event; running: events are arriving. Terminal states come from the
// worker's end event (finished -> succeeded, failed -> failed, stopped -> cancelled), else from
// the process: gone after a cancel request -> cancelled, exited 0 -> succeeded, exited non-zero
// or crashed on a signal -> failed, killed by SIGKILL or vanished without a trace -> lost.
// `resume` moves a failed, cancelled or lost job back to starting (same run directory).
#pragma once
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/jobs/launcher_kind.h"
#include "core/util/enum_table.h"

namespace qatwb::jobs {

enum class JobState { Queued, Starting, Running, Succeeded, Failed, Cancelled, Lost };
EnumRows<JobState> enum_rows(JobState);  // stored as these names in the registry
const char* to_string(JobState state);
bool is_terminal(JobState state);

struct SlurmOptions {
  std::string partition;
  int nodes = 1;
  int tasks_per_node = 0;  // ranks (worker processes) per node; 0: one per GPU (at least 1)
  int gpus_per_node = 0;   // --gres=gpu:N
  int cpus_per_task = 0;   // 0: not set
  std::string time;        // --time, e.g. "01:00:00"
  std::string account;
  std::string job_name;  // default qatwb-<project>
  int master_port = 29500;
  std::vector<std::string> extra_lines;  // appended verbatim as "#SBATCH <line>"

  int ranks_per_node() const {
    return tasks_per_node > 0 ? tasks_per_node : std::max(1, gpus_per_node);
  }
};

struct Job {
  int64_t id = 0;
  LauncherKind launcher = LauncherKind::Local;
  std::string host;  // ssh: the host's name in the hosts file
  JobState state = JobState::Queued;
  std::string reason;  // why it is in this state (end reason, exit code, slurm reason, error)

  std::string project;     // the project YAML (absolute, on this machine)
  std::string run_dir;     // run directory on this machine (a mirror for ssh jobs)
  std::string remote_dir;  // ssh: the job's folder on the host (bundle/ and run/ inside)
  std::vector<std::string> worker_cmd;  // worker prefix; PROJECT --run-dir D / --resume D added
  std::vector<std::string> bundle;      // ssh: extra local paths copied next to the project
  std::vector<std::string> worker_env;  // local/slurm: KEY=VALUE added to the worker's env

  int64_t pid = 0;        // local/ssh: the wrapper's pid == process group of the worker
  int64_t pid_start = 0;  // local: /proc start time of pid (guards against pid reuse)
  std::string slurm_id;   // slurm: the job id printed by sbatch
  SlurmOptions slurm;
  std::optional<int> exit_code;  // the worker's exit status when known

  // What has been seen in the run's events.jsonl since the last (re)start.
  int64_t events_offset = 0;  // bytes scanned locally (ssh: bytes mirrored == local size)
  int64_t log_offset = 0;     // ssh: bytes of worker.log mirrored
  bool saw_start = false;
  std::string end_status;  // "" until an end event: finished | failed | stopped
  std::string end_reason;
  int64_t last_step = -1;  // steps done, from the run's events (-1: none seen yet)

  double grace_s = 30;     // SIGTERM -> SIGKILL delay on cancel
  double cancel_time = 0;  // unix time of the cancel request; 0: none
  bool kill_sent = false;
  int attempts = 1;  // 1 + number of resumes
  double created = 0, updated = 0;
};

// The state implied by what the launcher observed about the worker process.
struct ProcessObservation {
  bool alive = false;            // the worker (or its wrapper) is still running
  std::optional<int> exit_code;  // shell convention: 128+N when killed by signal N
};
// Applies the rules in the comment at the top; returns the new state and sets job.reason.
JobState classify(Job& job, const ProcessObservation& proc);

// Reads events.jsonl lines from job.events_offset on and records start/end/last step in `job`.
// A resume resets end_status before new lines arrive. Never throws on garbage lines.
void scan_events(Job& job, const std::string& events_path);

// Clears what was seen of the previous attempt before a (re)start.
void reset_for_start(Job& job);

double unix_now();

}  // namespace qatwb::jobs
