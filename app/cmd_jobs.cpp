// qatwb jobs: submit, list, cancel, resume, follow and fetch training jobs that run locally, on
// ssh hosts or through Slurm (core/jobs). Every invocation re-attaches to the jobs in the
// registry (a table in the run database), so jobs survive the CLI that started them.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "app/command.h"
#include "app/environment.h"
#include "core/jobs/job_manager.h"
#include "core/jobs/shell_quote.h"
#include "core/util/error.h"

namespace {

using namespace qatwb::jobs;

struct JobsArgs {
  std::string db, hosts, runs_root;
  bool json = false;
  // submit
  std::string project, launcher, worker_cmd, run_dir;
  std::vector<std::string> bundle;
  double grace = 30;
  bool wait = false;
  double timeout = 0;
  SlurmOptions slurm;
  // cancel / resume / logs / wait / fetch
  int64_t id = 0;
  std::optional<double> cancel_grace;
  bool no_wait = false;
  bool follow = false;
  std::string fetch_path;
  bool all = false;
};

JobManager open_manager(const JobsArgs& a) {
  JobsConfig c;
  const auto& env = qatwb::app::environment();
  c.db_path = a.db.empty() ? env.db_path() : a.db;
  c.hosts_file = a.hosts.empty() ? env.hosts_file() : a.hosts;
  c.home = env.home();
  c.runs_root = a.runs_root;
  return JobManager(c);
}

void print_job_line(const Job& j) {
  std::cout << std::left << std::setw(5) << j.id << std::setw(10) << to_string(j.state)
            << std::setw(14)
            << (j.launcher == LauncherKind::Ssh ? "ssh:" + j.host
                                                : std::string(to_string(j.launcher)))
            << std::setw(7) << (j.last_step >= 0 ? std::to_string(j.last_step) : "-") << j.run_dir;
  if (!j.reason.empty()) std::cout << "  (" << j.reason << ")";
  std::cout << "\n";
}

void print_jobs(const std::vector<Job>& jobs, bool json) {
  if (json) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& j : jobs) arr.push_back(nlohmann::json::parse(job_to_json(j)));
    std::cout << arr.dump(2) << "\n";
    return;
  }
  std::cout << std::left << std::setw(5) << "ID" << std::setw(10) << "STATE" << std::setw(14)
            << "LAUNCHER" << std::setw(7) << "STEP"
            << "RUN DIR\n";
  for (const auto& j : jobs) print_job_line(j);
}

void print_one(const Job& j, bool json) {
  if (json) {
    std::cout << job_to_json(j, 2) << "\n";
  } else {
    std::cout << "job " << j.id << ": " << to_string(j.state);
    if (!j.reason.empty()) std::cout << " (" << j.reason << ")";
    std::cout << "\nrun dir: " << j.run_dir << "\n";
  }
}

int exit_for(const Job& j) { return j.state == JobState::Succeeded ? 0 : 1; }

