// Pieces every export format shares: the real quantization of the source's modules, the
// tensors that stay in floating point, config.json, tokenizer files, and the integer-grid checks
// of the packed INT formats.
#pragma once
#include <torch/torch.h>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/export/export_source.h"
#include "core/model/safetensors.h"
#include "core/quant/quantized_tensor.h"

namespace qatwb::exporter {

using Log = std::function<void(const std::string&)>;

struct ExportOptions {
  std::string dtype;                    // float tensors: "" = the model's original dtype
  std::string scale_dtype = "float16";  // GPTQ scales ("float16" as vLLM/ExLlama expect)
  std::string gguf_float;               // GGUF float tensors "f32"/"f16"; "" = from dtype
  // GGUF token embedding and output: "" (the float type), "f16", "q8_0" or "q6_k" (ggml's
  // reference quantization, as llama-quantize writes them).
  std::string gguf_embeddings;
  int64_t max_shard_bytes = int64_t{5} << 30;
  Log log;  // progress / notes (null: silent)
};

// quantize_all() of the source's quantizer (empty when it has none), in model order.
std::map<std::string, quant::QuantizedTensor> quantize_modules(const ExportSource& source);

// Takes the quantized token embedding / untied lm_head out of `quantized` and returns their
// dequantized values (the weights the run evaluated with). GPTQ and compressed-tensors pack
// decoder Linears only (vLLM loads the embedding and lm_head dense), so those formats write
// these dense, and say so through `log`.
std::map<std::string, torch::Tensor> take_embedding_modules(
    std::map<std::string, quant::QuantizedTensor>& quantized, const Log& log,
    const std::string& format);

// The model's tensors by HF name (model order). Quantized modules' weights are replaced by
// `replacement(module)` when that returns a defined tensor, or left out when it returns an
// undefined one.
model::NamedTensors model_tensors(
    const ExportSource& source, const std::set<std::string>& quantized,
    const std::function<torch::Tensor(const std::string& module)>& replacement);

// The HF module name of a weight tensor name ("x.q_proj.weight" -> "x.q_proj"), or "".
std::string module_of(const std::string& tensor_name);

// config.json of the source's model with torch_dtype = dtype, plus quantization_config when it
// is not null.
nlohmann::json config_json(const ExportSource& source, torch::Dtype dtype,
                           const nlohmann::json& quantization_config = nullptr);
void write_json(const std::string& path, const nlohmann::json& j);
nlohmann::json read_json(const std::string& path);

// Copies tokenizer.json (and tokenizer_config.json, special_tokens_map.json,
// generation_config.json when they sit next to it) into `dir`. Logs when there is none.
void copy_tokenizer_files(const ExportSource& source, const std::string& dir, const Log& log);

// The scheme as JSON (for sidecars and logs).
nlohmann::json scheme_json(const quant::QuantScheme& scheme);

// Output dtype: options.dtype, else the source's original dtype.
torch::Dtype output_dtype(const ExportSource& source, const ExportOptions& options);

// Integer bit width of a uniform INT grid (codes -2^(b-1)..2^(b-1)-1, or 0..2^b-1 with zero
// points). Throws qatwb::Error naming `format` and the module for anything else (FP4, ternary,
// binary, ParetoQ SEQ grids, fractional bits).
int uniform_int_bits(const quant::QuantizedTensor& q, const std::string& module,
                     const std::string& format);

// A symmetric / asymmetric uniform INT grid of `bits` (the inverse of uniform_int_bits).
quant::WeightGrid uniform_int_grid(int bits, bool symmetric);

void log_line(const ExportOptions& options, const std::string& line);

// The modules of a packed checkpoint: every tensor named <module><key_suffix>, in file order.
// Each module must have all of <module><part> for `parts` (else qatwb::Error naming `dir` and the
// missing tensor); those names are added to `used`.
std::vector<std::string> packed_modules(const model::SafetensorsReader& reader,
                                        const std::string& dir, const std::string& key_suffix,
                                        const std::vector<std::string>& parts,
                                        std::set<std::string>& used);

}  // namespace qatwb::exporter
