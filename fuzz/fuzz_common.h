// Shared by the libFuzzer targets: most readers take a path, so the input is written to a file
// private to this fuzzing process first. Every reader must either succeed or throw
// qatwb::Error; anything else (a crash, a sanitizer report, another exception, an allocation
// libFuzzer's -rss_limit_mb catches) is a finding.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

namespace qatwb::fuzz {

// Writes the input to <tmp>/qatwb-fuzz-<pid>/<name> and returns that path.
inline std::string input_file(const uint8_t* data, size_t size, const std::string& name) {
  const char* tmp = std::getenv("TMPDIR");
  const std::string dir =
      std::string(tmp && *tmp ? tmp : "/tmp") + "/qatwb-fuzz-" + std::to_string(getpid());
  static bool made = false;
  if (!made) {
    std::string cmd = "mkdir -p '" + dir + "'";
    if (std::system(cmd.c_str()) != 0) std::abort();
    made = true;
  }
  const std::string path = dir + "/" + name;
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (size) std::fwrite(data, 1, size, f);
  std::fclose(f);
  return path;
}

}  // namespace qatwb::fuzz
