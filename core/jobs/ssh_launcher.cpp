// SSH launcher: the project bundle (the project file, the bases its `extends:` chain names at
// their relative places, and --bundle files) is copied to <remote_dir>/<project>/<run>/bundle, the
// worker runs detached (setsid) under the wrapper in <...>/run, and every poll is one ssh call that
// reports the wrapper's pid, liveness and exit status and streams the new bytes of events.jsonl
// and worker.log from the offsets already mirrored (the local copies' sizes).
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/jobs/launcher.h"
#include "core/jobs/shell_quote.h"
#include "core/jobs/ssh_client.h"
#include "core/jobs/worker_wrapper.h"
#include "core/project/project_yaml.h"
#include "core/run/run_dir.h"
#include "core/util/error.h"

namespace qatwb::jobs {
namespace fs = std::filesystem;

namespace {

constexpr int64_t kMaxChunk = int64_t{8} << 20;

int64_t local_size(const std::string& path) {
  std::error_code ec;
  auto n = fs::file_size(path, ec);
  return ec ? 0 : static_cast<int64_t>(n);
}

void append_file(const std::string& path, const char* data, size_t n) {
  if (n == 0) return;
  std::ofstream out(path, std::ios::binary | std::ios::app);
  out.write(data, static_cast<std::streamsize>(n));
  if (!out) throw Error(path + ": cannot append");
}

// The project file and the bases it extends, relative to their deepest common folder.
struct ProjectBundle {
  std::string root;
  std::vector<std::string> files;  // the project first
};

ProjectBundle project_bundle(const std::string& project) {
  std::vector<std::string> chain;
  try {
    chain = project::extends_chain(project);
  } catch (const Error&) {
    chain = {fs::absolute(project).lexically_normal().string()};  // not a qatwb project
  }
  fs::path root = fs::path(chain.front()).parent_path();
  for (const auto& f : chain) {
    const fs::path dir = fs::path(f).parent_path();
    fs::path common;
    for (auto a = root.begin(), b = dir.begin(); a != root.end() && b != dir.end() && *a == *b;
         ++a, ++b)
      common /= *a;
    root = common;
  }
  ProjectBundle b;
  b.root = root.string();
  for (const auto& f : chain) b.files.push_back(fs::path(f).lexically_relative(root).string());
  return b;
}

// A file of the job folder, relative to the run folder (for shells that cd into it).
std::string job_file(const char* name) { return std::string(run::RunDir::kJobDir) + "/" + name; }

class SshLauncher : public Launcher {
 public:
  explicit SshLauncher(const SshHost& host) : ssh_(host) {}

  std::string remote_run(const Job& job) const { return job.remote_dir + "/run"; }

  void start(Job& job, bool resume) override {
    run::RunDir(job.run_dir).create();
    if (!resume) {
      std::string work = ssh_.host().remote_dir;
      if (work == "~" || work.rfind("~/", 0) == 0) {
        std::string home = ssh_.check("printf '%s' \"$HOME\"", "reading $HOME");
        work = home + work.substr(1);
      }
      std::string project_name = fs::path(job.run_dir).parent_path().filename().string();
      job.remote_dir = work + "/" + project_name + "/" + fs::path(job.run_dir).filename().string();
      // The project and every base of its `extends:` chain, at the same relative places (a
      // base named ../base.yaml must be found beside the bundled project there too).
      const ProjectBundle chain = project_bundle(job.project);
      ssh_.push_tree(chain.root, chain.files, job.remote_dir + "/bundle");
      if (!job.bundle.empty()) ssh_.push(job.bundle, job.remote_dir + "/bundle");
    }
    reset_for_start(job);
    std::string project = job.remote_dir + "/bundle/" + project_bundle(job.project).files.front();
    std::string run = remote_run(job);
    auto worker = worker_argv(job.worker_cmd, project, run, resume);
    const run::RunDir remote(run);
    const std::string pid_file = job_file(run::RunDir::kJobPidFile);
    std::string script = "mkdir -p -- " + shell_quote(remote.job_dir()) + " && cd -- " +
                         shell_quote(run) + " && rm -f " + job_file(run::RunDir::kJobExitFile) +
                         " " + pid_file + " && { setsid " +
                         shell_join(wrap_worker(remote.job_dir(), worker)) + " >> " +
                         std::string(run::RunDir::kLogFile) +
                         " 2>&1 < /dev/null & } && i=0 && "
                         "while [ ! -s " +
                         pid_file +
                         " ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done && "
                         "cat " +
                         pid_file;
    std::string out = ssh_.check(script, "starting the worker");
    try {
      job.pid = std::stoll(out);
    } catch (const std::exception&) {
      throw Error("ssh host '" + ssh_.host().name + "': the worker did not start (no pid in " +
                  remote.job_pid_path() + ")");
    }
    job.pid_start = 0;
    job.state = JobState::Starting;
  }

