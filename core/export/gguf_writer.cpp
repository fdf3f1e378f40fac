#include "core/export/gguf_writer.h"

#include <fstream>

#include "core/util/error.h"

namespace qatwb::exporter {
namespace {

class Out {
 public:
  explicit Out(const std::string& path)
      : path_(path), f_(path, std::ios::binary | std::ios::trunc) {
    if (!f_) throw Error(path + ": cannot create");
  }
  template <typename T>
  void pod(T v) {
    f_.write(reinterpret_cast<const char*>(&v), sizeof v);
    pos_ += sizeof v;
  }
  void raw(const std::string& s) {
    f_.write(s.data(), static_cast<std::streamsize>(s.size()));
    pos_ += s.size();
  }
  void str(const std::string& s) {
    pod<uint64_t>(s.size());
    raw(s);
  }
  void pad(uint64_t alignment) {
    const uint64_t n = (alignment - pos_ % alignment) % alignment;
    raw(std::string(n, '\0'));
  }
  void finish() {
    f_.flush();
    if (!f_) throw Error(path_ + ": write failed (disk full?)");
    f_.close();
  }

 private:
  std::string path_;
  std::ofstream f_;
  uint64_t pos_ = 0;
};

void write_scalar(Out& o, GgufType t, int64_t i, double f, const std::string& key) {
  switch (t) {
    case GgufType::U8:
      o.pod<uint8_t>(static_cast<uint8_t>(i));
      break;
    case GgufType::I8:
      o.pod<int8_t>(static_cast<int8_t>(i));
      break;
    case GgufType::U16:
      o.pod<uint16_t>(static_cast<uint16_t>(i));
      break;
    case GgufType::I16:
      o.pod<int16_t>(static_cast<int16_t>(i));
      break;
    case GgufType::U32:
      o.pod<uint32_t>(static_cast<uint32_t>(i));
      break;
    case GgufType::I32:
      o.pod<int32_t>(static_cast<int32_t>(i));
      break;
    case GgufType::U64:
      o.pod<uint64_t>(static_cast<uint64_t>(i));
      break;
    case GgufType::I64:
      o.pod<int64_t>(i);
      break;
    case GgufType::F32:
      o.pod<float>(static_cast<float>(f));
      break;
    case GgufType::F64:
      o.pod<double>(f);
      break;
    case GgufType::Bool:
      o.pod<uint8_t>(i ? 1 : 0);
      break;
    default:
      throw Error("gguf: " + key + ": not a scalar type");
  }
}

bool is_float(GgufType t) { return t == GgufType::F32 || t == GgufType::F64; }

}  // namespace

void write_gguf(const std::string& path, const GgufMetadata& metadata,
                const std::vector<GgufTensorOut>& tensors) {
  uint64_t alignment = kGgufDefaultAlignment;
  for (const auto& [k, v] : metadata)
    if (k == "general.alignment") alignment = static_cast<uint64_t>(v.as_int(k));
  if (alignment == 0 || (alignment & (alignment - 1)) != 0)
    throw Error("gguf: general.alignment must be a power of two");
  Out o(path);
  o.pod<uint32_t>(kGgufMagic);
  o.pod<uint32_t>(kGgufVersion);
  o.pod<uint64_t>(tensors.size());
  o.pod<uint64_t>(metadata.size());
  for (const auto& [key, v] : metadata) {
    o.str(key);
    o.pod<uint32_t>(static_cast<uint32_t>(v.type));
    if (v.type == GgufType::String) {
      o.str(v.s);
    } else if (v.type == GgufType::Array) {
      o.pod<uint32_t>(static_cast<uint32_t>(v.elem));
      if (v.elem == GgufType::String) {
        o.pod<uint64_t>(v.strs.size());
        for (const auto& s : v.strs) o.str(s);
      } else {
        o.pod<uint64_t>(v.nums.size());
        for (double x : v.nums)
          write_scalar(o, v.elem, is_float(v.elem) ? 0 : static_cast<int64_t>(x), x, key);
      }
    } else {
      write_scalar(o, v.type, v.i, v.f, key);
    }
  }
  uint64_t offset = 0;
  std::vector<uint64_t> sizes;
  for (const auto& t : tensors) {
    GgufTensorInfo info{t.name, t.dims, t.type, offset};
    if (t.dims.empty() || info.numel() % static_cast<uint64_t>(ggml_block_elements(t.type)) != 0 ||
        (!t.dims.empty() && t.dims[0] % static_cast<uint64_t>(ggml_block_elements(t.type)) != 0))
      throw Error("gguf: " + t.name + ": ne0 is not a multiple of the " + to_string(t.type) +
                  " block size");
    o.str(t.name);
    o.pod<uint32_t>(static_cast<uint32_t>(t.dims.size()));
    for (uint64_t d : t.dims) o.pod<uint64_t>(d);
    o.pod<uint32_t>(static_cast<uint32_t>(t.type));
    o.pod<uint64_t>(offset);
    sizes.push_back(info.nbytes());
    offset += (info.nbytes() + alignment - 1) / alignment * alignment;
  }
  o.pad(alignment);
  for (size_t k = 0; k < tensors.size(); ++k) {
    const std::string bytes = tensors[k].bytes();
    if (bytes.size() != sizes[k])
      throw Error("gguf: " + tensors[k].name + ": " + std::to_string(bytes.size()) +
                  " bytes of data, expected " + std::to_string(sizes[k]));
    o.raw(bytes);
    o.pad(alignment);
  }
  o.finish();
}

}  // namespace qatwb::exporter
