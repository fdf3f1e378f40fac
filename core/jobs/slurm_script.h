// Slurm without a scheduler: the sbatch script a job submits and the parsers for what sbatch,
// squeue, scontrol and sacct print. Pure functions, tested against recorded outputs.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "core/jobs/job.h"

namespace qatwb::jobs {

// The batch script. #SBATCH lines from `opts`; the body exports MASTER_ADDR (the first host of
// SLURM_JOB_NODELIST, via `scontrol show hostnames`) and MASTER_PORT, then starts one worker per
// task with srun, each with RANK=SLURM_PROCID, WORLD_SIZE=SLURM_NTASKS, LOCAL_RANK=SLURM_LOCALID
// (c10d env://). Throws qatwb::Error for an option that would break the script (a newline).
std::string make_sbatch_script(const SlurmOptions& opts, const std::vector<std::string>& worker);

// One task of a job array: its worker command, run directory (working directory) and log.
struct SlurmArrayTask {
  std::vector<std::string> worker;
  std::string run_dir;
  std::string log;  // the task's stdout/stderr are appended here
};
// A job array (#SBATCH --array=0-(n-1)[%max_parallel]): the same #SBATCH lines and rendezvous as
// make_sbatch_script, then task SLURM_ARRAY_TASK_ID runs tasks[i] (cd to its run directory, output
// appended to its log, srun as above). max_parallel <= 0: no limit.
std::string make_sbatch_array_script(const SlurmOptions& opts,
                                     const std::vector<SlurmArrayTask>& tasks, int max_parallel);

// `sbatch --parsable` prints "jobid[;cluster]". Throws qatwb::Error on anything else.
std::string parse_sbatch_output(const std::string& out);

struct SlurmStatus {
  std::string state;             // PENDING, RUNNING, COMPLETED, ... ("" when the job is unknown)
  std::string reason;            // pending reason / scontrol Reason
  std::optional<int> exit_code;  // from ExitCode "code:signal" (128+signal when signalled)
};
// `squeue -h -j ID -o %T|%r` -> state and reason; nullopt when the job is not listed.
std::optional<SlurmStatus> parse_squeue(const std::string& out);
// `scontrol show job -o ID` (one line of Key=Value pairs).
std::optional<SlurmStatus> parse_scontrol(const std::string& out);
// `sacct -n -P -j ID -o JobID,State,ExitCode`: the allocation row (no step rows, "a.b").
std::optional<SlurmStatus> parse_sacct(const std::string& out, const std::string& job_id);

enum class SlurmGroup { Queued, Running, Completed, Cancelled, Failed };
// States per the table in the reference (PENDING/CONFIGURING/REQUEUED... -> queued, RUNNING/
// COMPLETING/SUSPENDED -> running, COMPLETED, CANCELLED, everything else -> failed).
SlurmGroup slurm_group(const std::string& state);

}  // namespace qatwb::jobs
