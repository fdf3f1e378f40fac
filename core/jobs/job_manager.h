// The jobs API for the CLI and the GUI: submit, poll (a GUI calls poll_active() from a timer),
// cancel, resume, wait, fetch. Every call reads the job from the registry, acts, and writes it
// back, so any number of CLIs and GUIs can watch the same jobs; after polling, new events of
// the run are ingested into the run database (the same SQLite file as the registry).
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/jobs/hosts_config.h"
#include "core/jobs/job.h"
#include "core/jobs/job_registry.h"

namespace qatwb::jobs {

struct JobsConfig {
  std::string db_path;     // the run database (default store::kDefaultDbPath)
  std::string runs_root;   // where new run directories go; default: the database's folder
  std::string hosts_file;  // ssh hosts YAML (the edge's default_hosts_path()); needed for ssh
  std::string home;        // $HOME: what ~/ means in the hosts file
  std::string qatwb_path;  // qatwb for local/slurm workers; default: this program if it is
                           // qatwb, else qatwb next to it, else qatwb from $PATH
};

struct SubmitRequest {
  std::string project;  // project YAML
  // local | ssh:HOST | slurm; "" : the project's `runner` section (kind, host, partition, gpus,
  // time_limit), local when it has none.
  std::string launcher;
  std::vector<std::string> worker_cmd;  // default {qatwb, "run"} (ssh: the host's qatwb)
  std::string run_dir;                  // default <runs_root>/<project name>/<timestamp>
  std::vector<std::string> bundle;      // ssh: extra files copied next to the project
  SlurmOptions slurm;
  double grace_s = 30;
};

class JobManager {
 public:
  explicit JobManager(JobsConfig config);

  // Registers and starts a job. When the launch fails the job stays in the registry as failed
  // with the error as its reason, and the error is thrown.
  Job submit(const SubmitRequest& request);
  // Submits every request (all launcher "slurm", the first one's SlurmOptions for all) as one
  // Slurm job array, at most `max_parallel` tasks at once (<= 0: no limit). Each request becomes
  // its own job (slurm id "<array>_<i>"), polled, cancelled and resumed like any other. When
  // sbatch fails, every job stays in the registry as failed and the error is thrown.
  std::vector<Job> submit_array(const std::vector<SubmitRequest>& requests, int max_parallel);
  // Observes one job, escalates an overdue cancel to SIGKILL, ingests new events, saves.
  Job poll(int64_t id);
  // Polls every job that is not terminal; returns all jobs (for a list view).
  std::vector<Job> poll_active();
  std::vector<Job> list() const;
  Job get(int64_t id) const;
  // Sends SIGTERM and records the request; poll() sends SIGKILL once `grace_s` has passed.
  Job request_cancel(int64_t id, std::optional<double> grace_s = std::nullopt);
  // Polls every `interval_s` until the job is terminal or `timeout_s` (<= 0: no limit) passed;
  // `on_poll` (optional) sees every polled state.
  Job wait(int64_t id, double timeout_s, double interval_s = 0.5,
           const std::function<void(const Job&)>& on_poll = {});
  // Restarts a failed, cancelled or lost job with --resume in the same run directory.
  Job resume(int64_t id, const std::vector<std::string>& worker_cmd = {});
  // Copies <run>/<relative> from the worker's host into the local run directory (ssh jobs).
  void fetch(int64_t id, const std::string& relative);
  // The local copy of the worker's log (worker.log in the run directory).
  std::string log_path(const Job& job) const;

  // The ssh hosts of config().hosts_file; throws qatwb::Error when no file was given.
  HostsConfig hosts() const;
  JobRegistry& registry() { return registry_; }
  const JobsConfig& config() const { return config_; }

 private:
  std::unique_ptr<class Launcher> launcher_for(const Job& job) const;
  Job new_job(const SubmitRequest& request);  // validated and typed, not yet registered
  void ingest(const Job& job);
  JobsConfig config_;
  JobRegistry registry_;
};

// The `name:` of a project YAML (its file stem when absent). Throws qatwb::Error
// "file:line: YAML syntax error" for a broken file.
std::string project_name(const std::string& yaml_path);

}  // namespace qatwb::jobs
