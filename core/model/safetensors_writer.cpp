#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <set>

#include "core/model/safetensors.h"
#include "core/util/error.h"

namespace qatwb::model {

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// An output file written under a temporary name and renamed over the target on commit();
// removed if never committed.
class AtomicFile {
 public:
  explicit AtomicFile(const std::string& path) : path_(path) {
    const fs::path p(path);
    tmp_ = (p.parent_path() / ("." + p.filename().string() + ".tmp." + std::to_string(::getpid())))
               .string();
    fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) throw Error(path + ": cannot create: " + std::strerror(errno));
  }
  ~AtomicFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(tmp_.c_str());
  }
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t size) {
    const auto* p = static_cast<const char*>(data);
    while (size > 0) {
      const ssize_t n = ::write(fd_, p, size);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw Error(path_ + ": write failed: " + std::strerror(errno));
      }
      p += n;
      size -= static_cast<size_t>(n);
    }
  }
  void commit() {
    if (::fsync(fd_) != 0) throw Error(path_ + ": fsync failed: " + std::strerror(errno));
    if (::close(fd_) != 0) {
      fd_ = -1;
      throw Error(path_ + ": close failed: " + std::strerror(errno));
    }
    fd_ = -1;
    if (::rename(tmp_.c_str(), path_.c_str()) != 0)
      throw Error(path_ + ": rename failed: " + std::strerror(errno));
    committed_ = true;
  }

 private:
  std::string path_;
  std::string tmp_;
  int fd_ = -1;
  bool committed_ = false;
};

torch::ScalarType stored_type(const torch::Tensor& t, std::optional<torch::ScalarType> fdtype) {
  if (fdtype && t.is_floating_point()) return *fdtype;
  return t.scalar_type();
}

uint64_t stored_bytes(const torch::Tensor& t, std::optional<torch::ScalarType> fdtype) {
  return static_cast<uint64_t>(t.numel()) *
         static_cast<uint64_t>(c10::elementSize(stored_type(t, fdtype)));
}

}  // namespace

void write_file_atomic(const std::string& path, const std::string& bytes) {
  AtomicFile f(path);
  f.write(bytes.data(), bytes.size());
  f.commit();
}

void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata,
                      std::optional<torch::ScalarType> float_dtype) {
  json header = json::object();
  if (!metadata.empty()) {
    json m = json::object();
    for (const auto& [k, v] : metadata) m[k] = v;
    header["__metadata__"] = m;
  }
  std::set<std::string> seen;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    const std::string ctx = path + ": tensor '" + name + "'";
    if (name.empty() || name == "__metadata__") throw Error(ctx + ": invalid tensor name");
    if (!seen.insert(name).second) throw Error(ctx + ": duplicate tensor name");
    if (!t.defined()) throw Error(ctx + ": undefined tensor");
    json e;
    e["dtype"] = safetensors_dtype_name(stored_type(t, float_dtype), ctx);
    e["shape"] = t.sizes().vec();
    const uint64_t n = stored_bytes(t, float_dtype);
    e["data_offsets"] = {offset, offset + n};
    offset += n;
    header[name] = e;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  const uint64_t len = text.size();
  uint8_t len_bytes[8];
  for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<uint8_t>((len >> (8 * i)) & 0xff);

  AtomicFile out(path);
  out.write(len_bytes, 8);
  out.write(text.data(), text.size());
  for (const auto& [name, t] : tensors) {
    torch::NoGradGuard no_grad;
    const auto cpu = t.detach().to(torch::kCPU, stored_type(t, float_dtype)).contiguous();
    if (cpu.numel() > 0) out.write(cpu.data_ptr(), static_cast<size_t>(cpu.nbytes()));
  }
  out.commit();
}

std::vector<std::string> save_safetensors_sharded(
    const std::string& dir, const NamedTensors& tensors, int64_t max_shard_bytes,
    const std::map<std::string, std::string>& metadata,
    std::optional<torch::ScalarType> float_dtype, const std::string& stem) {
  if (max_shard_bytes <= 0) throw Error(dir + ": max shard size must be > 0");
  std::vector<NamedTensors> shards(1);
  uint64_t current = 0, total = 0;
  for (const auto& item : tensors) {
    if (!item.second.defined()) throw Error(dir + ": tensor '" + item.first + "' is undefined");
    const uint64_t n = stored_bytes(item.second, float_dtype);
    if (!shards.back().empty() && current + n > static_cast<uint64_t>(max_shard_bytes)) {
      shards.emplace_back();
      current = 0;
    }
    shards.back().push_back(item);
    current += n;
    total += n;
  }
  fs::create_directories(dir);
  if (shards.size() == 1) {
    const std::string name = stem + ".safetensors";
    save_safetensors((fs::path(dir) / name).string(), tensors, metadata, float_dtype);
    std::error_code ec;  // a stale index would take precedence over the new file when reading
    fs::remove(fs::path(dir) / (stem + ".safetensors.index.json"), ec);
    return {name};
  }
  std::vector<std::string> names;
  json weight_map = json::object();
  const size_t count = shards.size();
  for (size_t i = 0; i < count; ++i) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "-%05zu-of-%05zu.safetensors", i + 1, count);
    const std::string name = stem + buf;
    save_safetensors((fs::path(dir) / name).string(), shards[i], metadata, float_dtype);
    for (const auto& item : shards[i]) {
      if (weight_map.contains(item.first))
        throw Error(dir + ": tensor '" + item.first + "': duplicate tensor name");
      weight_map[item.first] = name;
    }
    names.push_back(name);
  }
  json index;
  index["metadata"] = {{"total_size", total}};
  index["weight_map"] = weight_map;
  const std::string index_name = stem + ".safetensors.index.json";
  write_file_atomic((fs::path(dir) / index_name).string(), index.dump(2) + "\n");
  names.push_back(index_name);
  return names;
}

}  // namespace qatwb::model
