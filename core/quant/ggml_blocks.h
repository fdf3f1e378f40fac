// ggml block tensors in their decoded form (one integer per code / sub-scale / min, the fp16
// scales as bits), their exact byte layout (ggml-common.h), and ggml's dequantization. Plain
// C++, no torch: the GGUF writer/reader, the fake-quant and the tests share it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/quant/ggml_quant_type.h"

namespace qatwb::quant {

// IEEE binary16 <-> binary32, round to nearest even (what GGML_FP32_TO_FP16 does).
uint16_t fp32_to_fp16(float f);
float fp16_to_fp32(uint16_t h);

// `numel` elements in whole blocks (rows of a tensor laid end to end; each row a whole number of
// blocks). Codes and sub-scales are the signed values of ggml_quant_type.h's formula.
struct GgmlBlocks {
  GgmlQuant type = GgmlQuant::Q8_0;
  int64_t numel = 0;
  std::vector<uint16_t> d;      // fp16 bits, one per block
  std::vector<uint16_t> dmin;   // fp16 bits, one per block (types with mins; else empty)
  std::vector<int16_t> scales;  // one per sub-block (1 where the type has no sub-scales)
  std::vector<int16_t> mins;    // one per sub-block (types with mins; else empty)
  std::vector<int8_t> codes;    // one per element

  int64_t blocks() const;
  int64_t sub_blocks() const;
};

// Zero-filled blocks of the type for `numel` elements (scales 1 where the type has none).
// Throws qatwb::Error naming `what` unless numel is a whole number of blocks.
GgmlBlocks make_ggml_blocks(GgmlQuant type, int64_t numel, const std::string& what);

// The blocks as ggml stores them (numel / block * block_bytes bytes). Throws qatwb::Error naming
// `what` when a code, sub-scale or min is outside the type's range.
std::string pack_ggml_blocks(const GgmlBlocks& b, const std::string& what);
// Bytes of `numel` elements of `type` back to the decoded form (exact inverse of pack).
GgmlBlocks unpack_ggml_blocks(GgmlQuant type, const void* bytes, size_t size, int64_t numel,
                              const std::string& what);

// ggml's dequantization: out[i] = (d * s) * q - (dmin * m), float32.
void dequantize_ggml_blocks(const GgmlBlocks& b, float* out);

}  // namespace qatwb::quant
