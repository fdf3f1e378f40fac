// SHA-256 (FIPS 180-4): a streaming hasher and helpers for whole buffers and files. Used for the
// manifests of sampled sets and token shards, so a run can prove which bytes it trained on.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace qatwb {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t size);
  void update(std::string_view bytes) { update(bytes.data(), bytes.size()); }
  // Finishes the hash and returns the 32-byte digest; the hasher is reset afterwards.
  std::array<uint8_t, 32> digest();
  // Same, as 64 lowercase hex characters.
  std::string hex_digest();

 private:
  void compress(const uint8_t* block);
  void reset();

  std::array<uint32_t, 8> state_;
  std::array<uint8_t, 64> buffer_;
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
};

std::string sha256_hex(std::string_view bytes);
// Streams the file; throws qatwb::Error naming the path when it cannot be read.
std::string sha256_file(const std::string& path);

}  // namespace qatwb
