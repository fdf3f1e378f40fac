// The one place that knows the layout of a run directory:
//   <run>/config.yaml          the resolved project (project::to_yaml)
//   <run>/events.jsonl         the event log (event_log.h), appended by the worker
//   <run>/worker.log           the worker's stdout/stderr
//   <run>/.lock                held (flock) by the process running in the directory
//   <run>/.job/                a job's wrapper state (core/jobs/worker_wrapper.h): pid,
//                              worker_pid, exit; sbatch-N.sh (the Slurm script of attempt N)
//   <run>/data/                sampled documents and token shards
//   <run>/checkpoints/step-00000100/   one folder per checkpoint (written by core/train):
//       model/ (HF layout), quantizer.safetensors, optimizer.pt, trainer.json,
//       easgd_centre.safetensors (EASGD)
//   <run>/checkpoints/workers/rank-R/step-00000100/   data-parallel rank R's own part of that
//                              checkpoint (its ZeRO-1 optimizer shard, its EASGD replica)
//   <run>/model/               the final model (HF layout) and its quantizer.safetensors
//   <run>/exports/             exported formats: <format>/ folders, model.gguf
// Beside the run: <run>/../.cache/, the data cache shared by the runs of one folder.
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
  std::string export_dir(const std::string& format) const;  // exports/<format>
  std::string gguf_export_path() const;                     // exports/model.gguf
  std::string job_dir() const;                              // .job
  std::string job_pid_path() const;                         // .job/pid
  std::string job_exit_path() const;                        // .job/exit
  std::string sbatch_script_path(int attempt) const;        // .job/sbatch-<attempt>.sh
  // <run>/../.cache (absolute): the data cache shared by runs beside each other.
  std::string default_cache_dir() const;

  // True when the run has written its event log.
  bool has_events() const;

  // Names relative to the run folder, for shells that run inside it (ssh, Slurm scripts).
  static constexpr const char* kEventsFile = "events.jsonl";
  static constexpr const char* kLogFile = "worker.log";
  static constexpr const char* kJobDir = ".job";
  static constexpr const char* kCheckpointsDir = "checkpoints";
  // Names inside the job folder (the wrapper script writes them there).
  static constexpr const char* kJobPidFile = "pid";
  static constexpr const char* kJobWorkerPidFile = "worker_pid";
  static constexpr const char* kJobExitFile = "exit";

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
// The EASGD centre's file inside a checkpoint folder.
inline constexpr const char* kEasgdCentreFile = "easgd_centre.safetensors";
// Data-parallel rank R's part of the checkpoint <run>/checkpoints/step-N:
// <run>/checkpoints/workers/rank-R/step-N (rank 0: the checkpoint itself).
std::string rank_checkpoint_path(const std::string& checkpoint, int rank);

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
