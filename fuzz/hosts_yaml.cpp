// hosts.yaml for the ssh launcher.
#include "core/jobs/hosts_config.h"
#include "core/util/error.h"
#include "fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = qatwb::fuzz::input_file(data, size, "hosts.yaml");
  try {
    const auto c = qatwb::jobs::load_hosts_config(path, "/home/fuzz");
    for (const auto& [name, h] : c.hosts) (void)h.destination();
  } catch (const qatwb::Error&) {
  }
  return 0;
}
