// Platform-independent seeded randomness for data pipelines. std::shuffle and the standard
// distributions are implementation-defined, so a sample or a batch order drawn with them could
// differ between libstdc++ and libc++; everything here is defined bit for bit.
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

namespace qatwb::data {

// SplitMix64 finalizer: a bijective 64-bit mix.
inline uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

inline uint64_t hash_combine(uint64_t a, uint64_t b) { return mix64(a ^ mix64(b)); }

// Uniform double in (0, 1) from 53 bits of `bits` (never exactly 0 or 1).
inline double unit_open(uint64_t bits) { return (double(bits >> 11) + 0.5) * 0x1.0p-53; }

// 64-bit hash of a byte string (stable across platforms; not cryptographic).
uint64_t hash_bytes(std::string_view bytes, uint64_t seed = 0);

class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, bound), bound > 0, without modulo bias (rejection sampling).
  uint64_t below(uint64_t bound);

 private:
  uint64_t state_;
};

// A uniformly random permutation of 0..n-1 (Fisher-Yates) determined by `seed` alone.
std::vector<uint64_t> seeded_permutation(uint64_t n, uint64_t seed);

}  // namespace qatwb::data
