// GGUF v3 as typed values: metadata value types, ggml tensor types, and one in-memory value.
// File layout (little-endian): "GGUF", u32 version 3, u64 tensor count, u64 metadata count;
// metadata (u64-length string key, u32 type, value; arrays: u32 element type, u64 count,
// elements); tensor infos (name, u32 n_dims, u64 dims with ne0 innermost, u32 ggml type, u64
// offset into the data section); padding to general.alignment (default 32); the data section,
// every tensor starting on an aligned offset.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/quant/ggml_quant_type.h"

namespace qatwb::exporter {

inline constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" read as a little-endian u32
inline constexpr uint32_t kGgufVersion = 3;
inline constexpr uint64_t kGgufDefaultAlignment = 32;

enum class GgufType : uint32_t {
  U8 = 0,
  I8 = 1,
  U16 = 2,
  I16 = 3,
  U32 = 4,
  I32 = 5,
  F32 = 6,
  Bool = 7,
  String = 8,
  Array = 9,
  U64 = 10,
  I64 = 11,
  F64 = 12
};

enum class GgmlType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q8_0 = 8,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  TQ1_0 = 34,
  TQ2_0 = 35
};
const char* to_string(GgmlType t);
// Elements per block and bytes per block of a ggml type (F32: 1, 4; Q4_0: 32, 18; ...).
int64_t ggml_block_elements(GgmlType t);
int64_t ggml_block_bytes(GgmlType t);
bool ggml_type_known(uint32_t t);
// The block formats of core/quant/ggml_quant_type.h (Q4_0, Q8_0, K-quants, TQ*) by ggml type.
std::optional<quant::GgmlQuant> ggml_quant_of(GgmlType t);
GgmlType ggml_type_of(quant::GgmlQuant t);

// One metadata value. Numbers (scalars and array elements) are held as double / int64, which
// holds every u32, i32, f32 and u64 below 2^63 exactly.
struct GgufValue {
  GgufType type = GgufType::U32;
  GgufType elem = GgufType::U32;  // arrays
  int64_t i = 0;                  // integer scalars and bool
  double f = 0;                   // float scalars
  std::string s;                  // string
  std::vector<std::string> strs;  // string arrays
  std::vector<double> nums;       // numeric / bool arrays

  static GgufValue u32(uint32_t v);
  static GgufValue i32(int32_t v);
  static GgufValue u64(uint64_t v);
  static GgufValue f32(float v);
  static GgufValue boolean(bool v);
  static GgufValue str(std::string v);
  static GgufValue str_array(std::vector<std::string> v);
  static GgufValue num_array(GgufType elem, std::vector<double> v);

  bool is_integer() const;
  int64_t as_int(const std::string& key) const;    // throws unless an integer / bool
  double as_double(const std::string& key) const;  // integer or float
  const std::string& as_string(const std::string& key) const;
};

using GgufMetadata = std::vector<std::pair<std::string, GgufValue>>;

struct GgufTensorInfo {
  std::string name;
  std::vector<uint64_t> dims;  // ne0 (innermost) first
  GgmlType type = GgmlType::F32;
  uint64_t offset = 0;  // in the data section
  uint64_t numel() const;
  uint64_t nbytes() const;  // numel / block elements * block bytes
};

}  // namespace qatwb::exporter
