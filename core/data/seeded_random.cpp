#include "core/data/seeded_random.h"

#include <cstring>
#include <utility>

namespace qatwb::data {

uint64_t hash_bytes(std::string_view bytes, uint64_t seed) {
  uint64_t h = mix64(seed ^ (uint64_t(bytes.size()) * 0x9fb21c651e98df25ULL));
  size_t i = 0;
  for (; i + 8 <= bytes.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, bytes.data() + i, 8);
    h = mix64(h ^ w) * 0xff51afd7ed558ccdULL;
  }
  uint64_t tail = 0;
  for (size_t k = 0; i + k < bytes.size(); ++k)
    tail |= uint64_t(static_cast<unsigned char>(bytes[i + k])) << (8 * k);
  return mix64(h ^ tail ^ 0xc4ceb9fe1a85ec53ULL);
}

uint64_t SplitMix64::below(uint64_t bound) {
  // Reject the top partial range so every residue is equally likely.
  const uint64_t limit = UINT64_MAX - (UINT64_MAX % bound + 1) % bound;
  for (;;) {
    uint64_t r = next();
    if (r <= limit) return r % bound;
  }
}

std::vector<uint64_t> seeded_permutation(uint64_t n, uint64_t seed) {
  std::vector<uint64_t> p(n);
  for (uint64_t i = 0; i < n; ++i) p[i] = i;
  SplitMix64 rng(mix64(seed ^ 0x5eed5eed5eed5eedULL));
  for (uint64_t i = n; i > 1; --i) {
    uint64_t j = rng.below(i);
    std::swap(p[i - 1], p[j]);
  }
  return p;
}

}  // namespace qatwb::data
