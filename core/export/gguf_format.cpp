#include "core/export/gguf_format.h"

#include "core/util/error.h"

namespace qatwb::exporter {

const char* to_string(GgmlType t) {
  switch (t) {
    case GgmlType::F32: return "F32";
    case GgmlType::F16: return "F16";
    case GgmlType::Q4_0: return "Q4_0";
    case GgmlType::Q8_0: return "Q8_0";
  }
  return "?";
}

int64_t ggml_block_elements(GgmlType t) {
  return t == GgmlType::Q4_0 || t == GgmlType::Q8_0 ? 32 : 1;
}

int64_t ggml_block_bytes(GgmlType t) {
  switch (t) {
    case GgmlType::F32: return 4;
    case GgmlType::F16: return 2;
    case GgmlType::Q4_0: return 2 + 16;
    case GgmlType::Q8_0: return 2 + 32;
  }
  return 0;
}

bool ggml_type_known(uint32_t t) { return t == 0 || t == 1 || t == 2 || t == 8; }

GgufValue GgufValue::u32(uint32_t v) {
  GgufValue x;
  x.type = GgufType::U32;
  x.i = v;
  return x;
}
GgufValue GgufValue::i32(int32_t v) {
  GgufValue x;
  x.type = GgufType::I32;
  x.i = v;
  return x;
}
GgufValue GgufValue::u64(uint64_t v) {
  GgufValue x;
  x.type = GgufType::U64;
  x.i = static_cast<int64_t>(v);
  return x;
}
GgufValue GgufValue::f32(float v) {
  GgufValue x;
  x.type = GgufType::F32;
  x.f = v;
  return x;
}
GgufValue GgufValue::boolean(bool v) {
  GgufValue x;
  x.type = GgufType::Bool;
  x.i = v ? 1 : 0;
  return x;
}
GgufValue GgufValue::str(std::string v) {
  GgufValue x;
  x.type = GgufType::String;
  x.s = std::move(v);
  return x;
}
GgufValue GgufValue::str_array(std::vector<std::string> v) {
  GgufValue x;
  x.type = GgufType::Array;
  x.elem = GgufType::String;
  x.strs = std::move(v);
  return x;
}
GgufValue GgufValue::num_array(GgufType elem, std::vector<double> v) {
  GgufValue x;
  x.type = GgufType::Array;
  x.elem = elem;
  x.nums = std::move(v);
  return x;
}

bool GgufValue::is_integer() const {
  switch (type) {
    case GgufType::U8: case GgufType::I8: case GgufType::U16: case GgufType::I16:
    case GgufType::U32: case GgufType::I32: case GgufType::U64: case GgufType::I64:
    case GgufType::Bool:
      return true;
    default:
      return false;
  }
}

int64_t GgufValue::as_int(const std::string& key) const {
  if (!is_integer()) throw Error("gguf: " + key + ": expected an integer value");
  return i;
}

double GgufValue::as_double(const std::string& key) const {
  if (is_integer()) return static_cast<double>(i);
  if (type == GgufType::F32 || type == GgufType::F64) return f;
  throw Error("gguf: " + key + ": expected a number");
}

const std::string& GgufValue::as_string(const std::string& key) const {
  if (type != GgufType::String) throw Error("gguf: " + key + ": expected a string");
  return s;
}

uint64_t GgufTensorInfo::numel() const {
  uint64_t n = 1;
  for (uint64_t d : dims) n *= d;
  return n;
}

uint64_t GgufTensorInfo::nbytes() const {
  return numel() / static_cast<uint64_t>(ggml_block_elements(type)) *
         static_cast<uint64_t>(ggml_block_bytes(type));
}

}  // namespace qatwb::exporter
