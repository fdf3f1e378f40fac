// The safetensors header parser SafetensorsFile::open runs on every mapped file.
#include <map>
#include <vector>

#include "core/model/safetensors_header.h"
#include "core/util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<qatwb::model::SafetensorsEntry> entries;
  std::map<std::string, std::string> metadata;
  try {
    const uint64_t start =
        qatwb::model::parse_safetensors_header(data, size, "fuzz.safetensors", entries, metadata);
    if (start > size) __builtin_trap();  // the data section must lie inside the file
    for (const auto& e : entries)
      if (e.end > size - start || e.begin > e.end) __builtin_trap();
  } catch (const qatwb::Error&) {
  }
  return 0;
}
