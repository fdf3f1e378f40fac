// Reads a local file as a stream of decompressed bytes (plain, gzip ".gz" via zlib, zstd ".zst"
// via libzstd's streaming API; concatenated members/frames are read through) and splits it into
// lines. The raw (compressed) bytes are hashed on the way so a manifest can record the sha256
// of exactly the bytes that were read, without a second pass.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/util/sha256.h"

namespace qatwb::data {

enum class Compression { None, Gzip, Zstd };

// By suffix: ".gz" -> Gzip, ".zst"/".zstd" -> Zstd, else None.
Compression compression_for_path(const std::string& path);
// The path without its compression suffix ("a.jsonl.zst" -> "a.jsonl").
std::string strip_compression_suffix(const std::string& path);

class CompressedFileReader {
 public:
  // Throws qatwb::Error naming the path when the file cannot be opened or its magic bytes do
  // not match the compression its suffix promises.
  explicit CompressedFileReader(const std::string& path);
  ~CompressedFileReader();
  CompressedFileReader(const CompressedFileReader&) = delete;
  CompressedFileReader& operator=(const CompressedFileReader&) = delete;

  // Up to `capacity` decompressed bytes; 0 at the end. Throws qatwb::Error on corrupt or
  // truncated compressed data.
  size_t read(char* dst, size_t capacity);

  const std::string& path() const { return path_; }
  uint64_t file_size() const { return file_size_; }
  uint64_t raw_bytes_read() const { return raw_read_; }
  // sha256 of the raw file bytes; call after read() returned 0.
  std::string raw_sha256();

 private:
  size_t fill_raw();  // reads the next raw chunk into raw_; returns bytes read

  struct Codec;
  std::string path_;
  Compression compression_;
  std::FILE* file_ = nullptr;
  uint64_t file_size_ = 0;
  uint64_t raw_read_ = 0;
  Sha256 hasher_;
  std::vector<char> raw_;
  size_t raw_pos_ = 0, raw_len_ = 0;
  bool raw_eof_ = false;
  std::unique_ptr<Codec> codec_;
};

class LineReader {
 public:
  explicit LineReader(CompressedFileReader& reader) : reader_(reader), buf_(1 << 20) {}
  // Next line without its '\n' (and a trailing '\r'); false at the end of the file.
  bool next(std::string& line);
  // 1-based number of the line last returned.
  int64_t line_number() const { return line_number_; }

 private:
  CompressedFileReader& reader_;
  std::vector<char> buf_;
  size_t pos_ = 0, len_ = 0;
  bool eof_ = false;
  int64_t line_number_ = 0;
};

}  // namespace qatwb::data
