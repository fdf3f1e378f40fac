// Which ggml block type a quantized weight is written as in a GGUF file, and its blocks:
//   - format gguf: its own blocks, unchanged (the trained codes and scales);
//   - INT grids whose scale is shared by whole super-blocks of 256 (per-tensor, per-channel, or
//     groups of a multiple of 256) rewritten exactly on a K-quant, every sub-scale 1:
//       symmetric INT2 (-2..1)  -> Q2_K, q = c + 2, d = dmin = s, m = 2
//       symmetric INT3 (-4..3)  -> Q3_K, q = c,     d = s
//       symmetric INT4 (-8..7)  -> Q4_K, q = c + 8, d = dmin = s, m = 8
//       asymmetric INT2/3/4 (0..2^b-1, zero point z) -> Q2_K (b = 2) / Q4_K, q = c, m = z
//       symmetric INT8          -> Q8_0, q = c, d = s
//     so d*1*q - dmin*m = s (c - z) exactly once s is an fp16 value (ggml's d is fp16; the
//     export says by how much rounding s to fp16 moved it).
// Q4_0 (symmetric INT4, groups of 32) stays with gguf_blocks.h's writer.
#pragma once
#include <string>

#include "core/export/gguf_format.h"
#include "core/quant/quantized_tensor.h"

namespace qatwb::exporter {

// "" and `out` filled when `q` can be written as ggml blocks (`out.type`); otherwise why not.
// `scale_rounding` gets the largest relative change of a scale rounded to fp16 (INT only).
std::string ggml_blocks_for(const quant::QuantizedTensor& q, quant::GgmlBlocks& out,
                            double& scale_rounding);

}  // namespace qatwb::exporter
