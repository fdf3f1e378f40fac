#include "core/data/compressed_file.h"

#include <sys/stat.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/util/error.h"
#include "core/util/strings.h"

namespace qatwb::data {

namespace {}  // namespace

Compression compression_for_path(const std::string& path) {
  if (ends_with(path, ".gz")) return Compression::Gzip;
  if (ends_with(path, ".zst") || ends_with(path, ".zstd")) return Compression::Zstd;
  return Compression::None;
}

std::string strip_compression_suffix(const std::string& path) {
  for (const char* suffix : {".gz", ".zst", ".zstd"})
    if (ends_with(path, suffix)) return path.substr(0, path.size() - std::strlen(suffix));
  return path;
}

struct CompressedFileReader::Codec {
  z_stream zs{};
  bool zs_init = false;
  bool member_done = false;  // gzip member / zstd frame ended at the last call
  ZSTD_DStream* zd = nullptr;

  ~Codec() {
    if (zs_init) inflateEnd(&zs);
    if (zd) ZSTD_freeDStream(zd);
  }
};

CompressedFileReader::CompressedFileReader(const std::string& path)
    : path_(path), compression_(compression_for_path(path)), raw_(1 << 20) {
  file_ = std::fopen(path.c_str(), "rb");
  if (!file_)
    throw Error(at_location(path, 0, std::string("cannot open: ") + std::strerror(errno)));
  struct stat st {};
  if (fstat(fileno(file_), &st) == 0) file_size_ = uint64_t(st.st_size);
  if (S_ISDIR(st.st_mode)) {
    std::fclose(file_);
    file_ = nullptr;
    throw Error(at_location(path, 0, "is a directory, expected a file"));
  }
  codec_ = std::make_unique<Codec>();
  if (compression_ == Compression::Gzip) {
    if (inflateInit2(&codec_->zs, 15 + 32) != Z_OK)
      throw Error(at_location(path, 0, "zlib init failed"));
    codec_->zs_init = true;
  } else if (compression_ == Compression::Zstd) {
    codec_->zd = ZSTD_createDStream();
    if (!codec_->zd) throw Error(at_location(path, 0, "zstd init failed"));
    ZSTD_initDStream(codec_->zd);
  }
  // Check the magic bytes so a mislabeled file gives a clear message instead of garbage.
  if (compression_ != Compression::None && file_size_ > 0) {
    fill_raw();
    const auto* b = reinterpret_cast<const unsigned char*>(raw_.data());
    if (compression_ == Compression::Gzip && (raw_len_ < 2 || b[0] != 0x1f || b[1] != 0x8b))
      throw Error(at_location(path, 0, "not a gzip file (the .gz suffix promises one)"));
    if (compression_ == Compression::Zstd &&
        (raw_len_ < 4 || b[0] != 0x28 || b[1] != 0xb5 || b[2] != 0x2f || b[3] != 0xfd))
      throw Error(at_location(path, 0, "not a zstd file (the .zst suffix promises one)"));
  }
}

CompressedFileReader::~CompressedFileReader() {
  if (file_) std::fclose(file_);
}

size_t CompressedFileReader::fill_raw() {
  raw_pos_ = 0;
  raw_len_ = 0;
  if (raw_eof_) return 0;
  size_t n = std::fread(raw_.data(), 1, raw_.size(), file_);
  if (n == 0) {
    if (std::ferror(file_)) throw Error(at_location(path_, 0, "read error"));
    raw_eof_ = true;
  }
  raw_len_ = n;
  raw_read_ += n;
  hasher_.update(raw_.data(), n);
  return n;
}

size_t CompressedFileReader::read(char* dst, size_t capacity) {
  if (capacity == 0) return 0;
  if (compression_ == Compression::None) {
    if (raw_pos_ == raw_len_ && fill_raw() == 0) return 0;
    size_t take = std::min(capacity, raw_len_ - raw_pos_);
    std::memcpy(dst, raw_.data() + raw_pos_, take);
    raw_pos_ += take;
    return take;
  }
  Codec& c = *codec_;
  size_t produced = 0;
  while (produced == 0) {
    if (raw_pos_ == raw_len_ && !raw_eof_) fill_raw();
    const bool no_input = raw_pos_ == raw_len_;
    if (no_input && (c.member_done || raw_read_ == 0)) return 0;
    if (compression_ == Compression::Gzip) {
      if (c.member_done) {  // another gzip member follows
        inflateReset(&c.zs);
        c.member_done = false;
      }
      c.zs.next_in = reinterpret_cast<Bytef*>(raw_.data() + raw_pos_);
      c.zs.avail_in = uInt(raw_len_ - raw_pos_);
      c.zs.next_out = reinterpret_cast<Bytef*>(dst);
      c.zs.avail_out = uInt(capacity);
      int rc = inflate(&c.zs, Z_NO_FLUSH);
      raw_pos_ = raw_len_ - c.zs.avail_in;
      produced = capacity - c.zs.avail_out;
      if (rc == Z_STREAM_END) {
        c.member_done = true;
      } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
        throw Error(at_location(
            path_, 0,
            std::string("corrupt gzip data: ") + (c.zs.msg ? c.zs.msg : "inflate failed")));
      }
    } else {
      ZSTD_inBuffer in{raw_.data(), raw_len_, raw_pos_};
      ZSTD_outBuffer out{dst, capacity, 0};
      size_t rc = ZSTD_decompressStream(c.zd, &out, &in);
      if (ZSTD_isError(rc))
        throw Error(
            at_location(path_, 0, std::string("corrupt zstd data: ") + ZSTD_getErrorName(rc)));
      raw_pos_ = in.pos;
      produced = out.pos;
      c.member_done = (rc == 0);
    }
    if (produced == 0 && no_input && !c.member_done)
      throw Error(at_location(path_, 0,
                              compression_ == Compression::Gzip
                                  ? "truncated gzip data (unexpected end of file)"
                                  : "truncated zstd data (unexpected end of file)"));
  }
  return produced;
}

std::string CompressedFileReader::raw_sha256() {
  // Hash whatever was not read yet (e.g. trailing bytes after the last frame).
  char tmp[1 << 16];
  size_t n;
  while (!raw_eof_ && (n = std::fread(tmp, 1, sizeof tmp, file_)) > 0) {
    raw_read_ += n;
    hasher_.update(tmp, n);
  }
  raw_eof_ = true;
  return hasher_.hex_digest();
}

bool LineReader::next(std::string& line) {
  line.clear();
  bool any = false;
  for (;;) {
    if (pos_ == len_) {
      if (eof_) break;
      len_ = reader_.read(buf_.data(), buf_.size());
      pos_ = 0;
      if (len_ == 0) {
        eof_ = true;
        break;
      }
    }
    any = true;
    const char* start = buf_.data() + pos_;
    const void* nl = std::memchr(start, '\n', len_ - pos_);
    if (nl) {
      size_t take = static_cast<const char*>(nl) - start;
      line.append(start, take);
      pos_ += take + 1;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      ++line_number_;
      return true;
    }
    line.append(start, len_ - pos_);
    pos_ = len_;
  }
  if (!any) return false;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  ++line_number_;
  return true;
}

}  // namespace qatwb::data
