// Real quantization: one code per element plus scales, and its exact dequantization.
// dequantize(quantize(w)) equals the fake-quant forward bit for bit (same float operations).
#pragma once
#include <torch/torch.h>
#include <vector>

#include "core/quant/ggml_blocks.h"
#include "core/quant/grid.h"

namespace qatwb::quant {

struct QuantizedTensor {
  Format format = Format::Int;
  double bits = 4;  // INT bits (1, 1.58, 2..8); 4 for the FP4 formats
  WeightGrid grid;  // INT formats: the grid the codes index
  Granularity granularity = Granularity::PerChannel;
  int64_t group_size = 0;  // elements along the input dim per scale (per-tensor: unused)
  torch::Tensor codes;     // shape `shape`: int8 (signed grids), uint8 (asymmetric, FP4)
  torch::Tensor scales;    // fp32; per-tensor {1}, per-channel {out, 1}, groups {out, in/g}
                           // MXFP4: 2^e; NVFP4: the E4M3 block scale (without scale_2)
  torch::Tensor zeros;     // int32, same shape as scales (asymmetric INT only)
  torch::Tensor scale_2;   // NVFP4: 0-dim fp32 tensor scale
  GgmlBlocks ggml;         // GGUF: the blocks as ggml stores them (codes: their codes;
                           // scales: the sub-block scales fp16(d) * s; group_size: sub)
  std::vector<int64_t> shape;
  torch::Dtype dtype = torch::kFloat;  // dtype of the latent weight; dequantize returns it

  BlockLayout layout() const;
};

// Dequantized weight in `q.dtype`: s * level(code) (INT), divisor * E2M1(code) (FP4), ggml's
// dequantization of the blocks (GGUF).
torch::Tensor dequantize(const QuantizedTensor& q);

}  // namespace qatwb::quant