  void poll(Job& job) override {
    run::RunDir local(job.run_dir);
    const int64_t ev_off = local_size(local.events_path());
    const int64_t log_off = local_size(local.log_path());
    const std::string max = std::to_string(kMaxChunk);
    const std::string ev_file = run::RunDir::kEventsFile, log_file = run::RunDir::kLogFile;
    std::ostringstream s;
    s << "cd -- " << shell_quote(remote_run(job)) << " 2>/dev/null || "
      << "{ echo 'qatwb-status 0 0 - 0 0'; exit 0; }\n"
      << "pid=$(cat " << job_file(run::RunDir::kJobPidFile) << " 2>/dev/null); ex=$(cat "
      << job_file(run::RunDir::kJobExitFile) << " 2>/dev/null); alive=0\n"
      << "if [ -n \"$pid\" ] && kill -0 \"$pid\" 2>/dev/null; then\n"
      << "  st=$(sed 's/.*) //' \"/proc/$pid/stat\" 2>/dev/null | cut -c1)\n"
      << "  [ \"$st\" = Z ] || alive=1\nfi\n"
      << "ev=$(wc -c 2>/dev/null < " << ev_file << " || echo 0); ev=$((ev - " << ev_off << "))\n"
      << "lg=$(wc -c 2>/dev/null < " << log_file << " || echo 0); lg=$((lg - " << log_off << "))\n"
      << "[ $ev -lt 0 ] && ev=0; [ $ev -gt " << max << " ] && ev=" << max << "\n"
      << "[ $lg -lt 0 ] && lg=0; [ $lg -gt " << max << " ] && lg=" << max << "\n"
      << "printf 'qatwb-status %s %s %s %s %s\\n' \"${pid:-0}\" \"$alive\" \"${ex:--}\" "
         "\"$ev\" \"$lg\"\n"
      << "[ $ev -gt 0 ] && tail -c +" << ev_off + 1 << " " << ev_file << " | head -c $ev\n"
      << "[ $lg -gt 0 ] && tail -c +" << log_off + 1 << " " << log_file << " | head -c $lg\n"
      << "exit 0\n";
    CommandResult r;
    try {
      CommandOptions opts;
      opts.timeout_s = ssh_.host().connect_timeout + 60;
      r = ssh_.run(s.str(), opts);
    } catch (const Error& e) {
      job.reason = std::string("cannot poll: ") + e.what();
      return;  // transient: keep the state
    }
    size_t eol = r.out.find('\n');
    std::istringstream header(r.out.substr(0, eol));
    std::string tag, ex;
    int64_t pid = 0, ev_n = 0, lg_n = 0;
    int alive = 0;
    if (eol == std::string::npos || !(header >> tag >> pid >> alive >> ex >> ev_n >> lg_n) ||
        tag != "qatwb-status" || ev_n < 0 || lg_n < 0 ||
        static_cast<int64_t>(r.out.size() - eol - 1) < ev_n + lg_n) {
      job.reason = "cannot poll: unexpected reply from ssh host '" + ssh_.host().name + "'";
      return;
    }
    const char* body = r.out.data() + eol + 1;
    // Only whole lines go into the local event log, so its size stays the remote offset.
    std::string_view events(body, static_cast<size_t>(ev_n));
    size_t last_nl = events.rfind('\n');
    if (last_nl != std::string_view::npos) {
      append_file(local.events_path(), events.data(), last_nl + 1);
    }
    append_file(local.log_path(), body + ev_n, static_cast<size_t>(lg_n));
    ProcessObservation obs;
    obs.alive = alive == 1;
    if (!obs.alive && ex != "-") {
      try {
        obs.exit_code = std::stoi(ex);
      } catch (const std::exception&) {
      }
    }
    scan_events(job, local.events_path());
    // A full chunk means more events are waiting remotely: the final state can wait a poll.
    if (!obs.alive && ev_n >= kMaxChunk) obs.alive = true;
    job.state = classify(job, obs);
  }

  void signal(Job& job, bool kill) override {
    if (job.pid <= 1) return;
    std::string pid = std::to_string(job.pid);
    ssh_.run(std::string("kill -") + (kill ? "KILL" : "TERM") + " -- -" + pid +
             " 2>/dev/null; exit 0");
  }

  void fetch(Job& job, const std::string& relative) override {
    ssh_.fetch(remote_run(job), relative, job.run_dir);
  }

 private:
  SshClient ssh_;
};

}  // namespace

std::unique_ptr<Launcher> make_ssh_launcher(const SshHost& host) {
  return std::make_unique<SshLauncher>(host);
}

}  // namespace qatwb::jobs
