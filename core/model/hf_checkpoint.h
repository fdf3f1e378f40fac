// HF checkpoint folders: config.json + model.safetensors (or a sharded
// model.safetensors.index.json), the layout transformers' from_pretrained reads and writes.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>

#include "core/model/llama.h"
#include "core/model/safetensors.h"

namespace qatwb::model {

// Loads config.json and the weights onto `device` in `dtype` (F32/BF16/F16 files are converted).
// Missing, unexpected or wrong-shaped tensors throw qatwb::Error naming the tensor (and both
// shapes). Tied models may lack lm_head.weight; HF's rotary_emb.inv_freq buffers are ignored.
// config.json is checked against the safetensors headers (check_config_against_tensors) before
// anything is allocated.
Llama load_hf(const std::string& dir, torch::Device device, torch::Dtype dtype = torch::kFloat32);

// Every parameter tensor a config implies, in HF names, with its shape.
std::vector<std::pair<std::string, std::vector<int64_t>>> expected_hf_shapes(
    const LlamaConfig& config);
// Throws qatwb::Error naming config.json, the field and the tensor when the config does not
// describe the tensors in `reader` (layer count from the names first, then every shape), so a
// bad config (num_hidden_layers: 1000000 on a 2-layer folder) is refused from the headers alone.
void check_config_against_tensors(const LlamaConfig& config, const SafetensorsReader& reader,
                                  const std::string& config_path);

// Writes <dir>/config.json and <dir>/model.safetensors (tensors in `dtype`, metadata with
// "format": "pt" added), each atomically; creates `dir` when needed.
void save_hf(Llama& model, const std::string& dir, torch::Dtype dtype = torch::kFloat32,
             const std::map<std::string, std::string>& metadata = {});

// A preset (see preset()) with random weights drawn from `seed`, float32 on the CPU.
Llama create_from_preset(const std::string& preset_name, int64_t vocab_size, int64_t seed);

// Copies tensors (keyed by HF name) into the model's parameters, converting dtype and device.
// Checks everything first, so a failed load leaves the model untouched.
void load_state(Llama& model, const std::map<std::string, torch::Tensor>& by_hf_name);

// "float32" / "bfloat16" / "float16" <-> torch dtype; throws qatwb::Error for anything else.
// Copies tokenizer.json and the files HF keeps beside it (tokenizer_config.json with the BOS/EOS
// tokens, special_tokens_map.json, generation_config.json, where present) into the model folder
// `dir`, under their usual names. Returns false (copying nothing) when `tokenizer_json` is not a
// file.
bool copy_tokenizer_files(const std::string& tokenizer_json, const std::string& dir);

std::string torch_dtype_name(torch::Dtype dtype);
torch::Dtype torch_dtype_from_name(const std::string& name);

}  // namespace qatwb::model
