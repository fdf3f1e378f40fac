#include "core/jobs/job_manager.h"

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

#include "core/jobs/launcher.h"
#include "core/jobs/runner_slurm.h"
#include "core/jobs/slurm_script.h"
#include "core/jobs/subprocess.h"
#include "core/jobs/worker_wrapper.h"
#include "core/project/project_yaml.h"
#include "core/run/run_dir.h"
#include "core/store/store.h"
#include "core/util/error.h"

namespace qatwb::jobs {
namespace fs = std::filesystem;

std::string project_name(const std::string& yaml_path) {
  if (!fs::exists(yaml_path)) throw Error(yaml_path + ": project file not found");
  YAML::Node root;
  try {
    root = YAML::LoadFile(yaml_path);
  } catch (const YAML::ParserException& e) {
    throw Error(at_location(yaml_path, e.mark.line + 1, "YAML syntax error: " + e.msg));
  } catch (const YAML::Exception& e) {
    throw Error(yaml_path + ": " + e.what());
  }
  std::string name;
  if (root.IsMap() && root["name"] && root["name"].IsScalar()) name = root["name"].Scalar();
  if (name.empty()) name = fs::path(yaml_path).stem().string();
  for (char& c : name) {
    if (c == '/' || c == '\0') c = '_';
  }
  return name;
}

static JobsConfig resolve(JobsConfig c) {
  if (c.db_path.empty()) c.db_path = store::kDefaultDbPath;
  if (c.runs_root.empty()) {
    fs::path parent = fs::absolute(c.db_path).parent_path();
    c.runs_root = parent.string();
  }
  // The worker starts in its run directory: a relative root would be resolved a second time
  // there (runs/p/r/runs/p/r) and the job's state files looked for in the wrong place.
  c.runs_root = fs::absolute(c.runs_root).lexically_normal().string();
  if (c.qatwb_path.empty()) {
    // The CLI is the worker; a GUI finds `qatwb` next to itself, else in $PATH.
    fs::path self = current_executable();
    if (self.filename() == "qatwb") {
      c.qatwb_path = self.string();
    } else if (fs::exists(self.parent_path() / "qatwb")) {
      c.qatwb_path = (self.parent_path() / "qatwb").string();
    } else {
      c.qatwb_path = "qatwb";
    }
  }
  return c;
}

JobManager::JobManager(JobsConfig config)
    : config_(resolve(std::move(config))), registry_(config_.db_path) {}

HostsConfig JobManager::hosts() const {
  if (config_.hosts_file.empty())
    throw Error("ssh jobs need a hosts file (--hosts, $QATWB_HOSTS or ~/.config/qatwb/hosts.yaml)");
  return load_hosts_config(config_.hosts_file, config_.home);
}

std::unique_ptr<Launcher> JobManager::launcher_for(const Job& job) const {
  switch (job.launcher) {
    case LauncherKind::Local:
      return make_local_launcher();
    case LauncherKind::Slurm:
      return make_slurm_launcher();
    case LauncherKind::Ssh:
      return make_ssh_launcher(hosts().get(job.host));
  }
  throw Error("unknown launcher");
}

void JobManager::ingest(const Job& job) {
  if (!fs::exists(run::RunDir(job.run_dir).events_path())) return;
  registry_.store().ingest_run_dir(job.run_dir);
}

namespace {

// Whether the worker is qatwb itself (the default `qatwb run`, or a command whose program is
// named qatwb): only then is the project a qatwb project that must validate before it starts.
bool worker_is_qatwb(const std::vector<std::string>& worker_cmd) {
  if (worker_cmd.empty()) return true;
  return fs::path(worker_cmd.front()).filename() == "qatwb";
}

// Validates the project as the worker will (every mistake as file:line:col, before any job state
// exists); a local worker also needs every path the project names to exist on this machine.
std::optional<project::ProjectConfig> validate_project(const SubmitRequest& request,
                                                       const std::string& launcher) {
  if (!worker_is_qatwb(request.worker_cmd)) return std::nullopt;
  try {
    return project::load_project(request.project, {}, launcher == "local");
  } catch (const Error& e) {
    throw Error(std::string(e.what()) + "\n" + request.project +
                ": not submitted (fix the project; `qatwb project check` shows the same)");
  }
}

// The launcher a project asks for in its `runner` section (the GUI wizard's "where to run"); Slurm
// options it names fill the ones the request left empty.
std::string launcher_from_project(const std::string& yaml, SlurmOptions& slurm) {
  project::ProjectConfig config;
  try {
    config = project::load_project(yaml);
  } catch (const Error&) {
    return "local";  // a project for another worker (--worker-cmd); validated later if qatwb's
  }
  const auto& r = config.runner;
  switch (r.kind) {
    case LauncherKind::Local:
      return "local";
    case LauncherKind::Ssh:
      return "ssh:" + r.host;
    case LauncherKind::Slurm:
      if (!r.host.empty())
        throw Error(yaml +
                    ": runner.host: submitting to Slurm through a remote login host is not "
                    "supported; run `qatwb jobs submit` on the login node (or use ssh:HOST)");
      fill_slurm_options(r, slurm);
      return "slurm";
  }
  return "local";
}

}  // namespace

Job JobManager::new_job(const SubmitRequest& request) {
  Job job;
  SlurmOptions slurm = request.slurm;
  const std::string l =
      request.launcher.empty() ? launcher_from_project(request.project, slurm) : request.launcher;
  if (l == "local") {
    job.launcher = LauncherKind::Local;
  } else if (l == "slurm") {
    job.launcher = LauncherKind::Slurm;
  } else if (l.rfind("ssh:", 0) == 0 && l.size() > 4) {
    job.launcher = LauncherKind::Ssh;
    job.host = l.substr(4);
  } else {
    throw Error("--launcher: expected local, ssh:HOST or slurm, got '" + l + "'");
  }
  if (request.grace_s < 0) throw Error("--grace: must be >= 0");
  job.project = fs::absolute(request.project).lexically_normal().string();
  const std::string name = project_name(job.project);
  // The host first (a typo in --launcher or hosts.yaml is the cheaper mistake to report), then
  // the project; both before any job state exists.
  std::optional<SshHost> host;
  if (job.launcher == LauncherKind::Ssh) host = hosts().get(job.host);
  validate_project(request, l.rfind("ssh:", 0) == 0 ? "ssh" : l);
  job.worker_cmd = request.worker_cmd;
  if (job.worker_cmd.empty()) {
    job.worker_cmd = {host ? host->qatwb : config_.qatwb_path, "run"};
  }
  // A local or Slurm worker ingests into the same database as the jobs table.
  if (job.launcher != LauncherKind::Ssh) {
    job.worker_env = {"QATWB_DB=" + fs::absolute(config_.db_path).lexically_normal().string()};
  }
  job.bundle = request.bundle;
  for (auto& b : job.bundle) b = fs::absolute(b).lexically_normal().string();
  job.slurm = slurm;
  job.grace_s = request.grace_s;
  if (!request.run_dir.empty()) {
    job.run_dir = fs::absolute(request.run_dir).lexically_normal().string();
    run::RunDir(job.run_dir).create();
  } else {
    job.run_dir = run::RunDir::create_new(config_.runs_root, name).path();
  }
  job.state = JobState::Queued;
  return job;
}

Job JobManager::submit(const SubmitRequest& request) {
  Job job = new_job(request);
  std::unique_ptr<Launcher> launcher = launcher_for(job);
  registry_.add(job);
  try {
    launcher->start(job, false);
  } catch (const Error& e) {
    job.state = JobState::Failed;
    job.reason = e.what();
    registry_.update(job);
    throw Error("job " + std::to_string(job.id) + ": " + e.what());
  }
  registry_.update(job);
  return job;
}

std::vector<Job> JobManager::submit_array(const std::vector<SubmitRequest>& requests,
                                          int max_parallel) {
  if (requests.empty()) return {};
  std::vector<Job> jobs;
  for (const auto& r : requests) {
    if (r.launcher != "slurm")
      throw Error("a Slurm job array needs launcher slurm, got '" + r.launcher + "'");
    jobs.push_back(new_job(r));
  }
  std::vector<SlurmArrayTask> tasks;
  for (auto& job : jobs) {
    registry_.add(job);
    reset_for_start(job);
    const run::RunDir dir(job.run_dir);
    fs::create_directories(dir.job_dir());
    tasks.push_back({worker_argv(job.worker_cmd, job.project, job.run_dir, false), job.run_dir,
                     dir.log_path()});
  }
  const std::string array_dir = config_.runs_root + "/.slurm-array";
  const std::string script = array_dir + "/array-" + std::to_string(jobs.front().id) + ".sh";
  auto fail_all = [&](const std::string& why) {
    for (auto& job : jobs) {
      job.state = JobState::Failed;
      job.reason = why;
      registry_.update(job);
    }
    throw Error("slurm job array: " + why);
  };
  std::string id;
  try {
    fs::create_directories(array_dir);
    {
      std::ofstream out(script);
      out << make_sbatch_array_script(jobs.front().slurm, tasks, max_parallel);
      if (!out) throw Error(script + ": cannot write");
    }
    CommandOptions copts;
    copts.timeout_s = 60;
    copts.env = jobs.front().worker_env;
    CommandResult r = run_command(
        {"sbatch", "--parsable", "--output=" + array_dir + "/array-%A_%a.out", script}, copts);
    if (!r.ok()) {
      std::string err = r.err;
      while (!err.empty() && err.back() == '\n') err.pop_back();
      throw Error("sbatch " + script + " failed" +
                  (r.timed_out ? std::string(" (timed out)") : ": " + err));
    }
    id = parse_sbatch_output(r.out);
  } catch (const Error& e) {
    fail_all(e.what());
  }
  for (size_t i = 0; i < jobs.size(); ++i) {
    jobs[i].slurm_id = id + "_" + std::to_string(i);
    jobs[i].state = JobState::Queued;
    jobs[i].reason = "submitted as slurm array task " + jobs[i].slurm_id;
    registry_.update(jobs[i]);
  }
  return jobs;
}

Job JobManager::poll(int64_t id) {
  Job job = registry_.get(id);
  if (is_terminal(job.state)) return job;
  auto launcher = launcher_for(job);
  if (job.cancel_time > 0 && !job.kill_sent && unix_now() >= job.cancel_time + job.grace_s) {
    launcher->signal(job, true);
    job.kill_sent = true;
  }
  launcher->poll(job);
  registry_.update(job);
  ingest(job);
  return job;
}

std::vector<Job> JobManager::poll_active() {
  for (const Job& job : registry_.list()) {
    if (is_terminal(job.state)) continue;
    try {
      poll(job.id);
    } catch (const Error& e) {
      Job j = registry_.get(job.id);
      j.reason = std::string("cannot poll: ") + e.what();
      registry_.update(j);
    }
  }
  return registry_.list();
}

std::vector<Job> JobManager::list() const { return registry_.list(); }
Job JobManager::get(int64_t id) const { return registry_.get(id); }

Job JobManager::request_cancel(int64_t id, std::optional<double> grace_s) {
  Job job = poll(id);
  if (is_terminal(job.state)) return job;
  if (grace_s) {
    if (*grace_s < 0) throw Error("--grace: must be >= 0");
    job.grace_s = *grace_s;
  }
  if (job.cancel_time == 0) job.cancel_time = unix_now();
  registry_.update(job);
  // A queued job has no worker to checkpoint: remove it at once.
  const bool kill_now = job.grace_s == 0 || job.state == JobState::Queued;
  launcher_for(job)->signal(job, kill_now);
  if (kill_now) {
    job.kill_sent = true;
    registry_.update(job);
  }
  return job;
}

Job JobManager::wait(int64_t id, double timeout_s, double interval_s,
                     const std::function<void(const Job&)>& on_poll) {
  auto start = std::chrono::steady_clock::now();
  while (true) {
    Job job = poll(id);
    if (on_poll) on_poll(job);
    if (is_terminal(job.state)) return job;
    double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (timeout_s > 0 && waited >= timeout_s) return job;
    std::this_thread::sleep_for(std::chrono::duration<double>(interval_s));
  }
}

Job JobManager::resume(int64_t id, const std::vector<std::string>& worker_cmd) {
  Job job = poll(id);
  if (!is_terminal(job.state)) {
    throw Error("job " + std::to_string(id) + " is " + to_string(job.state) +
                "; only a failed, cancelled or lost job can be resumed");
  }
  if (job.state == JobState::Succeeded) {
    throw Error("job " + std::to_string(id) + " already succeeded; nothing to resume");
  }
  if (!worker_cmd.empty()) job.worker_cmd = worker_cmd;
  job.attempts += 1;
  auto launcher = launcher_for(job);
  try {
    launcher->start(job, true);
  } catch (const Error& e) {
    job.state = JobState::Failed;
    job.reason = std::string("resume failed: ") + e.what();
    registry_.update(job);
    throw Error("job " + std::to_string(id) + ": " + e.what());
  }
  registry_.update(job);
  return job;
}

void JobManager::fetch(int64_t id, const std::string& relative) {
  Job job = registry_.get(id);
  launcher_for(job)->fetch(job, relative);
}

std::string JobManager::log_path(const Job& job) const {
  return run::RunDir(job.run_dir).log_path();
}

}  // namespace qatwb::jobs
