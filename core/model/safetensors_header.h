// The safetensors header (8-byte length + JSON) parsed and validated without LibTorch, so that
// fuzz/safetensors_header.cpp can exercise exactly what SafetensorsFile::open runs on a file.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace qatwb::model {

struct SafetensorsEntry {
  std::string name;
  std::string dtype;  // "F32", "F16", "BF16", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL"
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets inside the data section
  uint64_t end = 0;
};

// Bytes per element of a safetensors dtype name; 0 when it is not one this project reads.
int64_t safetensors_dtype_size(const std::string& dtype);

// Validates the header of a whole file image `bytes[0, size)`: length, JSON, every entry's
// dtype, shape and data_offsets, and that the tensors cover the data section exactly. Fills
// `entries` (sorted by offset) and `metadata`, returns the offset of the data section. Throws
// qatwb::Error prefixed by `path` for anything malformed.
uint64_t parse_safetensors_header(const uint8_t* bytes, uint64_t size, const std::string& path,
                                  std::vector<SafetensorsEntry>& entries,
                                  std::map<std::string, std::string>& metadata);

}  // namespace qatwb::model
