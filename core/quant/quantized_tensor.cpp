#include "core/quant/quantized_tensor.h"

#include "core/quant/fp4.h"
#include "core/quant/int_kernels.h"
#include "core/util/error.h"

namespace qatwb::quant {

BlockLayout QuantizedTensor::layout() const {
  if (format == Format::Gguf)
    return make_block_layout(Granularity::PerGroup, group_size, shape, "dequantize");
  if (format != Format::Int)
    return make_block_layout(Granularity::PerGroup, fp4_block_size(format), shape, "dequantize");
  return make_block_layout(granularity, group_size, shape, "dequantize");
}

torch::Tensor dequantize(const QuantizedTensor& q) {
  if (q.format == Format::Gguf) {
    auto out = torch::empty({q.ggml.numel}, torch::kFloat);
    dequantize_ggml_blocks(q.ggml, out.data_ptr<float>());
    if (q.codes.defined()) out = out.to(q.codes.device());
    return out.to(q.dtype).view(q.shape);
  }
  if (!q.codes.defined() || !q.scales.defined())
    throw Error("dequantize: the quantized tensor has no codes or scales");
  const BlockLayout l = q.layout();
  if (q.codes.numel() != l.rows * l.cols || q.scales.numel() != l.num_scales())
    throw Error("dequantize: codes (" + std::to_string(q.codes.numel()) + ") or scales (" +
                std::to_string(q.scales.numel()) + ") do not match the shape");
  auto codes2d = q.codes.reshape({l.rows, l.cols});
  torch::Tensor values;
  if (q.format == Format::Int) {
    IntQuantSpec spec;
    spec.grid = q.grid;
    values = int_levels_to_values(spec, codes2d, q.scales, q.zeros, l.rows_per_scale);
  } else {
    auto divisor = q.scales.to(torch::kFloat).reshape({-1, 1});
    if (q.format == Format::NvFp4) {
      if (!q.scale_2.defined()) throw Error("dequantize: NVFP4 tensor without scale_2");
      divisor = divisor * q.scale_2.to(torch::kFloat);
    }
    values = fp4_values(codes2d, divisor);
  }
  return values.to(q.dtype).view(q.shape);
}

}  // namespace qatwb::quant
