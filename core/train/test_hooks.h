// Fault-injection hooks of the trainer (README, "Tests"). The program's edge fills them from the
// environment (app/environment.h):
//   QATWB_TEST_NAN_STEPS=2,3        poison the loss of those steps
//   QATWB_TEST_STOP_AT_STEP=N       stop as if signalled once N steps are done
//   QATWB_TEST_CRASH_RANK_AT=R:S    rank R dies (exit 3, no end event) once S steps are done
#pragma once
#include <cstdint>
#include <vector>

namespace qatwb::train {

struct TrainerTestHooks {
  std::vector<int64_t> nan_steps;
  int64_t stop_at_step = -1;
  int64_t crash_rank = -1, crash_at_step = -1;
};

}  // namespace qatwb::train
