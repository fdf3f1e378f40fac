#include "core/export/gguf_blocks.h"

#include <cstring>

#include "core/util/error.h"

namespace qatwb::exporter {
namespace {

std::string tensor_bytes(const torch::Tensor& t) {
  auto c = t.contiguous().cpu();
  return std::string(static_cast<const char*>(c.data_ptr()),
                     static_cast<size_t>(c.numel() * c.element_size()));
}

void check_blocks(const torch::Tensor& codes, const torch::Tensor& scales, int lo, int hi,
                  const std::string& name, const char* type) {
  if (codes.dim() != 2 || codes.size(1) % 32 != 0)
    throw Error(std::string("gguf: ") + name + ": " + type + " needs rows of a multiple of 32");
  if (scales.numel() != codes.size(0) * codes.size(1) / 32)
    throw Error(std::string("gguf: ") + name + ": one scale per 32 elements expected");
  if (codes.numel() > 0 && (codes.min().item<int64_t>() < lo || codes.max().item<int64_t>() > hi))
    throw Error(std::string("gguf: ") + name + ": codes outside " + std::to_string(lo) + ".." +
                std::to_string(hi) + " cannot be stored as " + type);
}

// fp16 bit patterns of the scales, one per block.
torch::Tensor half_bits(const torch::Tensor& scales) {
  return scales.to(torch::kFloat).to(torch::kHalf).contiguous().view(torch::kShort).reshape(-1);
}

}  // namespace

std::string f32_bytes(const torch::Tensor& t) { return tensor_bytes(t.to(torch::kFloat)); }
std::string f16_bytes(const torch::Tensor& t) { return tensor_bytes(t.to(torch::kHalf)); }

std::string q4_0_bytes(const torch::Tensor& codes, const torch::Tensor& scales,
                       const std::string& name) {
  check_blocks(codes, scales, -8, 7, name, "Q4_0");
  auto q = (codes.to(torch::kInt) + 8).reshape({-1, 32}).contiguous();
  const int64_t blocks = q.size(0);
  auto d = half_bits(scales);
  std::string out(static_cast<size_t>(blocks * 18), '\0');
  const int32_t* qp = q.data_ptr<int32_t>();
  const int16_t* dp = d.data_ptr<int16_t>();
  for (int64_t b = 0; b < blocks; ++b) {
    char* blk = out.data() + b * 18;
    std::memcpy(blk, dp + b, 2);
    const int32_t* e = qp + b * 32;
    for (int j = 0; j < 16; ++j) blk[2 + j] = static_cast<char>(e[j] | (e[j + 16] << 4));
  }
  return out;
}

std::string q8_0_bytes(const torch::Tensor& codes, const torch::Tensor& scales,
                       const std::string& name) {
  check_blocks(codes, scales, -128, 127, name, "Q8_0");
  auto q = codes.to(torch::kChar).reshape({-1, 32}).contiguous();
  const int64_t blocks = q.size(0);
  auto d = half_bits(scales);
  std::string out(static_cast<size_t>(blocks * 34), '\0');
  const int8_t* qp = q.data_ptr<int8_t>();
  const int16_t* dp = d.data_ptr<int16_t>();
  for (int64_t b = 0; b < blocks; ++b) {
    char* blk = out.data() + b * 34;
    std::memcpy(blk, dp + b, 2);
    std::memcpy(blk + 2, qp + b * 32, 32);
  }
  return out;
}

namespace {

DecodedBlocks decode_blocks(const std::string& bytes, int64_t rows, int64_t cols, bool q4) {
  const int64_t block_bytes = q4 ? 18 : 34;
  if (cols % 32 != 0 || static_cast<int64_t>(bytes.size()) != rows * cols / 32 * block_bytes)
    throw Error(std::string("gguf: ") + (q4 ? "Q4_0" : "Q8_0") + " data has " +
                std::to_string(bytes.size()) + " bytes, not the size of " + std::to_string(rows) +
                "x" + std::to_string(cols));
  const int64_t blocks = rows * cols / 32;
  auto codes = torch::empty({blocks, 32}, torch::kInt);
  auto d = torch::empty({blocks}, torch::kShort);
  int32_t* cp = codes.data_ptr<int32_t>();
  int16_t* dp = d.data_ptr<int16_t>();
  const auto* src = reinterpret_cast<const uint8_t*>(bytes.data());
  for (int64_t b = 0; b < blocks; ++b) {
    const uint8_t* blk = src + b * block_bytes;
    std::memcpy(dp + b, blk, 2);
    int32_t* e = cp + b * 32;
    if (q4) {
      for (int j = 0; j < 16; ++j) {
        e[j] = (blk[2 + j] & 0x0f) - 8;
        e[j + 16] = (blk[2 + j] >> 4) - 8;
      }
    } else {
      for (int j = 0; j < 32; ++j) e[j] = static_cast<int8_t>(blk[2 + j]);
    }
  }
  return {codes.reshape({rows, cols}),
          d.view(torch::kHalf).to(torch::kFloat).reshape({rows, cols / 32})};
}

}  // namespace

DecodedBlocks decode_q4_0(const std::string& bytes, int64_t rows, int64_t cols) {
  return decode_blocks(bytes, rows, cols, true);
}

DecodedBlocks decode_q8_0(const std::string& bytes, int64_t rows, int64_t cols) {
  return decode_blocks(bytes, rows, cols, false);
}

torch::Tensor decode_float(const std::string& bytes, bool f16, int64_t rows, int64_t cols) {
  const int64_t size = f16 ? 2 : 4;
  if (static_cast<int64_t>(bytes.size()) != rows * cols * size)
    throw Error("gguf: float data has " + std::to_string(bytes.size()) +
                " bytes, not the size of " + std::to_string(rows) + "x" + std::to_string(cols));
  auto t = torch::empty({rows, cols}, f16 ? torch::kHalf : torch::kFloat);
  std::memcpy(t.data_ptr(), bytes.data(), bytes.size());
  return t.to(torch::kFloat);
}

torch::Tensor dequantize_blocks(const DecodedBlocks& b) {
  const int64_t rows = b.codes.size(0), cols = b.codes.size(1);
  auto d = b.scales.reshape({rows, cols / 32, 1});
  return (d * b.codes.to(torch::kFloat).reshape({rows, cols / 32, 32})).reshape({rows, cols});
}

}  // namespace qatwb::exporter
