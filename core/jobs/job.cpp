#include "core/jobs/job.h"

#include <signal.h>
#include <string.h>

#include <chrono>

#include "core/run/event_log.h"
#include "core/util/error.h"

namespace qatwb::jobs {

namespace {

const EnumRow<JobState> kJobStates[] = {
    {JobState::Queued, "queued", "submitted, not started (a Slurm job pending)"},
    {JobState::Starting, "starting", "the worker exists but has not written its start event"},
    {JobState::Running, "running", "events are arriving"},
    {JobState::Succeeded, "succeeded", "the run finished"},
    {JobState::Failed, "failed", "the run failed, or the worker exited non-zero or crashed"},
    {JobState::Cancelled, "cancelled", "stopped on request"},
    {JobState::Lost, "lost", "the worker vanished without a trace, or was killed by SIGKILL"}};

const EnumRow<LauncherKind> kLauncherKinds[] = {
    {LauncherKind::Local, "local", "a process on this machine"},
    {LauncherKind::Ssh, "ssh", "a process on an SSH host of the hosts file"},
    {LauncherKind::Slurm, "slurm", "a Slurm batch job submitted from this machine"}};

}  // namespace

EnumRows<JobState> enum_rows(JobState) { return kJobStates; }
EnumRows<LauncherKind> enum_rows(LauncherKind) { return kLauncherKinds; }
const char* to_string(JobState state) { return enum_name(state); }
const char* to_string(LauncherKind kind) { return enum_name(kind); }

bool is_terminal(JobState state) {
  return state == JobState::Succeeded || state == JobState::Failed ||
         state == JobState::Cancelled || state == JobState::Lost;
}

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

static std::string signal_name(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

JobState classify(Job& job, const ProcessObservation& proc) {
  if (proc.exit_code) job.exit_code = proc.exit_code;
  if (proc.alive) {
    job.reason.clear();
    if (job.cancel_time > 0) job.reason = "cancelling";
    return job.saw_start ? JobState::Running : JobState::Starting;
  }
  if (!job.end_status.empty()) {
    job.reason = job.end_reason;
    if (job.end_status == "finished") return JobState::Succeeded;
    if (job.end_status == "stopped") return JobState::Cancelled;
    return JobState::Failed;
  }
  if (job.cancel_time > 0) {
    job.reason = job.kill_sent ? "cancelled (SIGKILL after " +
                                     std::to_string(static_cast<int>(job.grace_s)) + " s grace)"
                               : "cancelled";
    return JobState::Cancelled;
  }
  if (!proc.exit_code) {
    job.reason = "worker vanished without an end event";
    return JobState::Lost;
  }
  int rc = *proc.exit_code;
  if (rc == 0) {
    job.reason = "worker exited with code 0 without an end event";
    return JobState::Succeeded;
  }
  if (rc == 128 + SIGKILL) {
    job.reason = "worker killed by SIGKILL without an end event";
    return JobState::Lost;
  }
  if (rc > 128 && rc < 128 + 65) {
    job.reason = "worker crashed: " + signal_name(rc - 128);
  } else {
    job.reason = "worker exited with code " + std::to_string(rc) + " without an end event";
  }
  return JobState::Failed;
}

void reset_for_start(Job& job) {
  job.saw_start = false;
  job.end_status.clear();
  job.end_reason.clear();
  job.exit_code.reset();
  job.cancel_time = 0;
  job.kill_sent = false;
  job.reason.clear();
}

void scan_events(Job& job, const std::string& events_path) {
  std::vector<run::LogLine> lines;
  while (true) {
    lines.clear();
    int64_t next = run::read_complete_lines(events_path, job.events_offset, lines);
    if (next == job.events_offset) break;
    for (const auto& line : lines) {
      auto ev = run::parse_event_line(line.text);
      if (!ev) continue;
      switch (ev->type) {
        case run::EventType::Start:
          job.saw_start = true;
          job.end_status.clear();
          job.end_reason.clear();
          break;
        case run::EventType::End:
          job.end_status = ev->status;
          job.end_reason = ev->reason;
          break;
        default:
          break;
      }
      // Steps done: a metric event's step is the 0-based index of the step taken; evaluations
      // and checkpoints are stamped with the steps done.
      if (ev->step) {
        const int64_t done = ev->type == run::EventType::Metric ? *ev->step + 1 : *ev->step;
        if (done > job.last_step) job.last_step = done;
      }
    }
    job.events_offset = next;
  }
}

}  // namespace qatwb::jobs
