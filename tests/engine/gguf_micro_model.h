// The smallest Llama whose every Linear reads whole 256-element ggml super-blocks (hidden 256,
// intermediate 512, one layer), for the K-quant tests.
#pragma once
#include "core/model/llama_config.h"

namespace qatwb::test {

inline model::LlamaConfig gguf_micro_config(int64_t vocab_size) {
  auto c = model::preset("llama-micro", vocab_size);
  c.hidden_size = 256;
  c.intermediate_size = 512;
  c.num_hidden_layers = 1;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 64;
  return c;
}

}  // namespace qatwb::test
