#include "core/model/safetensors_header.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/util/error.h"

namespace qatwb::model {

namespace {

using nlohmann::json;

constexpr uint64_t kMaxHeaderBytes = 100ull << 20;  // the format's own limit

const std::pair<const char*, int64_t> kDtypeSizes[] = {
    {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8},
    {"I32", 4}, {"I16", 2}, {"I8", 1},  {"U8", 1},   {"BOOL", 1}};

std::string tensor_label(const std::string& name) { return "tensor '" + name + "'"; }

}  // namespace

int64_t safetensors_dtype_size(const std::string& dtype) {
  for (const auto& [name, size] : kDtypeSizes)
    if (dtype == name) return size;
  return 0;
}

uint64_t parse_safetensors_header(const uint8_t* bytes, uint64_t file_size, const std::string& path,
                                  std::vector<SafetensorsEntry>& entries,
                                  std::map<std::string, std::string>& metadata) {
  auto fail = [&](const std::string& msg) -> Error { return Error(path + ": " + msg); };
  if (file_size < 8)
    throw fail("truncated: " + std::to_string(file_size) +
               " bytes, shorter than the 8-byte header length");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];
  if (header_len > file_size - 8)
    throw fail("truncated or corrupt: header length " + std::to_string(header_len) +
               " exceeds the " + std::to_string(file_size - 8) + " bytes after it");
  if (header_len > kMaxHeaderBytes)
    throw fail("header length " + std::to_string(header_len) + " exceeds the 100 MB limit");
  if (header_len < 2) throw fail("header too short to be a JSON object");
  const char* hdr = reinterpret_cast<const char*>(bytes + 8);
  json header;
  try {
    header = json::parse(hdr, hdr + header_len);
  } catch (const json::parse_error& e) {
    throw fail(std::string("corrupt header JSON: ") + e.what());
  }
  if (!header.is_object()) throw fail("header is not a JSON object");

  const uint64_t data_size = file_size - 8 - header_len;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const json& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) throw fail("'__metadata__' is not an object");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string())
          throw fail("'__metadata__' value of '" + m.key() + "' is not a string");
        metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string ctx = tensor_label(name);
    if (!v.is_object()) throw fail(ctx + ": header entry is not an object");
    auto field = [&](const char* key) -> const json& {
      auto p = v.find(key);
      if (p == v.end()) throw fail(ctx + ": missing '" + key + "'");
      return *p;
    };
    SafetensorsEntry e;
    e.name = name;
    const json& dtype = field("dtype");
    if (!dtype.is_string()) throw fail(ctx + ": 'dtype' is not a string");
    e.dtype = dtype.get<std::string>();
    const int64_t elem_size = safetensors_dtype_size(e.dtype);
    if (elem_size == 0)
      throw fail(ctx + ": unsupported dtype '" + e.dtype +
                 "' (supported: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)");
    const json& shape = field("shape");
    if (!shape.is_array()) throw fail(ctx + ": 'shape' is not an array");
    uint64_t numel = 1;
    for (const auto& d : shape) {
      if (!d.is_number_unsigned())
        throw fail(ctx + ": 'shape' holds a value that is not a non-negative integer");
      const uint64_t n = d.get<uint64_t>();
      if (n > (1ull << 48) || (n != 0 && numel > (1ull << 62) / n))
        throw fail(ctx + ": 'shape' is too large");
      numel *= n;
      e.shape.push_back(static_cast<int64_t>(n));
    }
    const json& offsets = field("data_offsets");
    if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
        !offsets[1].is_number_unsigned())
      throw fail(ctx + ": 'data_offsets' must be two non-negative integers");
    e.begin = offsets[0].get<uint64_t>();
    e.end = offsets[1].get<uint64_t>();
    if (e.end < e.begin)
      throw fail(ctx + ": data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                 "] end before they begin");
    if (e.end > data_size)
      throw fail(ctx + ": data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                 "] exceed the data section of " + std::to_string(data_size) +
                 " bytes (file truncated?)");
    const uint64_t expected = numel * static_cast<uint64_t>(elem_size);
    if (e.end - e.begin != expected)
      throw fail(ctx + ": shape and dtype " + e.dtype + " need " + std::to_string(expected) +
                 " bytes but data_offsets span " + std::to_string(e.end - e.begin));
    entries.push_back(std::move(e));
  }
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  // The spec: the data section is covered exactly, without holes or overlaps.
  uint64_t cursor = 0;
  std::string prev;
  for (const auto& e : entries) {
    if (e.begin < cursor)
      throw fail(tensor_label(e.name) + ": data_offsets overlap " + tensor_label(prev));
    if (e.begin > cursor)
      throw fail(tensor_label(e.name) + ": data_offsets leave a gap of " +
                 std::to_string(e.begin - cursor) + " bytes before it");
    cursor = e.end;
    prev = e.name;
  }
  if (cursor != data_size)
    throw fail("data section holds " + std::to_string(data_size) + " bytes but the tensors cover " +
               std::to_string(cursor) + " (trailing bytes or corrupt header)");
  return 8 + header_len;
}

}  // namespace qatwb::model
