// The one place that knows the layout of a run directory:
//   <run>/config.yaml          the resolved project (project::to_yaml)
//   <run>/events.jsonl         the event log (event_log.h), appended by the worker
//   <run>/worker.log           the worker's stdout/stderr
//   <run>/.lock                held (flock) by the process running in the directory
//   <run>/data/                sampled documents and token shards
//   <run>/checkpoints/step-00000100/   one folder per checkpoint (written by core/train):
//       model/ (HF layout), quantizer.safetensors, optimizer.pt, trainer.json
//   <run>/model/               the final model (HF layout) and its quantizer.safetensors
//   <run>/exports/             exported formats (GPTQ, GGUF, ...)
// Default location of a new run: <runs_root>/<project-name>/<YYYYmmdd-HHMMSS>[-N].
#pragma once
#include <cstdint>
#include <ctime>
#include <string>
#include <utility>
#include <vector>

namespace qatwb::run {

class RunDir {
 public:
  explicit RunDir(std::string path);

  const std::string& path() const { return path_; }
  // The folder's name (the default run name).
  std::string name() const;
  std::string config_path() const;
  std::string events_path() const;
  std::string log_path() const;
  std::string lock_path() const;
  std::string data_dir() const;
  std::string checkpoints_dir() const;
  std::string checkpoint_path(int64_t step) const;  // checkpoints/step-%08d
  std::string model_dir() const;
  std::string exports_dir() const;

  // True when the run has written its event log.
  bool has_events() const;

  // Names relative to the run folder, for shells that run inside it (ssh, Slurm scripts).
  static constexpr const char* kEventsFile = "events.jsonl";
  static constexpr const char* kLogFile = "worker.log";

  // Creates the directory and its subfolders (mkdir -p). Throws qatwb::Error naming the path.
  void create() const;
  // True when the folder holds an event log or a config (looks like a run).
  bool looks_like_run() const;
  // Checkpoints present on disk, sorted by step.
  std::vector<std::pair<int64_t, std::string>> checkpoints() const;

  // Creates a fresh run folder <runs_root>/<project_name>/<YYYYmmdd-HHMMSS>[-N] (local time of
  // `now`) and returns it; mkdir is atomic, so two processes never get the same folder.
  static RunDir create_new(const std::string& runs_root, const std::string& project_name,
                           std::time_t now = std::time(nullptr));

 private:
  std::string path_;
};

// Inside a checkpoint folder (or, for the quantizer, the final model folder).
std::string checkpoint_model_dir(const std::string& checkpoint);
std::string checkpoint_trainer_state(const std::string& checkpoint);   // trainer.json
std::string checkpoint_optimizer_file(const std::string& checkpoint);  // optimizer.pt
std::string quantizer_file(const std::string& model_or_checkpoint_dir);

// An exclusive lock on a run directory (flock on <run>/.lock, which also records the pid). Held
// until destruction or process death; a second holder (any process) gets qatwb::Error.
class RunLock {
 public:
  explicit RunLock(const RunDir& dir);
  ~RunLock();
  RunLock(RunLock&& other) noexcept;
  RunLock& operator=(RunLock&& other) noexcept;
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace qatwb::run
