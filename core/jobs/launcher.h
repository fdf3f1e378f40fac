// One launcher interface, three launchers (local_launcher.cpp, ssh_launcher.cpp,
// slurm_launcher.cpp). Launchers hold no state between calls: everything lives in the Job, so a
// restarted CLI or GUI re-attaches by polling the jobs it finds in the registry.
#pragma once
#include <memory>
#include <string>

#include "core/jobs/hosts_config.h"
#include "core/jobs/job.h"

namespace qatwb::jobs {

class Launcher {
 public:
  virtual ~Launcher() = default;
  // Starts the worker (resume: with --resume in the same run directory). Sets pid / slurm id and
  // the state (starting or queued). Throws qatwb::Error naming the host or program on failure.
  virtual void start(Job& job, bool resume) = 0;
  // Observes the worker (process, scheduler, remote files), mirrors remote events and log into
  // job.run_dir, scans new events and sets job.state and job.reason. A transient failure to
  // observe (ssh down) keeps the state and says so in job.reason.
  virtual void poll(Job& job) = 0;
  // SIGTERM (kill == false) or SIGKILL to the worker's process group / job steps.
  virtual void signal(Job& job, bool kill) = 0;
  // Copies <run>/<relative> (a checkpoint or export folder, a file) from where the worker runs
  // into the local run directory. No-op where the run directory is already local.
  virtual void fetch(Job& job, const std::string& relative) { (void)job, (void)relative; }
};

std::unique_ptr<Launcher> make_local_launcher();
std::unique_ptr<Launcher> make_ssh_launcher(const SshHost& host);
std::unique_ptr<Launcher> make_slurm_launcher();

}  // namespace qatwb::jobs
