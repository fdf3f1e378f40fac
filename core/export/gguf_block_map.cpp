#include "core/export/gguf_block_map.h"

#include <algorithm>
#include <cmath>

namespace qatwb::exporter {

std::string ggml_blocks_for(const quant::QuantizedTensor& q, quant::GgmlBlocks& out,
                            double& scale_rounding) {
  using quant::GgmlQuant;
  if (q.format == quant::Format::Gguf) {
    out = q.ggml;
    return "";
  }
  if (q.format != quant::Format::Int) return std::string(quant::to_string(q.format)) + " format";
  if (q.grid.kind != quant::GridKind::Int) return "non-uniform grid (ternary, SEQ or binary)";
  if (q.shape.size() != 2) return "not a matrix";
  const int64_t rows = q.shape[0], cols = q.shape[1];
  const int b = static_cast<int>(q.bits);
  GgmlQuant type;
  int offset = 0;  // q = c + offset (symmetric) ; m = offset (symmetric) or z (asymmetric)
  if (q.grid.symmetric) {
    if (b == 2 && q.grid.cmin == -2)
      type = GgmlQuant::Q2_K, offset = 2;
    else if (b == 3 && q.grid.cmin == -4)
      type = GgmlQuant::Q3_K;
    else if (b == 4 && q.grid.cmin == -8)
      type = GgmlQuant::Q4_K, offset = 8;
    else if (b == 8 && q.grid.cmin == -128)
      type = GgmlQuant::Q8_0;
    else
      return std::to_string(b) + "-bit symmetric codes (no ggml block type holds them)";
  } else {
    if (b == 2)
      type = GgmlQuant::Q2_K;
    else if (b == 3 || b == 4)
      type = GgmlQuant::Q4_K;
    else
      return std::to_string(b) + "-bit asymmetric codes (no ggml block type holds them)";
  }
  const auto& sp = quant::ggml_quant_spec(type);
  if (cols % sp.block != 0)
    return "rows of " + std::to_string(cols) + " elements (" + sp.name + " blocks are " +
           std::to_string(sp.block) + ")";
  if (q.granularity == quant::Granularity::PerGroup && q.group_size % sp.block != 0)
    return "groups of " + std::to_string(q.group_size) + " (a " + sp.name + " block of " +
           std::to_string(sp.block) + " has one scale)";
  auto scales = q.scales.to(torch::kFloat).contiguous().cpu();
  auto zeros = q.zeros.defined() ? q.zeros.to(torch::kInt).contiguous().cpu() : torch::Tensor();
  auto codes = q.codes.to(torch::kInt).contiguous().cpu().reshape({rows, cols});
  const int64_t per_row = q.granularity == quant::Granularity::PerGroup
                              ? cols / q.group_size
                              : (q.granularity == quant::Granularity::PerChannel ? 1 : 0);
  auto index = [&](int64_t r, int64_t c) -> int64_t {
    if (per_row == 0) return 0;
    return per_row == 1 ? r : r * per_row + c / q.group_size;
  };
  if (zeros.defined())
    for (int64_t k = 0; k < zeros.numel(); ++k)
      if (zeros.data_ptr<int32_t>()[k] < 0 || zeros.data_ptr<int32_t>()[k] > sp.mmax)
        return "zero point " + std::to_string(zeros.data_ptr<int32_t>()[k]) + " outside " +
               sp.name + "'s mins 0.." + std::to_string(sp.mmax);
  out = quant::make_ggml_blocks(type, rows * cols, "gguf");
  const float* sp_ = scales.data_ptr<float>();
  const int32_t* cp = codes.data_ptr<int32_t>();
  const int per_block = sp.block / sp.sub;
  scale_rounding = 0;
  for (int64_t blk = 0; blk < out.blocks(); ++blk) {
    const int64_t r = blk * sp.block / cols, c0 = blk * sp.block % cols;
    const float s = sp_[index(r, c0)];
    const uint16_t h = quant::fp32_to_fp16(s);
    scale_rounding =
        std::max(scale_rounding, std::fabs(static_cast<double>(quant::fp16_to_fp32(h)) - s) /
                                     std::max(std::fabs(static_cast<double>(s)), 1e-30));
    out.d[blk] = h;
    const int m = zeros.defined() ? zeros.data_ptr<int32_t>()[index(r, c0)] : offset;
    if (sp.mmax > 0) {
      out.dmin[blk] = h;
      for (int j = 0; j < per_block; ++j) out.mins[blk * per_block + j] = static_cast<int16_t>(m);
    }
    for (int j = 0; j < per_block; ++j) out.scales[blk * per_block + j] = 1;
    for (int k = 0; k < sp.block; ++k)
      out.codes[blk * sp.block + k] =
          static_cast<int8_t>(cp[r * cols + c0 + k] + (zeros.defined() ? 0 : offset));
  }
  return "";
}

}  // namespace qatwb::exporter
