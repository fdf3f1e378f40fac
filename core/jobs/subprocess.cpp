#include "core/jobs/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/util/error.h"

extern char** environ;

namespace qatwb::jobs {
namespace {

// argv/envp as char* arrays prepared before fork (no allocation in the child).
struct ExecArgs {
  std::vector<std::string> env_storage;
  std::vector<char*> argv, envp;
  ExecArgs(const std::vector<std::string>& args, const std::vector<std::string>& extra_env) {
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    for (char** e = environ; e && *e; ++e) {
      std::string entry = *e;
      std::string key = entry.substr(0, entry.find('='));
      bool overridden = false;
      for (const auto& x : extra_env) overridden = overridden || x.substr(0, x.find('=')) == key;
      if (!overridden) env_storage.push_back(entry);
    }
    for (const auto& x : extra_env) env_storage.push_back(x);
    for (auto& s : env_storage) envp.push_back(const_cast<char*>(s.c_str()));
    envp.push_back(nullptr);
  }
};

// Async-signal-safe preparation of a child: default signal dispositions, empty mask.
void reset_signals_in_child() {
  for (int sig : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2}) {
    signal(sig, SIG_DFL);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
}

void close_fds_from(int first, int keep) {
  long max_fd = sysconf(_SC_OPEN_MAX);
  if (max_fd < 0 || max_fd > 65536) max_fd = 65536;
  for (int fd = first; fd < max_fd; ++fd) {
    if (fd != keep) close(fd);
  }
}

void write_all_raw(int fd, const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    p += w;
    n -= static_cast<size_t>(w);
  }
}

// Reads an errno written by a child whose exec failed (EOF: exec succeeded).
int read_exec_errno(int fd) {
  int err = 0;
  ssize_t r;
  do {
    r = read(fd, &err, sizeof err);
  } while (r < 0 && errno == EINTR);
  return r == static_cast<ssize_t>(sizeof err) ? err : 0;
}

struct Pipe {
  int fd[2] = {-1, -1};
  void open_cloexec() {
    if (pipe2(fd, O_CLOEXEC) != 0) throw Error(std::string("pipe: ") + std::strerror(errno));
  }
  void close_end(int i) {
    if (fd[i] >= 0) close(fd[i]);
    fd[i] = -1;
  }
  ~Pipe() {
    close_end(0);
    close_end(1);
  }
};

}  // namespace

CommandResult run_command(const std::vector<std::string>& argv, const CommandOptions& opts) {
  if (argv.empty()) throw Error("run_command: empty command");
  signal(SIGPIPE, SIG_IGN);  // a child closing its stdin early must not kill us
  ExecArgs args(argv, opts.env);
  int in_fd = -1, out_fd = -1;
  if (!opts.stdin_file.empty()) {
    in_fd = open(opts.stdin_file.c_str(), O_RDONLY | O_CLOEXEC);
    if (in_fd < 0) throw Error(opts.stdin_file + ": cannot open: " + std::strerror(errno));
  }
  if (!opts.stdout_file.empty()) {
    out_fd = open(opts.stdout_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out_fd < 0) {
      if (in_fd >= 0) close(in_fd);
      throw Error(opts.stdout_file + ": cannot create: " + std::strerror(errno));
    }
  }
  Pipe in_pipe, out_pipe, err_pipe, exec_pipe;
  const bool feed_stdin = opts.stdin_file.empty() && !opts.stdin_data.empty();
  if (feed_stdin) in_pipe.open_cloexec();
  if (out_fd < 0) out_pipe.open_cloexec();
  err_pipe.open_cloexec();
  exec_pipe.open_cloexec();

  pid_t pid = fork();
  if (pid < 0) throw Error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    setpgid(0, 0);
    reset_signals_in_child();
    int child_in = in_fd >= 0 ? in_fd : feed_stdin ? in_pipe.fd[0] : open("/dev/null", O_RDONLY);
    dup2(child_in, 0);
    dup2(out_fd >= 0 ? out_fd : out_pipe.fd[1], 1);
    dup2(err_pipe.fd[1], 2);
    if (!opts.cwd.empty() && chdir(opts.cwd.c_str()) != 0) {
      int e = errno;
      write_all_raw(exec_pipe.fd[1], &e, sizeof e);
      _exit(127);
    }
    execvpe(args.argv[0], args.argv.data(), args.envp.data());
    int e = errno;
    write_all_raw(exec_pipe.fd[1], &e, sizeof e);
    _exit(127);
  }
  setpgid(pid, pid);  // also from the parent, so a timeout kill never misses the group
  if (in_fd >= 0) close(in_fd);
  if (out_fd >= 0) close(out_fd);
  in_pipe.close_end(0);
  out_pipe.close_end(1);
  err_pipe.close_end(1);
  exec_pipe.close_end(1);
  int exec_errno = read_exec_errno(exec_pipe.fd[0]);
  if (exec_errno != 0) {
    int status = 0;
    waitpid(pid, &status, 0);
    throw Error("cannot run '" + argv[0] + "': " + std::strerror(exec_errno));
  }

  CommandResult result;
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(opts.timeout_s * 1000));
  size_t stdin_written = 0;
  if (feed_stdin) fcntl(in_pipe.fd[1], F_SETFL, O_NONBLOCK);
  char buf[65536];
  while (out_pipe.fd[0] >= 0 || err_pipe.fd[0] >= 0) {
    std::vector<pollfd> fds;
    if (out_pipe.fd[0] >= 0) fds.push_back({out_pipe.fd[0], POLLIN, 0});
    if (err_pipe.fd[0] >= 0) fds.push_back({err_pipe.fd[0], POLLIN, 0});
    if (in_pipe.fd[1] >= 0) fds.push_back({in_pipe.fd[1], POLLOUT, 0});
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) {
      result.timed_out = true;
      break;
    }
    int n = poll(fds.data(), fds.size(), static_cast<int>(std::min<int64_t>(left, 1000)));
    if (n < 0 && errno != EINTR) break;
    for (const auto& p : fds) {
      if (!p.revents) continue;
      if (p.fd == in_pipe.fd[1]) {
        ssize_t w = write(p.fd, opts.stdin_data.data() + stdin_written,
                          opts.stdin_data.size() - stdin_written);
        if (w > 0) stdin_written += static_cast<size_t>(w);
        if (w < 0 && errno != EAGAIN && errno != EINTR) stdin_written = opts.stdin_data.size();
        if (stdin_written >= opts.stdin_data.size()) in_pipe.close_end(1);
        continue;
      }
      ssize_t r = read(p.fd, buf, sizeof buf);
      if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      bool is_out = p.fd == out_pipe.fd[0];
      if (r <= 0) {
        (is_out ? out_pipe : err_pipe).close_end(0);
      } else {
        (is_out ? result.out : result.err).append(buf, static_cast<size_t>(r));
      }
    }
  }
  in_pipe.close_end(1);
  int status = 0;
  if (result.timed_out) {
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    result.exit_code = -1;
    result.term_signal = SIGKILL;
    return result;
  }
  // Output closed; the process may still be running (it closed its pipes): wait, bounded.
  while (true) {
    pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      result.timed_out = true;
      result.term_signal = SIGKILL;
      return result;
    }
    usleep(10000);
  }
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.term_signal = WTERMSIG(status);
  return result;
}

