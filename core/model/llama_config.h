// The shape of a Llama-family model as HF transformers writes it in config.json (Llama-2,
// Llama-3, Llama-3.1/3.2 with "llama3" RoPE scaling, Mistral; sliding window up to its span),
// parsed once into typed fields; plus named presets (tiny random models for tests, real shapes for
// reference).
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace qatwb::model {

// rope_scaling of config.json. "llama3": Llama-3.1/3.2 frequency-dependent scaling; "linear":
// every frequency divided by factor (position interpolation).
struct RopeScaling {
  std::string type;  // "llama3" or "linear"
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;
};

struct LlamaConfig {
  std::string model_type = "llama";  // "llama" or "mistral"
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;
  int64_t max_position_embeddings = 2048;
  // Mistral's sliding-window attention span (0: none). Attention here is full causal, which is
  // exactly the sliding window for sequences up to this length; longer inputs are refused.
  int64_t sliding_window = 0;
  double rms_norm_eps = 1e-5;
  double rope_theta = 10000.0;
  std::optional<RopeScaling> rope_scaling;
  bool tie_word_embeddings = false;
  int64_t bos_token_id = -1;            // -1: none
  std::vector<int64_t> eos_token_ids;   // config.json allows an int or a list
  std::string torch_dtype = "float32";  // "float32", "bfloat16" or "float16"
  double initializer_range = 0.02;

  // Parses an HF config.json object; `source` (the file path) prefixes every error message.
  // Throws qatwb::Error naming the file and the field for anything missing or unsupported.
  static LlamaConfig from_json(const nlohmann::json& j, const std::string& source);
  static LlamaConfig from_file(const std::string& config_json_path);

  // An HF config.json (architectures LlamaForCausalLM, or MistralForCausalLM for "mistral").
  nlohmann::json to_json() const;

  // Throws qatwb::Error (prefixed by `source`) when the dimensions are inconsistent.
  void validate(const std::string& source = "config") const;

  int64_t kv_dim() const { return num_key_value_heads * head_dim; }
  int64_t q_dim() const { return num_attention_heads * head_dim; }
  // Total parameter count (lm_head counted only when untied).
  int64_t num_parameters() const;
};

// The decoder Linears' HF module names ("model.layers.0.self_attn.q_proj") with their weight
// shape {out, in}, in model order (per layer: q, k, v, o, gate, up, down), as the model builds
// them: what quantization can select, torch-free (for `project check` and reports).
std::vector<std::pair<std::string, std::vector<int64_t>>> decoder_linear_shapes(
    const LlamaConfig& config);

// The module names of the token embedding and of the untied output projection, as quantization
// selects them (include/exclude/overrides). With tied embeddings "model.embed_tokens" is also
// the output projection: one quantizer serves both.
inline constexpr const char* kEmbedModule = "model.embed_tokens";
inline constexpr const char* kLmHeadModule = "lm_head";
// Every weight quantization can select: decoder_linear_shapes, then the embedding {vocab,
// hidden} and, when untied, lm_head {vocab, hidden}.
std::vector<std::pair<std::string, std::vector<int64_t>>> quantizable_shapes(
    const LlamaConfig& config);

// RoPE inverse frequencies (head_dim / 2 values) as HF computes them, including the rope_scaling.
std::vector<double> rope_inv_freq(const LlamaConfig& config);

// Named shapes: "llama-micro", "llama-tiny", "llama-small" (random init, for tests and CPU
// examples) and "llama-3.2-1b", "llama-3-8b", "mistral-7b" (the real dimensions). Unknown names
// throw qatwb::Error listing the known ones. vocab_size <= 0 keeps the preset's own vocabulary.
LlamaConfig preset(const std::string& name, int64_t vocab_size);
std::vector<std::string> preset_names();

}  // namespace qatwb::model
