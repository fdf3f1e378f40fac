// Child processes for the launchers, without a shell: short commands whose output is collected
// (ssh, sbatch, squeue, tar) with a hard timeout, and detached workers in their own session that
// outlive the CLI or GUI that started them. POSIX only.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace qatwb::jobs {

struct CommandOptions {
  std::string stdin_data;        // written to the child's stdin (ignored with stdin_file)
  std::string stdin_file;        // stdin read from this file
  std::string stdout_file;       // stdout written to this file (truncated) instead of `out`
  double timeout_s = 60;         // the whole process group is killed after this
  std::string cwd;               // "" : inherit
  std::vector<std::string> env;  // extra KEY=VALUE entries
};

struct CommandResult {
  int exit_code = -1;   // exit status; -1 when killed by a signal or timed out
  int term_signal = 0;  // the signal that ended it, if any
  bool timed_out = false;
  std::string out, err;  // captured stdout (unless stdout_file) and stderr
  bool ok() const { return exit_code == 0 && !timed_out; }
};

// Runs argv[0] (searched in PATH) in its own process group and waits for it. Throws
// qatwb::Error naming the program when it cannot be started; a non-zero exit is not an error.
CommandResult run_command(const std::vector<std::string>& argv, const CommandOptions& opts = {});

struct DetachedProcess {
  pid_t pid = 0;           // session leader == process group id
  int64_t start_time = 0;  // /proc start time (clock ticks since boot), guards against pid reuse
};

// Starts argv as a daemon-like process: double fork, setsid (new session and process group),
// stdin from /dev/null, stdout+stderr appended to `log_path`, working directory `cwd`. It is
// reparented to init, so it survives the caller. Throws qatwb::Error when argv[0] cannot be
// executed or the log cannot be opened.
DetachedProcess spawn_detached(const std::vector<std::string>& argv, const std::string& cwd,
                               const std::string& log_path,
                               const std::vector<std::string>& env = {});

// /proc/<pid>/stat start time; 0 when the process does not exist.
int64_t process_start_time(pid_t pid);
// True when `pid` exists, is not a zombie and (when start_time != 0) started at start_time.
bool process_alive(pid_t pid, int64_t start_time = 0);
// kill(-pgid, sig); false when the group no longer exists.
bool signal_process_group(pid_t pgid, int sig);
// argv[0] resolved like execvp would (a name with '/' as is, else through $PATH); "" when no
// executable file is found.
std::string find_executable(const std::string& name);
// The path of the running executable (/proc/self/exe).
std::string current_executable();

}  // namespace qatwb::jobs
