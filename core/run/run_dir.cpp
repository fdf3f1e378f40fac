#include "core/run/run_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/util/error.h"

namespace fs = std::filesystem;

namespace qatwb::run {

RunDir::RunDir(std::string path) : path_(std::move(path)) {
  while (path_.size() > 1 && path_.back() == '/') path_.pop_back();
}

std::string RunDir::name() const { return fs::path(path_).filename().string(); }
std::string RunDir::config_path() const { return path_ + "/config.yaml"; }
std::string RunDir::events_path() const { return path_ + "/" + kEventsFile; }
std::string RunDir::log_path() const { return path_ + "/" + kLogFile; }
bool RunDir::has_events() const {
  std::error_code ec;
  return fs::exists(events_path(), ec);
}
std::string RunDir::lock_path() const { return path_ + "/.lock"; }
std::string RunDir::data_dir() const { return path_ + "/data"; }
std::string RunDir::checkpoints_dir() const { return path_ + "/" + kCheckpointsDir; }
std::string RunDir::model_dir() const { return path_ + "/model"; }
std::string RunDir::exports_dir() const { return path_ + "/exports"; }
std::string RunDir::export_dir(const std::string& format) const {
  return exports_dir() + "/" + format;
}
std::string RunDir::gguf_export_path() const { return exports_dir() + "/model.gguf"; }
std::string RunDir::job_dir() const { return path_ + "/" + kJobDir; }
std::string RunDir::job_pid_path() const { return job_dir() + "/" + kJobPidFile; }
std::string RunDir::job_exit_path() const { return job_dir() + "/" + kJobExitFile; }
std::string RunDir::sbatch_script_path(int attempt) const {
  return job_dir() + "/sbatch-" + std::to_string(attempt) + ".sh";
}
std::string RunDir::default_cache_dir() const {
  return (fs::absolute(path_).parent_path() / ".cache").string();
}

std::string checkpoint_model_dir(const std::string& checkpoint) { return checkpoint + "/model"; }
std::string checkpoint_trainer_state(const std::string& checkpoint) {
  return checkpoint + "/trainer.json";
}
std::string checkpoint_optimizer_file(const std::string& checkpoint) {
  return checkpoint + "/optimizer.pt";
}
std::string quantizer_file(const std::string& model_or_checkpoint_dir) {
  return model_or_checkpoint_dir + "/quantizer.safetensors";
}

std::string rank_checkpoint_path(const std::string& checkpoint, int rank) {
  if (rank == 0) return checkpoint;
  const fs::path main(checkpoint);
  return (main.parent_path() / "workers" / ("rank-" + std::to_string(rank)) / main.filename())
      .string();
}

std::string RunDir::checkpoint_path(int64_t step) const {
  char buf[32];
  std::snprintf(buf, sizeof buf, "step-%08lld", static_cast<long long>(step));
  return checkpoints_dir() + "/" + buf;
}

void RunDir::create() const {
  for (const std::string& d : {path_, data_dir(), checkpoints_dir(), exports_dir()}) {
    std::error_code ec;
    fs::create_directories(d, ec);
    if (ec) throw Error(d + ": cannot create run directory: " + ec.message());
  }
}

bool RunDir::looks_like_run() const {
  std::error_code ec;
  return fs::exists(events_path(), ec) || fs::exists(config_path(), ec);
}

std::vector<std::pair<int64_t, std::string>> RunDir::checkpoints() const {
  std::vector<std::pair<int64_t, std::string>> out;
  std::error_code ec;
  for (fs::directory_iterator it(checkpoints_dir(), ec), end; !ec && it != end; it.increment(ec)) {
    std::string n = it->path().filename().string();
    if (n.rfind("step-", 0) != 0 || n.size() <= 5) continue;
    if (n.find_first_not_of("0123456789", 5) != std::string::npos) continue;
    out.emplace_back(std::stoll(n.substr(5)), it->path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

RunDir RunDir::create_new(const std::string& runs_root, const std::string& project_name,
                          std::time_t now) {
  if (project_name.empty() || project_name.find('/') != std::string::npos || project_name == "." ||
      project_name == "..")
    throw Error("project name '" + project_name + "' cannot name a run folder");
  fs::path parent = fs::path(runs_root) / project_name;
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec) throw Error(parent.string() + ": cannot create: " + ec.message());
  std::tm tm{};
  localtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
  for (int n = 0; n < 10000; ++n) {
    std::string leaf = n == 0 ? stamp : std::string(stamp) + "-" + std::to_string(n);
    fs::path candidate = parent / leaf;
    if (::mkdir(candidate.c_str(), 0777) == 0) {
      RunDir dir(candidate.string());
      dir.create();
      return dir;
    }
    if (errno != EEXIST)
      throw Error(candidate.string() + ": cannot create run directory: " + std::strerror(errno));
  }
  throw Error(parent.string() + ": too many runs started in the same second");
}

RunLock::RunLock(const RunDir& dir) {
  std::string path = dir.lock_path();
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw Error(path + ": cannot open lock file: " + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    char buf[32] = {0};
    ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
    ::close(fd_);
    fd_ = -1;
    std::string holder = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    holder = holder.empty() ? "another process" : "pid " + holder;
    if (err == EWOULDBLOCK)
      throw Error(dir.path() + ": run directory is in use (locked by " + holder + ")");
    throw Error(path + ": cannot lock: " + std::strerror(err));
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) == 0) {
    ssize_t ignored = ::pwrite(fd_, pid.data(), pid.size(), 0);
    (void)ignored;
  }
}

RunLock::~RunLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the descriptor releases the flock
}

RunLock::RunLock(RunLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }

RunLock& RunLock::operator=(RunLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

}  // namespace qatwb::run