// Prints new bytes of the log from `offset`; returns the new offset.
int64_t print_log_from(const std::string& path, int64_t offset) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return offset;
  in.seekg(offset);
  std::string chunk((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::cout << chunk << std::flush;
  return offset + static_cast<int64_t>(chunk.size());
}

// The subcommands, for dispatch once the command line is parsed.
struct JobsCommands {
  CLI::App *list, *show, *submit, *cancel, *resume, *logs, *wait, *fetch;
};

void add_common_options(CLI::App& app, JobsArgs& a) {
  app.add_option("--db", a.db,
                 "Run database holding the jobs table (default $QATWB_DB or "
                 "./runs/qatwb.sqlite)");
  app.add_option("--hosts", a.hosts,
                 "SSH hosts YAML (default $QATWB_HOSTS or ~/.config/qatwb/hosts.yaml)");
  app.add_option("--runs-root", a.runs_root,
                 "Folder for new run directories (default: the database's folder)");
  app.add_flag("--json", a.json, "Machine-readable output");
}

CLI::App* add_submit_command(CLI::App& app, JobsArgs& a) {
  auto* submit = app.add_subcommand("submit", "Start `qatwb run PROJECT` as a job");
  submit->add_option("project", a.project, "Project YAML")->required();
  submit->add_option("--launcher", a.launcher,
                     "local | ssh:HOST | slurm (default: the project's runner section, else "
                     "local)");
  submit->add_option("--worker-cmd", a.worker_cmd,
                     "Worker command prefix (default 'qatwb run'); PROJECT --run-dir DIR is "
                     "appended (--resume DIR on resume)");
  submit->add_option("--run-dir", a.run_dir, "Run directory (default a new one)");
  submit->add_option("--bundle", a.bundle, "ssh: extra files copied next to the project");
  submit->add_option("--grace", a.grace, "Seconds between SIGTERM and SIGKILL on cancel");
  submit->add_flag("--wait", a.wait, "Wait until the job ends; exit 0 only if it succeeded");
  submit->add_option("--timeout", a.timeout, "With --wait: give up after this many seconds");
  submit->add_option("--partition", a.slurm.partition, "slurm: partition");
  submit->add_option("--nodes", a.slurm.nodes, "slurm: nodes");
  submit->add_option("--tasks-per-node", a.slurm.tasks_per_node,
                     "slurm: tasks (worker processes) per node (default: one per GPU)");
  submit->add_option("--gpus", a.slurm.gpus_per_node, "slurm: GPUs per node (gres gpu:N)");
  submit->add_option("--cpus-per-task", a.slurm.cpus_per_task, "slurm: CPUs per task");
  submit->add_option("--time", a.slurm.time, "slurm: time limit (e.g. 01:00:00)");
  submit->add_option("--account", a.slurm.account, "slurm: account");
  submit->add_option("--master-port", a.slurm.master_port, "slurm: c10d MASTER_PORT");
  submit->add_option("--sbatch-line", a.slurm.extra_lines,
                     "slurm: extra '#SBATCH <line>' (repeatable)");
  return submit;
}

// A subcommand that acts on one job: `qatwb jobs NAME ID ...`.
CLI::App* add_job_command(CLI::App& app, const std::string& name, const std::string& about,
                          JobsArgs& a) {
  auto* sub = app.add_subcommand(name, about);
  sub->add_option("id", a.id, "Job id")->required();
  return sub;
}

JobsCommands add_subcommands(CLI::App& app, JobsArgs& a) {
  JobsCommands c{};
  c.list = app.add_subcommand("list", "Poll every active job and list all jobs");
  c.show = add_job_command(app, "show", "Poll one job and print it", a);
  c.submit = add_submit_command(app, a);

  c.cancel = add_job_command(app, "cancel",
                             "SIGTERM the worker (checkpoint + end), then "
                             "SIGKILL after the grace period",
                             a);
  c.cancel->add_option("--grace", a.cancel_grace, "Seconds before SIGKILL (default: the job's)");
  c.cancel->add_flag("--no-wait", a.no_wait, "Return after sending SIGTERM");

  c.resume = add_job_command(app, "resume",
                             "Restart a failed/cancelled/lost job with "
                             "--resume from its last checkpoint",
                             a);
  c.resume->add_option("--worker-cmd", a.worker_cmd, "Replace the worker command prefix");
  c.resume->add_flag("--wait", a.wait, "Wait until the job ends; exit 0 only if it succeeded");
  c.resume->add_option("--timeout", a.timeout, "With --wait: give up after this many seconds");

  c.logs = add_job_command(app, "logs", "Print the worker's log", a);
  c.logs->add_flag("-f,--follow", a.follow, "Keep printing until the job ends");

  c.wait = add_job_command(app, "wait", "Wait until a job ends; exit 0 only if it succeeded", a);
  c.wait->add_option("--timeout", a.timeout, "Give up after this many seconds (exit 124)");

  c.fetch = add_job_command(app, "fetch",
                            "Copy a checkpoint/export folder or file of an "
                            "ssh job's run into the local run directory",
                            a);
  c.fetch
      ->add_option("path", a.fetch_path,
                   "Path inside the run (checkpoints/step-00000100, "
                   "exports, model)")
      ->required();
  return c;
}

// After submit or resume: without --wait the job as it started, else its end (exit 124 when
// --timeout passed first).
int finish_started(JobManager& m, const JobsArgs& a, Job j) {
  if (!a.wait) {
    if (a.json) print_one(j, true);
    return 0;
  }
  j = m.wait(j.id, a.timeout);
  print_one(j, a.json);
  return is_terminal(j.state) ? exit_for(j) : 124;
}

int run_submit(JobManager& m, const JobsArgs& a) {
  SubmitRequest r;
  r.project = a.project;
  r.launcher = a.launcher;
  if (!a.worker_cmd.empty()) r.worker_cmd = split_command_line(a.worker_cmd);
  r.run_dir = a.run_dir;
  r.bundle = a.bundle;
  r.slurm = a.slurm;
  r.grace_s = a.grace;
  Job j = m.submit(r);
  if (!a.json) {
    std::cout << "job " << j.id << " submitted ("
              << (j.launcher == LauncherKind::Ssh ? "ssh:" + j.host
                                                  : std::string(to_string(j.launcher)))
              << "), run dir " << j.run_dir << "\n"
              << std::flush;
  }
  return finish_started(m, a, j);
}

int run_cancel(JobManager& m, const JobsArgs& a) {
  Job j = m.request_cancel(a.id, a.cancel_grace);
  if (!a.no_wait && !is_terminal(j.state)) j = m.wait(a.id, j.grace_s + 60, 0.2);
  print_one(j, a.json);
  return is_terminal(j.state) || a.no_wait ? 0 : 1;
}

int run_resume(JobManager& m, const JobsArgs& a) {
  std::vector<std::string> cmd;
  if (!a.worker_cmd.empty()) cmd = split_command_line(a.worker_cmd);
  Job j = m.resume(a.id, cmd);
  if (!a.json) std::cout << "job " << j.id << " resumed (attempt " << j.attempts << ")\n";
  return finish_started(m, a, j);
}

int run_logs(JobManager& m, const JobsArgs& a) {
  Job j = m.poll(a.id);
  std::string path = m.log_path(j);
  int64_t off = print_log_from(path, 0);
  while (a.follow && !is_terminal(j.state)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    j = m.poll(a.id);
    off = print_log_from(path, off);
  }
  if (a.follow) std::cerr << "job " << j.id << ": " << to_string(j.state) << "\n";
  return 0;
}

int run_jobs(const JobsCommands& c, const JobsArgs& a) {
  JobManager m = open_manager(a);
  if (c.list->parsed()) {
    print_jobs(m.poll_active(), a.json);
    return 0;
  }
  if (c.show->parsed()) {
    print_one(m.poll(a.id), a.json);
    return 0;
  }
  if (c.submit->parsed()) return run_submit(m, a);
  if (c.cancel->parsed()) return run_cancel(m, a);
  if (c.resume->parsed()) return run_resume(m, a);
  if (c.logs->parsed()) return run_logs(m, a);
  if (c.wait->parsed()) {
    Job j = m.wait(a.id, a.timeout);
    print_one(j, a.json);
    return is_terminal(j.state) ? exit_for(j) : 124;
  }
  if (c.fetch->parsed()) {
    m.fetch(a.id, a.fetch_path);
    std::cout << "fetched " << a.fetch_path << " into " << m.get(a.id).run_dir << "\n";
    return 0;
  }
  return 1;
}

}  // namespace

static qatwb::cli::CommandRegistration registration(
    "jobs", "Submit, list, cancel, resume and follow training jobs (local, ssh, slurm)",
    [](CLI::App& app) -> std::function<int()> {
      auto a = std::make_shared<JobsArgs>();
      app.require_subcommand(1);
      app.fallthrough();
      add_common_options(app, *a);
      const JobsCommands commands = add_subcommands(app, *a);
      return [a, commands]() { return run_jobs(commands, *a); };
    });
