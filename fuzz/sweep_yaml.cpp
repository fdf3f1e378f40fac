// Sweep files for `qatwb batch` (grid / list expansion, names). Its `base:` names a project
// that does not exist here, so loading fails after the sweep itself was read and expanded.
#include "core/sweep/sweep_spec.h"
#include "core/util/error.h"
#include "fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = qatwb::fuzz::input_file(data, size, "sweep.yaml");
  try {
    const auto s = qatwb::sweep::load_sweep(path);
    for (const auto& p : s.points) (void)p;
  } catch (const qatwb::Error&) {
  }
  return 0;
}
