#include "core/export/gguf_reader.h"

#include <filesystem>
#include <fstream>
#include <set>

#include "core/util/error.h"

namespace qatwb::exporter {
namespace {

class In {
 public:
  In(const std::string& path, uint64_t size)
      : path_(path), f_(path, std::ios::binary), size_(size) {
    if (!f_) throw Error(path + ": cannot open");
  }
  void need(uint64_t n, const std::string& what) {
    if (n > size_ - pos_)
      throw Error(path_ + ": truncated at byte " + std::to_string(pos_) + " reading " + what);
  }
  template <typename T>
  T pod(const std::string& what) {
    need(sizeof(T), what);
    T v{};
    f_.read(reinterpret_cast<char*>(&v), sizeof v);
    pos_ += sizeof v;
    return v;
  }
  std::string str(const std::string& what) {
    const uint64_t n = pod<uint64_t>(what);
    need(n, what);
    std::string s(n, '\0');
    f_.read(s.data(), static_cast<std::streamsize>(n));
    pos_ += n;
    return s;
  }
  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }

 private:
  std::string path_;
  std::ifstream f_;
  uint64_t size_;
  uint64_t pos_ = 0;
};

uint64_t scalar_size(GgufType t) {
  switch (t) {
    case GgufType::U8:
    case GgufType::I8:
    case GgufType::Bool:
      return 1;
    case GgufType::U16:
    case GgufType::I16:
      return 2;
    case GgufType::U32:
    case GgufType::I32:
    case GgufType::F32:
      return 4;
    case GgufType::U64:
    case GgufType::I64:
    case GgufType::F64:
      return 8;
    default:
      return 0;
  }
}

// Reads one scalar of type t into (i, f).
void read_scalar(In& in, GgufType t, int64_t& i, double& f, const std::string& what) {
  switch (t) {
    case GgufType::U8:
      i = in.pod<uint8_t>(what);
      break;
    case GgufType::I8:
      i = in.pod<int8_t>(what);
      break;
    case GgufType::U16:
      i = in.pod<uint16_t>(what);
      break;
    case GgufType::I16:
      i = in.pod<int16_t>(what);
      break;
    case GgufType::U32:
      i = in.pod<uint32_t>(what);
      break;
    case GgufType::I32:
      i = in.pod<int32_t>(what);
      break;
    case GgufType::U64:
      i = static_cast<int64_t>(in.pod<uint64_t>(what));
      break;
    case GgufType::I64:
      i = in.pod<int64_t>(what);
      break;
    case GgufType::F32:
      f = in.pod<float>(what);
      break;
    case GgufType::F64:
      f = in.pod<double>(what);
      break;
    case GgufType::Bool: {
      const uint8_t b = in.pod<uint8_t>(what);
      if (b > 1) throw Error(what + ": bool value " + std::to_string(b));
      i = b;
      break;
    }
    default:
      throw Error(what + ": unexpected type");
  }
}

bool valid_type(uint32_t t) { return t <= 12; }

}  // namespace

