#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/model/safetensors.h"
#include "core/util/error.h"

namespace qatwb::model {

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

struct DtypeInfo {
  const char* name;
  torch::ScalarType type;
  int64_t size;
};

const DtypeInfo kDtypes[] = {
    {"F64", torch::kFloat64, 8},   {"F32", torch::kFloat32, 4}, {"F16", torch::kFloat16, 2},
    {"BF16", torch::kBFloat16, 2}, {"I64", torch::kInt64, 8},   {"I32", torch::kInt32, 4},
    {"I16", torch::kInt16, 2},     {"I8", torch::kInt8, 1},     {"U8", torch::kUInt8, 1},
    {"BOOL", torch::kBool, 1},
};

const DtypeInfo* dtype_info(const std::string& name) {
  for (const auto& d : kDtypes)
    if (name == d.name) return &d;
  return nullptr;
}

}  // namespace

torch::ScalarType safetensors_scalar_type(const std::string& dtype, const std::string& context) {
  if (const auto* d = dtype_info(dtype)) return d->type;
  throw Error(context + ": unsupported dtype '" + dtype +
              "' (supported: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)");
}

std::string safetensors_dtype_name(torch::ScalarType type, const std::string& context) {
  for (const auto& d : kDtypes)
    if (d.type == type) return d.name;
  throw Error(context + ": dtype " + std::string(c10::toString(type)) +
              " cannot be stored in safetensors here");
}

struct SafetensorsFile::Mapping {
  void* addr = nullptr;
  size_t size = 0;
  ~Mapping() {
    if (addr && addr != MAP_FAILED) munmap(addr, size);
  }
};

SafetensorsFile::~SafetensorsFile() = default;

std::shared_ptr<const SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  std::shared_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = path;
  auto fail = [&](const std::string& msg) -> Error { return Error(path + ": " + msg); };

  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw fail(std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw fail("not a regular file");
  }
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  if (file_size < 8) {
    ::close(fd);
    throw fail("truncated: " + std::to_string(file_size) +
               " bytes, shorter than the 8-byte header length");
  }
  auto mapping = std::make_shared<Mapping>();
  mapping->size = file_size;
  // Private and writable: tensors viewing the file can be modified without touching it.
  mapping->addr = mmap(nullptr, file_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (mapping->addr == MAP_FAILED) throw fail(std::string("mmap failed: ") + std::strerror(errno));
  f->mapping_ = mapping;
  const auto* bytes = static_cast<const uint8_t*>(mapping->addr);

  const uint64_t data_start =
      parse_safetensors_header(bytes, file_size, path, f->entries_, f->metadata_);
  f->data_ = bytes + data_start;
  for (size_t i = 0; i < f->entries_.size(); ++i) f->index_[f->entries_[i].name] = i;
  return f;
}

const SafetensorsEntry* SafetensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

torch::Tensor SafetensorsFile::tensor(const std::string& name) const {
  const SafetensorsEntry* e = find(name);
  if (!e) throw Error(path_ + ": no tensor '" + name + "'");
  const auto* info = dtype_info(e->dtype);
  const auto options = torch::TensorOptions().dtype(info->type);
  uint8_t* ptr = const_cast<uint8_t*>(data_ + e->begin);
  if (e->end == e->begin) return torch::empty(e->shape, options);
  if (reinterpret_cast<uintptr_t>(ptr) % static_cast<uintptr_t>(info->size) == 0) {
    auto keep = mapping_;
    return torch::from_blob(
        ptr, e->shape, [keep](void*) {}, options);
  }
  auto out = torch::empty(e->shape, options);
  std::memcpy(out.data_ptr(), ptr, e->end - e->begin);
  return out;
}

SafetensorsReader SafetensorsReader::open(const std::string& path) {
  SafetensorsReader r;
  fs::path p(path);
  std::error_code ec;
  if (fs::is_directory(p, ec)) {
    if (fs::exists(p / "model.safetensors.index.json"))
      p = p / "model.safetensors.index.json";
    else if (fs::exists(p / "model.safetensors"))
      p = p / "model.safetensors";
    else
      throw Error(path + ": no model.safetensors or model.safetensors.index.json in directory");
  }
  const std::string file = p.string();
  const bool is_index = file.size() >= 5 && file.compare(file.size() - 5, 5, ".json") == 0;
  if (!is_index) {
    r.files_.push_back(SafetensorsFile::open(file));
    for (const auto& e : r.files_[0]->entries()) {
      r.where_[e.name] = 0;
      r.order_.emplace_back(e.name, 0);
    }
    return r;
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error(file + ": cannot open index");
  std::stringstream ss;
  ss << in.rdbuf();
  json index;
  try {
    index = json::parse(ss.str());
  } catch (const json::parse_error& e) {
    throw Error(file + ": invalid JSON: " + e.what());
  }
  if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object())
    throw Error(file + ": missing object 'weight_map'");
  std::map<std::string, size_t> file_ids;
  std::map<std::string, std::string> name_to_file;
  for (auto it = index["weight_map"].begin(); it != index["weight_map"].end(); ++it) {
    if (!it.value().is_string())
      throw Error(file + ": weight_map entry '" + it.key() + "' is not a file name");
    const std::string shard = it.value().get<std::string>();
    if (shard.empty() || shard.find('/') != std::string::npos || shard == "." || shard == "..")
      throw Error(file + ": weight_map entry '" + it.key() + "' names an invalid file '" + shard +
                  "'");
    name_to_file[it.key()] = shard;
    file_ids[shard] = 0;
  }
  // Shards in file-name order (model-00001-of-N, model-00002-of-N, ...).
  for (auto& [shard, id] : file_ids) {
    id = r.files_.size();
    r.files_.push_back(SafetensorsFile::open((p.parent_path() / shard).string()));
  }
  for (size_t id = 0; id < r.files_.size(); ++id)
    for (const auto& e : r.files_[id]->entries()) {
      auto it = name_to_file.find(e.name);
      if (it == name_to_file.end() || file_ids[it->second] != id) continue;  // not indexed here
      r.where_[e.name] = id;
      r.order_.emplace_back(e.name, id);
    }
  for (const auto& [name, shard] : name_to_file)
    if (!r.where_.count(name))
      throw Error(file + ": tensor '" + name + "' is listed in weight_map but missing from " +
                  shard);
  return r;
}

std::vector<std::string> SafetensorsReader::names() const {
  std::vector<std::string> out;
  for (const auto& item : order_) out.push_back(item.first);
  return out;
}

bool SafetensorsReader::contains(const std::string& name) const { return where_.count(name) > 0; }

const SafetensorsEntry& SafetensorsReader::entry(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) throw Error("checkpoint has no tensor '" + name + "'");
  return *files_[it->second]->find(name);
}

const std::string& SafetensorsReader::file_of(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) throw Error("checkpoint has no tensor '" + name + "'");
  return files_[it->second]->path();
}

torch::Tensor SafetensorsReader::tensor(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) throw Error("checkpoint has no tensor '" + name + "'");
  return files_[it->second]->tensor(name);
}

const std::map<std::string, std::string>& SafetensorsReader::metadata() const {
  static const std::map<std::string, std::string> empty;
  return files_.empty() ? empty : files_[0]->metadata();
}

std::vector<std::string> SafetensorsReader::files() const {
  std::vector<std::string> out;
  for (const auto& f : files_) out.push_back(f->path());
  return out;
}

}  // namespace qatwb::model
