// 4-bit floating-point formats: E2M1 elements with MXFP4 (blocks of 32, E8M0 power-of-two
// scales) or NVFP4 (blocks of 16, FP8 E4M3 block scales times an FP32 tensor scale).
// docs/QAT_METHODS.md, "Floating-point 4-bit formats".
//
// Rounding rules (all round to nearest, ties to even):
//  - E2M1: magnitudes {0, .5, 1, 1.5, 2, 3, 4, 6}; a tie goes to the even grid index (which is
//    IEEE round-half-to-even on the 1-bit mantissa): .25 -> 0, .75 -> 1, 1.25 -> 1, 1.75 -> 2,
//    2.5 -> 2, 3.5 -> 4, 5 -> 4; magnitudes above 6 saturate to 6. Code = sign<<3 | index; the
//    sign bit is set for x < 0 (so small negatives become -0, code 8).
//  - E4M3 (the "FN" variant: bias 7, no infinities): normals 2^e * (1 + m/8) for e in -6..8,
//    subnormals m * 2^-9, max 448; values above 448 saturate to 448.
//  - E8M0: 2^(code - 127); MXFP4 uses e = ceil(log2(amax/6)) clamped to [-127, 127].
#pragma once
#include <torch/torch.h>

#include "core/quant/grid.h"

namespace qatwb::quant {

torch::Tensor e2m1_encode(const torch::Tensor& x);      // fp32 -> uint8 codes
torch::Tensor e2m1_decode(const torch::Tensor& codes);  // uint8 codes -> fp32

torch::Tensor e4m3_round(const torch::Tensor& x);      // fp32 -> nearest E4M3 value (fp32)
torch::Tensor e4m3_encode(const torch::Tensor& x);     // fp32 (E4M3-representable) -> uint8 bits
torch::Tensor e4m3_decode(const torch::Tensor& bits);  // uint8 bits -> fp32

torch::Tensor mx_exponent(const torch::Tensor& amax);   // fp32 block amax -> int32 e
torch::Tensor e8m0_encode(const torch::Tensor& scale);  // fp32 power of two -> uint8 e + 127
torch::Tensor e8m0_decode(const torch::Tensor& bits);   // uint8 -> fp32 2^(bits - 127)

int64_t fp4_block_size(Format f);  // 32 (MXFP4) or 16 (NVFP4)

struct Fp4Scales {
  torch::Tensor block;    // [blocks] fp32: 2^e (MXFP4) or the E4M3 block scale (NVFP4)
  torch::Tensor scale_2;  // NVFP4: 0-dim fp32 tensor scale amax/(6*448); undefined for MXFP4
  torch::Tensor divisor;  // [blocks, 1] fp32: block (MXFP4) or block * scale_2 (NVFP4)
};
// x2d: [blocks, block_size] (any float dtype). NVFP4: scale_2 = amax_tensor/(6*448) (1 when
// the tensor is all zeros); block = E4M3(amax_block/(6*scale_2)), 0 becomes 1.
Fp4Scales fp4_scales(Format f, const torch::Tensor& x2d);
// divisor * E2M1 value: dequantization of codes [blocks, block_size] (fp32).
torch::Tensor fp4_values(const torch::Tensor& codes2d, const torch::Tensor& divisor);

// Fake quantization with the clipped STE (gradient 1 where |x/divisor| <= 6, else 0); scales
// are recomputed from the weight every call. Layout: blocks along the input dim (see
// make_block_layout with group size fp4_block_size(f)). Returns w's dtype and shape.
torch::Tensor fp4_fake_quant(Format f, const BlockLayout& layout, const torch::Tensor& w);

}  // namespace qatwb::quant
