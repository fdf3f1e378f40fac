// The small bash wrapper every local and ssh worker runs under. It is the session leader (its pid
// is the process group to signal), records its pid and the worker's, ignores SIGTERM/SIGINT/
// SIGHUP itself (the worker in its group gets them and checkpoints) and writes the worker's exit
// status (128+N for signal N) when it ends, so a crash is told apart from a vanished job, in the
// run's job folder (run::RunDir::job_dir(), core/run/run_dir.h):
//   pid          the wrapper's pid == process group
//   worker_pid   the worker's pid
//   exit         the worker's exit status (written last, atomically)
#pragma once
#include <string>
#include <vector>

namespace qatwb::jobs {

// {"bash", "-c", <script>, "qatwb-job", state_dir, worker...}
std::vector<std::string> wrap_worker(const std::string& state_dir,
                                     const std::vector<std::string>& worker);
// The worker command line: prefix + {project, "--run-dir", run_dir}, or with `resume`
// prefix + {"--resume", run_dir}.
std::vector<std::string> worker_argv(const std::vector<std::string>& prefix,
                                     const std::string& project, const std::string& run_dir,
                                     bool resume);

}  // namespace qatwb::jobs
