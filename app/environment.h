// Every environment variable that `qatwb` reads, read once here at the program's edge and handed
// to core as plain values (core reads no environment; README, "Environment variables"):
//   QATWB_DB                   run database when --db is not given
//   QATWB_HOSTS, HOME          ssh hosts file when --hosts is not given; HOME: what ~/ means in it
//   QATWB_CACHE                the data cache of `qatwb run`
//   QATWB_THREADS_PER_RANK     intra-op threads of each data-parallel rank
//   OMP_WAIT_POLICY, QATWB_OMP_POLICY   the OpenMP wait policy and why (core/util/openmp_env.h)
//   RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT   the data-parallel rank (torchrun,
//                              srun, `qatwb run --nproc`)
//   QATWB_TEST_NAN_STEPS, QATWB_TEST_STOP_AT_STEP, QATWB_TEST_CRASH_RANK_AT   trainer test hooks
// Values are parsed when asked for, so a malformed RANK fails `qatwb run`, not `qatwb runs list`.
#pragma once
#include <map>
#include <string>

#include "core/train/dist_env.h"
#include "core/train/test_hooks.h"

namespace qatwb::app {

class Environment {
 public:
  // Exactly these variables set (name -> value); the rest unset.
  explicit Environment(std::map<std::string, std::string> values);
  // The variables above, as this process's environment has them now.
  static Environment read();

  std::string db_path() const;     // $QATWB_DB, else runs/qatwb.sqlite
  std::string hosts_file() const;  // $QATWB_HOSTS, else $HOME/.config/qatwb/hosts.yaml
  std::string home() const;        // $HOME ("" when unset)
  std::string cache_root() const;  // $QATWB_CACHE ("" : the run's default)
  // $QATWB_THREADS_PER_RANK (0 when unset or empty); throws qatwb::Error unless positive.
  int threads_per_rank() const;
  // How the OpenMP wait policy was chosen, for the run log: $QATWB_OMP_POLICY (qatwb's own
  // choice and reason), else the user's $OMP_WAIT_POLICY, else "".
  std::string openmp_note() const;
  // RANK (0), WORLD_SIZE (1), LOCAL_RANK (RANK), MASTER_ADDR (127.0.0.1), MASTER_PORT (29500);
  // throws qatwb::Error naming a malformed one.
  train::DistEnv dist() const;
  // QATWB_TEST_*; throws qatwb::Error naming a malformed one.
  train::TrainerTestHooks test_hooks() const;

 private:
  const std::string* find(const char* name) const;  // null when unset
  std::string value_or_empty(const char* name) const;
  int non_negative(const char* name, int fallback) const;
  std::map<std::string, std::string> values_;
};

// This process's environment, read on first use (after main's OpenMP re-exec) and kept.
const Environment& environment();

}  // namespace qatwb::app
