// HF export: the real quantize-dequantize of every quantized weight, in the model's dtype under
// the original tensor names, with config.json and the tokenizer files, so any HF loader (and
// `qatwb eval`) reads it and computes the run's post-quantization logits. The grid is kept in a
// sidecar, qatwb_quantization.safetensors: "<module>.scales" (fp32), "<module>.zeros" (int32,
// asymmetric) and "<module>.scale_2" (NVFP4), with metadata "qatwb_quantization" (JSON: scheme
// and per-module bits / grid / granularity / group size), so the codes can be recovered exactly.
#pragma once
#include <map>
#include <string>

#include "core/export/export_common.h"

namespace qatwb::exporter {

inline constexpr const char* kHfSidecar = "qatwb_quantization.safetensors";

// Writes the folder `dir` (its contents; the caller stages it).
void write_hf_export(const ExportSource& source, const std::string& dir,
                     const ExportOptions& options);

struct HfExport {
  model::NamedTensors tensors;  // every tensor of the checkpoint, file order
  nlohmann::json quantization;  // the sidecar's JSON (null when there is no sidecar)
  // Codes recovered from the dequantized weights and the sidecar (uniform INT grids), keyed by
  // module. Recovery is checked: dequantize(codes) reproduces the stored weight exactly.
  std::map<std::string, quant::QuantizedTensor> quantized;
};

// Reads an HF export back. Throws qatwb::Error naming the tensor when a weight is not on the
// grid its sidecar describes.
HfExport read_hf_export(const std::string& dir);

}  // namespace qatwb::exporter
