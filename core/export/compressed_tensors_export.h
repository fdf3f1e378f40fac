// compressed-tensors "pack-quantized" export (what llm-compressor writes and vLLM serves), per
// quantized Linear "<module>.":
//   weight_packed      int32 [out, ceil(in*b/32)]  codes in the signed domain offset by
//                      +2^(b-1), packed along the input dim, low bits first (dense bitstream)
//   weight_scale       [out, in/g] (group), [out, 1] (channel), [1] (tensor); model dtype
//   weight_zero_point  asymmetric only: signed-domain zero points offset by +2^(b-1), packed
//                      along the output dim: int32 [ceil(out*b/32), groups]
//   weight_shape       int64 [2] = (out, in)
// Dequantization: (q - zp) * scale. quantization_config.ignore lists the Linears left in full
// precision (lm_head and any decoder Linear the scheme excludes).
#pragma once
#include <string>

#include "core/export/gptq_export.h"

namespace qatwb::exporter {

void write_compressed_tensors_export(const ExportSource& source, const std::string& dir,
                                     const ExportOptions& options);

// Reads a pack-quantized export back (codes unpacked into our signed / zero-point convention).
PackedExport read_compressed_tensors_export(const std::string& dir);

}  // namespace qatwb::exporter
