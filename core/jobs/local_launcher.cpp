// Local launcher: the worker runs on this machine under the wrapper, in its own session.
#include <signal.h>

#include <filesystem>
#include <fstream>

#include "core/jobs/launcher.h"
#include "core/jobs/subprocess.h"
#include "core/jobs/worker_wrapper.h"
#include "core/run/run_dir.h"
#include "core/util/error.h"

namespace qatwb::jobs {
namespace fs = std::filesystem;

// Reads an integer file written by the wrapper; nullopt when missing or partial.
static std::optional<int64_t> read_int_file(const std::string& path) {
  std::ifstream in(path);
  int64_t v = 0;
  if (in >> v) return v;
  return std::nullopt;
}

namespace {

class LocalLauncher : public Launcher {
 public:
  void start(Job& job, bool resume) override {
    if (job.worker_cmd.empty() || find_executable(job.worker_cmd[0]).empty()) {
      throw Error("worker command '" + (job.worker_cmd.empty() ? "" : job.worker_cmd[0]) +
                  "' is not an executable file (absolute path or in $PATH)");
    }
    run::RunDir dir(job.run_dir);
    dir.create();
    const std::string state_dir = dir.job_dir();
    fs::create_directories(state_dir);
    fs::remove(dir.job_exit_path());
    reset_for_start(job);
    auto worker = worker_argv(job.worker_cmd, job.project, job.run_dir, resume);
    DetachedProcess proc =
        spawn_detached(wrap_worker(state_dir, worker), job.run_dir, dir.log_path(), job.worker_env);
    job.pid = proc.pid;
    job.pid_start = proc.start_time;
    job.state = JobState::Starting;
  }

  void poll(Job& job) override {
    ProcessObservation obs;
    obs.alive = process_alive(static_cast<pid_t>(job.pid), job.pid_start);
    if (!obs.alive) {
      auto rc = read_int_file(run::RunDir(job.run_dir).job_exit_path());
      if (rc) obs.exit_code = static_cast<int>(*rc);
    }
    // Events after the liveness check: once the worker is gone its last event is on disk.
    scan_events(job, run::RunDir(job.run_dir).events_path());
    job.state = classify(job, obs);
  }

  void signal(Job& job, bool kill) override {
    if (!process_alive(static_cast<pid_t>(job.pid), job.pid_start)) return;
    signal_process_group(static_cast<pid_t>(job.pid), kill ? SIGKILL : SIGTERM);
  }
};

}  // namespace

std::unique_ptr<Launcher> make_local_launcher() { return std::make_unique<LocalLauncher>(); }

}  // namespace qatwb::jobs
