// GGUF export for llama.cpp (architecture "llama"): llama.* hyper-parameters, the tokenizer from
// tokenizer.json (gguf_tokenizer.h), and the weights under ggml names (token_embd,
// blk.N.attn_{q,k,v,output}, blk.N.ffn_{gate,up,down}, blk.N.{attn,ffn}_norm, output_norm,
// output). Quantized Linears become Q4_0 when the scheme is symmetric INT4 with group 32 (the
// -8..7 grid, codes kept exactly) and Q8_0 for symmetric INT8 group 32; format gguf weights
// are their own blocks (the trained codes and scales); INT grids whose scales cover whole
// super-blocks become K-quants (gguf_block_map.h); every other weight is written as F32 or F16
// of its dequantized value (the log says which and why, per tensor). The token embedding and
// output follow ExportOptions::gguf_embeddings. Q and K rows are
// permuted from HF's rotate-half layout to llama.cpp's interleaved RoPE, as llama.cpp's own
// converter does; the permutation moves whole rows, so quantization blocks survive it.
#pragma once
#include <torch/torch.h>
#include <map>
#include <string>

#include "core/export/export_common.h"
#include "core/export/gguf_blocks.h"
#include "core/export/gguf_reader.h"
#include "core/model/llama_config.h"

namespace qatwb::exporter {

// Writes the file `path` (the caller stages it).
void write_gguf_export(const ExportSource& source, const std::string& path,
                       const ExportOptions& options);

// The ggml name of an HF tensor name ("" when it has none).
std::string gguf_tensor_name(const std::string& hf_name);

// Row order llama.cpp expects for a q_proj (heads = n_head) or k_proj (heads = n_kv_head) weight:
// ggml row r holds HF row perm[r].
torch::Tensor rope_row_permutation(int64_t rows, int64_t heads);

struct GgufModel {
  model::LlamaConfig config;                     // rebuilt from the llama.* metadata
  std::map<std::string, torch::Tensor> tensors;  // HF names, float32, HF row order
  std::map<std::string, DecodedBlocks> blocks;   // Q4_0 / Q8_0 modules (HF names, HF row order)
  std::map<std::string, GgmlType> types;         // HF tensor name -> ggml type
};

// Reads a GGUF llama file back (dequantizing every block type, undoing the Q/K permutation).
GgufModel read_gguf_model(const std::string& path);

}  // namespace qatwb::exporter
