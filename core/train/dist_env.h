// This process's place in a data-parallel run. The program's edge fills it from the environment
// that torchrun, srun and `qatwb run --nproc` set (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
// MASTER_PORT; app/environment.h).
#pragma once
#include <string>

namespace qatwb::train {

struct DistEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;

  bool enabled() const { return world_size > 1; }
  bool is_main() const { return rank == 0; }
};

}  // namespace qatwb::train
