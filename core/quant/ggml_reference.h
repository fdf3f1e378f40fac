// ggml's reference quantizers (ggml-quants.c, quantize_row_<type>_ref: what llama-quantize runs
// without an importance matrix), written from their description, float32 step for step so that
// the result equals llama.cpp's byte for byte:
//   Q4_0   d = m / -8 with m the signed value of largest |x|, q = min(15, trunc(x/d + 8.5)) - 8
//   Q8_0   d = max|x| / 127, q = roundf(x / d)
//   Q2_K   per sub-block of 16 an asymmetric (scale, min) fit of 4 levels: make_qkx2_quants
//          (weights |x|, mean absolute error, 16 trial scales (3 - 0.5 + 0.1 k)/(max - min));
//          s, m quantized to 4 bits against the largest of each (d = max s / 15, dmin likewise);
//          codes re-rounded with the quantized d*s, dmin*m
//   Q3_K   per sub-block of 16 make_q3_quants (signed, 8 levels, scale from the signed extreme
//          -4/max, then 5 passes of per-element code moves that raise sum(w x l)^2/sum(w l^2),
//          w = x^2); s quantized to 6 bits signed (-32 / the signed extreme scale)
//   Q4_K/Q5_K per sub-block of 32 make_qkx2_quants (weights sqrt(mean x^2) + |x|, squared
//          error; Q4_K 21 trials from -1, Q5_K 16 from -0.5, step 0.1); s, m to 6 bits
//   Q6_K   per sub-block of 16 make_qx_quants (64 levels, 19 trial scales -(32 + 0.1 k)/max,
//          w = x^2); s to 8 bits signed (-128 / the signed extreme scale)
//   TQ1_0/TQ2_0 d = max|x|, q = lroundf(x / d)
#pragma once
#include <string>

#include "core/quant/ggml_blocks.h"

namespace qatwb::quant {

// Throws qatwb::Error naming `what` unless numel is a whole number of blocks.
GgmlBlocks ggml_reference_quantize(GgmlQuant type, const float* x, int64_t numel,
                                   const std::string& what);

// The fp32 block scale d of the types without sub-scales (Q4_0, Q8_0, TQ1_0, TQ2_0) for one
// block at x, before its fp16 rounding (the codes round with 1/d in fp32).
float ggml_block_scale(GgmlQuant type, const float* x);

}  // namespace qatwb::quant