GgufFile GgufFile::open(const std::string& path) {
  GgufFile g;
  g.path_ = path;
  std::error_code ec;
  g.file_size_ = std::filesystem::file_size(path, ec);
  if (ec) throw Error(path + ": cannot read: " + ec.message());
  In in(path, g.file_size_);
  if (in.pod<uint32_t>("magic") != kGgufMagic) throw Error(path + ": not a GGUF file (bad magic)");
  g.version_ = in.pod<uint32_t>("version");
  if (g.version_ != 3 && g.version_ != 2)
    throw Error(path + ": GGUF version " + std::to_string(g.version_) + " is not supported");
  const uint64_t n_tensors = in.pod<uint64_t>("tensor count");
  const uint64_t n_kv = in.pod<uint64_t>("metadata count");
  // Every entry takes at least 8 bytes, which bounds the counts by the file size.
  if (n_kv > in.remaining() / 8 || n_tensors > in.remaining() / 8)
    throw Error(path + ": tensor/metadata counts exceed the file size");
  std::set<std::string> keys;
  for (uint64_t k = 0; k < n_kv; ++k) {
    const std::string where = path + ": metadata entry " + std::to_string(k);
    std::string key = in.str(where + " key");
    const std::string what = path + ": " + key;
    if (!keys.insert(key).second) throw Error(what + ": duplicate metadata key");
    const uint32_t type = in.pod<uint32_t>(what + " type");
    if (!valid_type(type)) throw Error(what + ": unknown value type " + std::to_string(type));
    GgufValue v;
    v.type = static_cast<GgufType>(type);
    if (v.type == GgufType::String) {
      v.s = in.str(what);
    } else if (v.type == GgufType::Array) {
      const uint32_t elem = in.pod<uint32_t>(what + " element type");
      if (!valid_type(elem) || elem == static_cast<uint32_t>(GgufType::Array))
        throw Error(what + ": unsupported array element type " + std::to_string(elem));
      v.elem = static_cast<GgufType>(elem);
      const uint64_t count = in.pod<uint64_t>(what + " count");
      const uint64_t min_size = v.elem == GgufType::String ? 8 : scalar_size(v.elem);
      if (count > in.remaining() / min_size)
        throw Error(what + ": array count " + std::to_string(count) + " exceeds the file");
      if (v.elem == GgufType::String) {
        v.strs.reserve(count);
        for (uint64_t j = 0; j < count; ++j) v.strs.push_back(in.str(what));
      } else {
        v.nums.reserve(count);
        for (uint64_t j = 0; j < count; ++j) {
          int64_t i = 0;
          double f = 0;
          read_scalar(in, v.elem, i, f, what);
          v.nums.push_back(
              v.elem == GgufType::F32 || v.elem == GgufType::F64 ? f : static_cast<double>(i));
        }
      }
    } else {
      read_scalar(in, v.type, v.i, v.f, what);
    }
    if (key == "general.alignment") {
      const int64_t a = v.as_int(key);
      if (a <= 0 || (a & (a - 1)) != 0) throw Error(what + ": not a power of two");
      g.alignment_ = static_cast<uint64_t>(a);
    }
    g.metadata_.emplace_back(std::move(key), std::move(v));
  }
  std::set<std::string> names;
  for (uint64_t k = 0; k < n_tensors; ++k) {
    const std::string where = path + ": tensor info " + std::to_string(k);
    GgufTensorInfo t;
    t.name = in.str(where + " name");
    const std::string what = path + ": tensor " + t.name;
    if (!names.insert(t.name).second) throw Error(what + ": duplicate tensor name");
    const uint32_t nd = in.pod<uint32_t>(what + " n_dims");
    if (nd == 0 || nd > 4) throw Error(what + ": n_dims " + std::to_string(nd) + " not in 1..4");
    uint64_t numel = 1;
    for (uint32_t d = 0; d < nd; ++d) {
      const uint64_t dim = in.pod<uint64_t>(what + " dims");
      if (dim == 0 || dim > (uint64_t{1} << 40) || numel > (uint64_t{1} << 50) / dim)
        throw Error(what + ": dimension " + std::to_string(dim) + " out of range");
      numel *= dim;
      t.dims.push_back(dim);
    }
    const uint32_t type = in.pod<uint32_t>(what + " type");
    if (!ggml_type_known(type))
      throw Error(what + ": ggml type " + std::to_string(type) +
                  " is not supported by this "
                  "reader (F32, F16, Q4_0, Q8_0)");
    t.type = static_cast<GgmlType>(type);
    if (t.dims[0] % static_cast<uint64_t>(ggml_block_elements(t.type)) != 0)
      throw Error(what + ": ne0 " + std::to_string(t.dims[0]) + " is not a multiple of the " +
                  to_string(t.type) + " block size");
    t.offset = in.pod<uint64_t>(what + " offset");
    g.tensors_.push_back(std::move(t));
  }
  g.data_offset_ = (in.pos() + g.alignment_ - 1) / g.alignment_ * g.alignment_;
  for (const auto& t : g.tensors_) {
    const std::string what = path + ": tensor " + t.name;
    if (t.offset % g.alignment_ != 0) throw Error(what + ": offset is not aligned");
    if (g.data_offset_ > g.file_size_ || t.offset > g.file_size_ - g.data_offset_ ||
        t.nbytes() > g.file_size_ - g.data_offset_ - t.offset)
      throw Error(what + ": data runs past the end of the file (truncated?)");
  }
  return g;
}

const GgufValue* GgufFile::find(const std::string& key) const {
  for (const auto& [k, v] : metadata_)
    if (k == key) return &v;
  return nullptr;
}

const GgufValue& GgufFile::at(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) throw Error(path_ + ": metadata key " + key + " is missing");
  return *v;
}

const GgufTensorInfo* GgufFile::find_tensor(const std::string& name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

std::string GgufFile::tensor_bytes(const std::string& name) const {
  const GgufTensorInfo* t = find_tensor(name);
  if (!t) throw Error(path_ + ": no tensor " + name);
  std::ifstream f(path_, std::ios::binary);
  f.seekg(static_cast<std::streamoff>(data_offset_ + t->offset));
  std::string bytes(t->nbytes(), '\0');
  f.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!f) throw Error(path_ + ": tensor " + name + ": cannot read its data");
  return bytes;
}

}  // namespace qatwb::exporter
