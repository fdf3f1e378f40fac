#include "core/export/gguf_format.h"

#include "core/quant/ggml_quant_type.h"

#include "core/util/error.h"

namespace qatwb::exporter {

namespace {

const quant::GgmlQuantSpec* block_spec(GgmlType t) {
  for (const auto& s : quant::kGgmlQuantSpecs)
    if (s.ggml_id == static_cast<uint32_t>(t)) return &s;
  return nullptr;
}

}  // namespace

const char* to_string(GgmlType t) {
  switch (t) {
    case GgmlType::F32:
      return "F32";
    case GgmlType::F16:
      return "F16";
    case GgmlType::Q4_0:
      return "Q4_0";
    case GgmlType::Q8_0:
      return "Q8_0";
    case GgmlType::Q2_K:
      return "Q2_K";
    case GgmlType::Q3_K:
      return "Q3_K";
    case GgmlType::Q4_K:
      return "Q4_K";
    case GgmlType::Q5_K:
      return "Q5_K";
    case GgmlType::Q6_K:
      return "Q6_K";
    case GgmlType::TQ1_0:
      return "TQ1_0";
    case GgmlType::TQ2_0:
      return "TQ2_0";
  }
  return "?";
}

int64_t ggml_block_elements(GgmlType t) {
  const auto* s = block_spec(t);
  return s ? s->block : 1;
}

int64_t ggml_block_bytes(GgmlType t) {
  if (t == GgmlType::F32) return 4;
  if (t == GgmlType::F16) return 2;
  const auto* s = block_spec(t);
  return s ? s->block_bytes : 0;
}

bool ggml_type_known(uint32_t t) {
  return t == 0 || t == 1 || block_spec(static_cast<GgmlType>(t)) != nullptr;
}

std::optional<quant::GgmlQuant> ggml_quant_of(GgmlType t) {
  const auto* s = block_spec(t);
  if (!s) return std::nullopt;
  return s->type;
}

GgmlType ggml_type_of(quant::GgmlQuant t) {
  return static_cast<GgmlType>(quant::ggml_quant_spec(t).ggml_id);
}

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
    case GgufType::U8:
    case GgufType::I8:
    case GgufType::U16:
    case GgufType::I16:
    case GgufType::U32:
    case GgufType::I32:
    case GgufType::U64:
    case GgufType::I64:
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
