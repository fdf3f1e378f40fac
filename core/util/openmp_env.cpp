#include "core/util/openmp_env.h"

#include <unistd.h>

#include <cstdlib>

namespace qatwb {

void ensure_openmp_wait_policy(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY")) return;
  setenv("OMP_WAIT_POLICY", "passive", 1);
  execv("/proc/self/exe", argv);
  // exec failed (no /proc): carry on with the defaults.
}

}  // namespace qatwb
