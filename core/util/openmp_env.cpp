#include "core/util/openmp_env.h"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

namespace qatwb {
namespace {

// Runnable threads on the machine right now (including the caller), or -1 if unknown.
int procs_running() {
  std::ifstream in("/proc/stat");
  std::string key;
  long value = 0;
  while (in >> key) {
    if (key == "procs_running" && in >> value) return static_cast<int>(value);
    in.ignore(1 << 16, '\n');
  }
  return -1;
}

// True when, in at least half of 10 samples over 0.1 s, another thread wanted a core.
bool machine_busy() {
  int busy = 0, known = 0;
  for (int i = 0; i < 10; ++i) {
    const int n = procs_running();
    if (n >= 0) {
      ++known;
      if (n - 1 >= 1) ++busy;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return known > 0 && 2 * busy >= known;
}

}  // namespace

void ensure_openmp_wait_policy(char** argv) {
  // Decided already for this process (the re-executed image has the same pid).
  const std::string me = std::to_string(getpid());
  if (const char* pid = std::getenv("QATWB_OMP_POLICY_PID"); pid && me == pid) return;
  // Set by the user, not inherited from a qatwb parent (a sweep, a job): the user's choice.
  if (std::getenv("OMP_WAIT_POLICY") && !std::getenv("QATWB_OMP_POLICY")) return;
  const bool busy = machine_busy();
  setenv("QATWB_OMP_POLICY_PID", me.c_str(), 1);
  setenv("OMP_WAIT_POLICY", busy ? "passive" : "active", 1);
  setenv("QATWB_OMP_POLICY",
         busy ? "passive (other threads were runnable at start)" : "active (machine idle at start)",
         1);
  execv("/proc/self/exe", argv);
  // exec failed (no /proc): carry on with the defaults.
}

}  // namespace qatwb