DetachedProcess spawn_detached(const std::vector<std::string>& argv, const std::string& cwd,
                               const std::string& log_path, const std::vector<std::string>& env) {
  if (argv.empty()) throw Error("spawn_detached: empty command");
  ExecArgs args(argv, env);
  int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) throw Error(log_path + ": cannot open worker log: " + std::strerror(errno));
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  Pipe pid_pipe, exec_pipe;
  pid_pipe.open_cloexec();
  exec_pipe.open_cloexec();
  pid_t child = fork();
  if (child < 0) {
    close(log_fd);
    close(null_fd);
    throw Error(std::string("fork: ") + std::strerror(errno));
  }
  if (child == 0) {
    pid_t grandchild = fork();
    if (grandchild == 0) {
      setsid();
      reset_signals_in_child();
      umask(022);
      dup2(null_fd, 0);
      dup2(log_fd, 1);
      dup2(log_fd, 2);
      close_fds_from(3, exec_pipe.fd[1]);
      if (!cwd.empty() && chdir(cwd.c_str()) != 0) {
        int e = errno;
        write_all_raw(exec_pipe.fd[1], &e, sizeof e);
        _exit(127);
      }
      execvpe(args.argv[0], args.argv.data(), args.envp.data());
      int e = errno;
      write_all_raw(exec_pipe.fd[1], &e, sizeof e);
      _exit(127);
    }
    int64_t gc = grandchild;
    write_all_raw(pid_pipe.fd[1], &gc, sizeof gc);
    _exit(grandchild > 0 ? 0 : 1);
  }
  close(log_fd);
  close(null_fd);
  pid_pipe.close_end(1);
  exec_pipe.close_end(1);
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  int64_t gc = 0;
  ssize_t r;
  do {
    r = read(pid_pipe.fd[0], &gc, sizeof gc);
  } while (r < 0 && errno == EINTR);
  if (r != static_cast<ssize_t>(sizeof gc) || gc <= 0) throw Error("fork: cannot start worker");
  DetachedProcess proc;
  proc.pid = static_cast<pid_t>(gc);
  proc.start_time = process_start_time(proc.pid);
  int exec_errno = read_exec_errno(exec_pipe.fd[0]);  // EOF once exec succeeded
  if (exec_errno != 0) throw Error("cannot run '" + argv[0] + "': " + std::strerror(exec_errno));
  return proc;
}

static bool read_proc_stat(pid_t pid, char& state, int64_t& start_time) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  size_t close_paren = s.rfind(')');
  if (close_paren == std::string::npos || close_paren + 2 >= s.size()) return false;
  std::istringstream fields(s.substr(close_paren + 2));
  std::string tok;
  // Field 3 is the state; field 22 the start time (fields counted from 1, pid and comm first).
  std::vector<std::string> f;
  while (fields >> tok) f.push_back(tok);
  if (f.size() < 20) return false;
  state = f[0].empty() ? '?' : f[0][0];
  start_time = std::stoll(f[19]);
  return true;
}

int64_t process_start_time(pid_t pid) {
  char state = 0;
  int64_t start = 0;
  return read_proc_stat(pid, state, start) ? start : 0;
}

bool process_alive(pid_t pid, int64_t start_time) {
  if (pid <= 0) return false;
  if (kill(pid, 0) != 0 && errno != EPERM) return false;
  char state = 0;
  int64_t start = 0;
  if (!read_proc_stat(pid, state, start)) return false;
  if (state == 'Z' || state == 'X') return false;
  return start_time == 0 || start == start_time;
}

bool signal_process_group(pid_t pgid, int sig) {
  if (pgid <= 1) return false;
  return kill(-pgid, sig) == 0;
}

std::string find_executable(const std::string& name) {
  if (name.empty()) return "";
  if (name.find('/') != std::string::npos) return access(name.c_str(), X_OK) == 0 ? name : "";
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string dir = dirs.substr(start, end - start);
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    struct stat st {};
    if (stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
    start = end + 1;
  }
  return "";
}

std::string current_executable() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) throw Error("cannot resolve /proc/self/exe");
  return std::string(buf, static_cast<size_t>(n));
}

}  // namespace qatwb::jobs
