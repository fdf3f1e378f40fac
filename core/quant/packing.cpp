#include "core/quant/packing.h"

#include "core/util/error.h"

namespace qatwb::quant {
namespace {

void check_bits(int bits) {
  if (bits < 1 || bits > 8) throw Error("pack: bits " + std::to_string(bits) + " not in 1..8");
}

}  // namespace

torch::Tensor pack_nibbles(const torch::Tensor& codes) {
  if (codes.dim() == 0 || codes.size(-1) % 2 != 0)
    throw Error("pack_nibbles: the last dimension must be even");
  auto c = codes.to(torch::kInt);
  if (c.numel() > 0 && (c.min().item<int>() < 0 || c.max().item<int>() > 15))
    throw Error("pack_nibbles: codes must be in 0..15");
  auto pairs = c.reshape({-1, 2});
  auto packed = pairs.select(1, 0).bitwise_or(pairs.select(1, 1) * 16);
  auto shape = codes.sizes().vec();
  shape.back() /= 2;
  return packed.to(torch::kUInt8).view(shape);
}

torch::Tensor unpack_nibbles(const torch::Tensor& packed) {
  if (packed.dim() == 0) throw Error("unpack_nibbles: needs at least one dimension");
  auto p = packed.to(torch::kInt).reshape({-1, 1});
  auto both = torch::cat({p.bitwise_and(15), p.div(16, "floor").bitwise_and(15)}, 1);
  auto shape = packed.sizes().vec();
  shape.back() *= 2;
  return both.to(torch::kUInt8).view(shape);
}

torch::Tensor pack_int_words(const torch::Tensor& codes, int bits) {
  check_bits(bits);
  if (codes.dim() == 0) throw Error("pack_int_words: needs at least one dimension");
  auto c = codes.to(torch::kLong).contiguous().cpu();
  const int64_t n = codes.size(-1);
  const int64_t rows = n == 0 ? 0 : c.numel() / n;
  const int64_t words = (n * bits + 31) / 32;
  auto shape = codes.sizes().vec();
  shape.back() = words;
  auto out = torch::zeros({rows, words}, torch::kInt);
  const int64_t* src = c.data_ptr<int64_t>();
  int32_t* dst = out.data_ptr<int32_t>();
  const int64_t limit = int64_t{1} << bits;
  for (int64_t r = 0; r < rows; ++r) {
    uint32_t* row = reinterpret_cast<uint32_t*>(dst + r * words);
    for (int64_t k = 0; k < n; ++k) {
      const int64_t v = src[r * n + k];
      if (v < 0 || v >= limit)
        throw Error("pack_int_words: code " + std::to_string(v) + " at index " +
                    std::to_string(r * n + k) + " does not fit in " + std::to_string(bits) +
                    " bits");
      const int64_t bit = k * bits;
      const uint64_t shifted = static_cast<uint64_t>(v) << (bit % 32);
      row[bit / 32] |= static_cast<uint32_t>(shifted & 0xffffffffu);
      if ((bit % 32) + bits > 32) row[bit / 32 + 1] |= static_cast<uint32_t>(shifted >> 32);
    }
  }
  return out.view(shape).to(codes.device());
}

torch::Tensor unpack_int_words(const torch::Tensor& words, int bits, int64_t count) {
  check_bits(bits);
  if (words.dim() == 0) throw Error("unpack_int_words: needs at least one dimension");
  const int64_t w = words.size(-1);
  if (count < 0 || (count * bits + 31) / 32 > w)
    throw Error("unpack_int_words: " + std::to_string(w) + " words cannot hold " +
                std::to_string(count) + " codes of " + std::to_string(bits) + " bits");
  auto src_t = words.to(torch::kInt).contiguous().cpu();
  const int64_t rows = w == 0 ? 0 : src_t.numel() / w;
  auto out = torch::zeros({rows, count}, torch::kInt);
  const uint32_t* src = reinterpret_cast<const uint32_t*>(src_t.data_ptr<int32_t>());
  int32_t* dst = out.data_ptr<int32_t>();
  const uint64_t mask = (uint64_t{1} << bits) - 1;
  for (int64_t r = 0; r < rows; ++r) {
    const uint32_t* row = src + r * w;
    for (int64_t k = 0; k < count; ++k) {
      const int64_t bit = k * bits;
      uint64_t v = row[bit / 32] >> (bit % 32);
      if ((bit % 32) + bits > 32) v |= static_cast<uint64_t>(row[bit / 32 + 1]) << (32 - bit % 32);
      dst[r * count + k] = static_cast<int32_t>(v & mask);
    }
  }
  auto shape = words.sizes().vec();
  shape.back() = count;
  return out.view(shape).to(words.device());
}

}  // namespace qatwb::quant
