// Slurm launcher: sbatch on this machine (the login node), run directory on the shared file
// system, state from scontrol (exit code), sacct (where accounting exists) or squeue, events
// read directly from <run>/events.jsonl, the batch output appended to <run>/worker.log.
#include <filesystem>
#include <fstream>

#include "core/jobs/launcher.h"
#include "core/jobs/slurm_script.h"
#include "core/jobs/subprocess.h"
#include "core/jobs/worker_wrapper.h"
#include "core/run/run_dir.h"
#include "core/util/error.h"

namespace qatwb::jobs {
namespace fs = std::filesystem;

namespace {

std::optional<SlurmStatus> query_slurm(const std::string& id, std::string& error) {
  CommandOptions opts;
  opts.timeout_s = 30;
  try {
    CommandResult r = run_command({"scontrol", "show", "job", "-o", id}, opts);
    if (r.ok()) {
      if (auto st = parse_scontrol(r.out)) return st;
    } else {
      error = r.err;
    }
    r = run_command({"sacct", "-n", "-P", "-j", id, "-o", "JobID,State,ExitCode"}, opts);
    if (r.ok()) {
      if (auto st = parse_sacct(r.out, id)) return st;
    }
    r = run_command({"squeue", "-h", "-j", id, "-o", "%T|%r"}, opts);
    if (r.ok()) return parse_squeue(r.out);
    if (error.empty()) error = r.err;
  } catch (const Error& e) {
    error = e.what();
  }
  return std::nullopt;
}

class SlurmLauncher : public Launcher {
 public:
  void start(Job& job, bool resume) override {
    run::RunDir dir(job.run_dir);
    dir.create();
    fs::create_directories(dir.job_dir());
    reset_for_start(job);
    auto worker = worker_argv(job.worker_cmd, job.project, job.run_dir, resume);
    SlurmOptions opts = job.slurm;
    if (opts.job_name.empty()) {
      opts.job_name = "qatwb-" + fs::path(job.run_dir).parent_path().filename().string();
    }
    const std::string script_path = dir.sbatch_script_path(job.attempts);
    {
      std::ofstream out(script_path);
      out << make_sbatch_script(opts, worker);
      if (!out) throw Error(script_path + ": cannot write");
    }
    CommandOptions copts;
    copts.timeout_s = 60;
    copts.env = job.worker_env;  // sbatch exports the submitting environment to the job
    CommandResult r = run_command({"sbatch", "--parsable", "--output=" + dir.log_path(),
                                   "--chdir=" + job.run_dir, script_path},
                                  copts);
    if (!r.ok()) {
      std::string err = r.err;
      while (!err.empty() && err.back() == '\n') err.pop_back();
      throw Error("sbatch " + script_path + " failed" +
                  (r.timed_out ? std::string(" (timed out)") : ": " + err));
    }
    job.slurm_id = parse_sbatch_output(r.out);
    job.state = JobState::Queued;
    job.reason = "submitted as slurm job " + job.slurm_id;
  }

  void poll(Job& job) override {
    std::string error;
    auto st = query_slurm(job.slurm_id, error);
    if (!st && !error.empty() && error.find("Invalid job id") == std::string::npos) {
      // The controller is unreachable: keep the state, say why.
      while (!error.empty() && error.back() == '\n') error.pop_back();
      job.reason = "cannot poll slurm job " + job.slurm_id + ": " + error;
      scan_events(job, run::RunDir(job.run_dir).events_path());
      return;
    }
    ProcessObservation obs;
    SlurmGroup group = st ? slurm_group(st->state) : SlurmGroup::Failed;
    if (st && group == SlurmGroup::Queued) {
      scan_events(job, run::RunDir(job.run_dir).events_path());
      job.state = JobState::Queued;
      job.reason = st->reason.empty() ? st->state : st->state + " (" + st->reason + ")";
      return;
    }
    obs.alive = st && group == SlurmGroup::Running;
    if (st && !obs.alive) {
      obs.exit_code = st->exit_code;
      if (!obs.exit_code && group == SlurmGroup::Completed) obs.exit_code = 0;
    }
    scan_events(job, run::RunDir(job.run_dir).events_path());
    JobState state = classify(job, obs);
    if (st && !obs.alive && job.end_status.empty() && job.cancel_time == 0) {
      if (group == SlurmGroup::Cancelled) {
        state = JobState::Cancelled;
        job.reason = "slurm: CANCELLED" + (st->reason.empty() ? "" : " " + st->reason);
      } else if (group == SlurmGroup::Failed) {
        state = JobState::Failed;
        job.reason = "slurm: " + st->state +
                     (st->exit_code ? " (exit " + std::to_string(*st->exit_code) + ")" : "");
      }
    }
    if (!st && job.end_status.empty()) job.reason = "slurm no longer knows job " + job.slurm_id;
    job.state = state;
  }

  void signal(Job& job, bool kill) override {
    if (job.slurm_id.empty()) return;
    std::vector<std::string> argv = {"scancel"};
    if (!kill) argv.push_back("--signal=TERM");
    argv.push_back(job.slurm_id);
    CommandOptions opts;
    opts.timeout_s = 30;
    CommandResult r = run_command(argv, opts);
    if (!r.ok() && kill) throw Error("scancel " + job.slurm_id + " failed: " + r.err);
  }
};

}  // namespace

std::unique_ptr<Launcher> make_slurm_launcher() { return std::make_unique<SlurmLauncher>(); }

}  // namespace qatwb::jobs
