// Bit packing for export writers.
//  - Nibbles (E2M1 / 4-bit codes): byte j of a row = code[2j] | code[2j+1] << 4 (even element in
//    the low nibble), along the last dim.
//  - b-bit words: codes (unsigned, < 2^b; offset signed codes first) become a dense little-endian
//    bitstream along the last dim, element k at stream bits k*b .. k*b + b - 1, and stream bit i
//    in bit i%32 of int32 word i/32. For b in {2, 4, 8} that is GPTQ's / compressed-tensors'
//    "pf = 32/b elements per word, LSB first"; 3-bit codes straddle words (elements 10 and 21).
#pragma once
#include <torch/torch.h>

namespace qatwb::quant {

torch::Tensor pack_nibbles(const torch::Tensor& codes);     // uint8 [..., 2n] -> uint8 [..., n]
torch::Tensor unpack_nibbles(const torch::Tensor& packed);  // uint8 [..., n] -> uint8 [..., 2n]

// codes: integer tensor [..., n], values in [0, 2^bits); bits in 1..8.
// Returns int32 [..., ceil(n*bits/32)].
torch::Tensor pack_int_words(const torch::Tensor& codes, int bits);
// Inverse: int32 words [..., w] -> int32 codes [..., count].
torch::Tensor unpack_int_words(const torch::Tensor& words, int bits, int64_t count);

}  // namespace qatwb::quant
