// ggml tensor data for the types the GGUF export writes, row-major with ne0 (the input dim)
// innermost:
//   F32 / F16   plain little-endian values
//   Q4_0        blocks of 32: fp16 d, 16 bytes; byte j = q[j] | q[j+16] << 4, value d*(q - 8)
//   Q8_0        blocks of 32: fp16 d, 32 int8 q, value d*q
#pragma once
#include <string>

#include <torch/torch.h>

namespace qatwb::exporter {

std::string f32_bytes(const torch::Tensor& t);
std::string f16_bytes(const torch::Tensor& t);

// codes: int [rows, cols] signed, -8..7 (Q4_0) or -128..127 (Q8_0); scales: [rows, cols/32]
// (rounded to fp16). cols must be a multiple of 32. Throws qatwb::Error naming `name` otherwise.
std::string q4_0_bytes(const torch::Tensor& codes, const torch::Tensor& scales,
                       const std::string& name);
std::string q8_0_bytes(const torch::Tensor& codes, const torch::Tensor& scales,
                       const std::string& name);

// Decoded blocks: signed codes int32 [rows, cols] and the fp16 block scales as float
// [rows, cols/32]. `bytes` must hold rows*cols/32 blocks.
struct DecodedBlocks {
  torch::Tensor codes, scales;
};
DecodedBlocks decode_q4_0(const std::string& bytes, int64_t rows, int64_t cols);
DecodedBlocks decode_q8_0(const std::string& bytes, int64_t rows, int64_t cols);
// F32 / F16 bytes -> float32 [rows, cols].
torch::Tensor decode_float(const std::string& bytes, bool f16, int64_t rows, int64_t cols);
// ggml's dequantization of decoded blocks: d * code, float32 [rows, cols].
torch::Tensor dequantize_blocks(const DecodedBlocks& b);

}  // namespace qatwb::exporter
