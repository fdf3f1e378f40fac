// A file written under a temporary name next to its destination and renamed into place by
// commit() (after fsync), so readers see either the old file or the complete new one. Without
// commit() the temporary file is removed. Bytes written are counted and hashed (sha256).
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "core/util/sha256.h"

namespace qatwb::data {

class AtomicFile {
 public:
  // Creates the parent folder if needed. Throws qatwb::Error naming the path on failure.
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t size);
  void write(std::string_view bytes) { write(bytes.data(), bytes.size()); }
  // Flushes, fsyncs and closes the temporary file; returns the sha256 of its content. The
  // file is not yet visible under its final name.
  std::string close();
  // close() if needed, then renames into place.
  void commit();

  const std::string& path() const { return path_; }
  uint64_t bytes() const { return bytes_; }

 private:
  std::string path_, temp_path_;
  std::FILE* file_ = nullptr;
  Sha256 hasher_;
  std::string sha256_;
  uint64_t bytes_ = 0;
  bool committed_ = false;
};

// Writes `content` to `path` atomically (temp + fsync + rename).
void write_file_atomically(const std::string& path, std::string_view content);

// Removes `path` if it exists (used to invalidate a manifest before replacing its files).
void remove_if_exists(const std::string& path);

// Before a folder's set is rewritten: removes its manifest.json when that is a manifest of
// `format` ("qatwb.sample", "qatwb.tokens"); throws qatwb::Error, touching nothing, when the
// folder holds a manifest of another kind (e.g. a token folder given as a sample's output).
void invalidate_manifest(const std::string& manifest_path, const std::string& format);
// The check alone (nothing removed): call it before long work.
void check_manifest_format(const std::string& manifest_path, const std::string& format);

// fsyncs a folder so renames inside it are durable (best effort).
void sync_directory(const std::string& dir);

}  // namespace qatwb::data
