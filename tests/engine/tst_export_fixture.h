// Shared by the tst_export_* tests: a micro Llama (intermediate 128 so every Linear takes group
// sizes 32 and 64), a quantizer for a scheme, and bit-level checks.
#pragma once
#include <QtTest>

#include <cstring>
#include <memory>

#include "core/export/export.h"
#include "core/model/hf_checkpoint.h"
#include "core/model/llama_config.h"
#include "core/quant/model_quantizer.h"

namespace qatwb::test {

inline model::LlamaConfig export_test_config(int64_t vocab) {
  auto c = model::preset("llama-micro", vocab);
  c.intermediate_size = 128;
  return c;
}

inline quant::QuantScheme int_scheme(int bits, bool symmetric, quant::Granularity g,
                                     int group_size = 32) {
  quant::QuantScheme s;
  s.format = quant::Format::Int;
  s.bits = bits;
  s.symmetric = symmetric;
  s.granularity = g;
  s.group_size = group_size;
  s.scale_mode = quant::ScaleMode::Learned;
  s.surrogate = quant::Surrogate::Ste;
  return s;
}

// A random micro model with a quantizer. fp16_scales rounds the learned scales to fp16 values
// (the formats that store fp16 scales are then lossless); the scales are also perturbed so they
// are not exactly the init's.
inline exporter::ExportSource make_quantized_source(const quant::QuantScheme& scheme, int64_t seed,
                                                    bool fp16_scales, int64_t vocab = 256,
                                                    const std::string& tokenizer = {}) {
  model::Llama m(export_test_config(vocab));
  m->init_weights(seed);
  auto q = std::make_shared<quant::ModelQuantizer>(scheme, m->linear_weights());
  auto state = q->state();
  torch::manual_seed(seed);
  for (auto& [name, t] : state) {
    if (name.size() < 13 || name.compare(name.size() - 13, 13, ".weight_scale") != 0) continue;
    auto s = t * (1.0 + 0.05 * torch::rand_like(t));
    if (fp16_scales) s = s.to(torch::kHalf).to(torch::kFloat);
    t = s;
  }
  q->load_state(state);
  return exporter::make_export_source(m, scheme, q, tokenizer);
}

// Element k of a dense little-endian bitstream of `bits`-bit values held in int32 words
// (independent of core/quant/packing).
inline int64_t stream_value(const int32_t* words, int64_t k, int bits) {
  int64_t v = 0;
  for (int b = 0; b < bits; ++b) {
    const int64_t bit = k * bits + b;
    const uint32_t w = static_cast<uint32_t>(words[bit / 32]);
    v |= static_cast<int64_t>((w >> (bit % 32)) & 1u) << b;
  }
  return v;
}

inline bool bit_equal(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  auto x = a.contiguous(), y = b.contiguous();
  return std::memcmp(x.data_ptr(), y.data_ptr(), x.numel() * x.element_size()) == 0;
}

}  // namespace qatwb::test
