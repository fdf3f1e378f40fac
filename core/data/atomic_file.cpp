#include "core/data/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/util/error.h"

namespace qatwb::data {

namespace fs = std::filesystem;

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  fs::path p(path_);
  std::error_code ec;
  if (p.has_parent_path()) fs::create_directories(p.parent_path(), ec);
  if (ec)
    throw Error(at_location(p.parent_path().string(), 0, "cannot create folder: " + ec.message()));
  temp_path_ = path_ + ".tmp." + std::to_string(::getpid());
  file_ = std::fopen(temp_path_.c_str(), "wb");
  if (!file_)
    throw Error(at_location(temp_path_, 0, std::string("cannot create: ") + std::strerror(errno)));
}

AtomicFile::~AtomicFile() {
  if (file_) std::fclose(file_);
  if (!committed_) std::remove(temp_path_.c_str());
}

void AtomicFile::write(const void* data, size_t size) {
  if (!file_) throw Error(at_location(path_, 0, "write after close"));
  if (size == 0) return;
  if (std::fwrite(data, 1, size, file_) != size)
    throw Error(at_location(temp_path_, 0, std::string("write failed: ") + std::strerror(errno)));
  hasher_.update(data, size);
  bytes_ += size;
}

std::string AtomicFile::close() {
  if (!file_) return sha256_;
  bool ok = std::fflush(file_) == 0 && ::fsync(fileno(file_)) == 0;
  int err = errno;
  ok = (std::fclose(file_) == 0) && ok;
  file_ = nullptr;
  if (!ok)
    throw Error(at_location(temp_path_, 0, std::string("write failed: ") + std::strerror(err)));
  sha256_ = hasher_.hex_digest();
  return sha256_;
}

void AtomicFile::commit() {
  close();
  if (std::rename(temp_path_.c_str(), path_.c_str()) != 0)
    throw Error(
        at_location(path_, 0, std::string("cannot rename into place: ") + std::strerror(errno)));
  committed_ = true;
}

void write_file_atomically(const std::string& path, std::string_view content) {
  AtomicFile f(path);
  f.write(content);
  f.commit();
  sync_directory(fs::path(path).parent_path().string());
}

void remove_if_exists(const std::string& path) {
  std::error_code ec;
  fs::remove(path, ec);
  if (ec) throw Error(at_location(path, 0, "cannot remove: " + ec.message()));
}

void invalidate_manifest(const std::string& manifest_path, const std::string& format) {
  check_manifest_format(manifest_path, format);
  remove_if_exists(manifest_path);
}

void check_manifest_format(const std::string& manifest_path, const std::string& format) {
  std::error_code ec;
  if (!fs::exists(manifest_path, ec)) return;
  std::ifstream in(manifest_path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string found;
  try {
    auto j = nlohmann::json::parse(ss.str());
    if (j.is_object()) found = j.value("format", "");
  } catch (const nlohmann::json::exception&) {
  }
  if (found != format)
    throw Error(at_location(manifest_path, 0,
                            "exists and is not a \"" + format + "\" manifest" +
                                (found.empty() ? "" : " (it is \"" + found + "\")") +
                                "; refusing to overwrite that folder, choose another output"));
}

void sync_directory(const std::string& dir) {
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace qatwb::data
