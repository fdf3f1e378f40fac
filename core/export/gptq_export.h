// GPTQ export (AutoGPTQ / vLLM / ExLlama "checkpoint_format": "gptq", i.e. v1), per quantized
// Linear "<module>.":
//   qweight int32 [in*b/32, out]  codes (unsigned, q = signed code + 2^(b-1) for symmetric
//                                 schemes) packed along the input dim, low bits first; 3-bit is
//                                 a dense bitstream across word boundaries
//   qzeros  int32 [groups, out*b/32]  zero - 1, packed along the output dim (symmetric: the
//                                 implicit zero 2^(b-1))
//   scales  fp16  [groups, out]   (float32 with scale_dtype "float32")
//   g_idx   int32 [in]            i / group_size (no act-order)
// Dequantization: scales[g, o] * (q - zero). 2/3/4/8-bit uniform INT, per-group or per-channel
// (group_size -1), symmetric or asymmetric; anything else is an error naming what is unsupported.
#pragma once
#include <map>
#include <string>

#include "core/export/export_common.h"

namespace qatwb::exporter {

void write_gptq_export(const ExportSource& source, const std::string& dir,
                       const ExportOptions& options);

struct PackedExport {
  nlohmann::json config;                                    // config.json
  std::map<std::string, quant::QuantizedTensor> quantized;  // by module, codes unpacked
  model::NamedTensors dense;                                // the tensors left in floating point
};

// Reads a GPTQ v1 export back into codes / scales / zeros (dequantize() gives the weights).
// Throws qatwb::Error naming the tensor on anything malformed or unsupported (act-order g_idx,
// checkpoint_format other than "gptq", a zero point that wrapped).
PackedExport read_gptq_export(const std::string& dir);

}  // namespace qatwb::exporter
