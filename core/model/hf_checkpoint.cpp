#include "core/model/hf_checkpoint.h"

#include <filesystem>
#include <functional>
#include <set>

#include "core/model/safetensors.h"
#include "core/util/error.h"
#include "core/util/strings.h"

namespace qatwb::model {

namespace {

namespace fs = std::filesystem;

std::string shape_str(c10::IntArrayRef shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

struct Source {
  std::string label;  // where the tensors come from, for messages
  std::vector<std::string> names;
  std::function<std::vector<int64_t>(const std::string&)> shape;
  std::function<bool(const std::string&)> is_float;
  std::function<torch::Tensor(const std::string&)> tensor;
};

// Validates names, shapes and dtypes against the model, then copies.
void load_from(Llama& model, const Source& src) {
  const bool tied = model->config().tie_word_embeddings;
  std::map<std::string, torch::Tensor> params;
  for (auto& [name, p] : model->hf_state_dict()) params[name] = p;
  std::vector<std::string> used;
  std::set<std::string> provided;
  for (const auto& name : src.names) {
    provided.insert(name);
    if (ends_with(name, "rotary_emb.inv_freq")) continue;  // a buffer older HF exports carry
    if (tied && name == "lm_head.weight") continue;        // some tied exports include it
    auto it = params.find(name);
    if (it == params.end())
      throw Error(src.label + ": unexpected tensor '" + name + "' of shape " +
                  shape_str(src.shape(name)) + " (the model has no such parameter)");
    const auto shape = src.shape(name);
    if (c10::IntArrayRef(shape) != it->second.sizes())
      throw Error(src.label + ": tensor '" + name + "' has shape " + shape_str(shape) +
                  " but the model expects " + shape_str(it->second.sizes()));
    if (!src.is_float(name))
      throw Error(src.label + ": tensor '" + name + "' is not a floating-point tensor");
    used.push_back(name);
  }
  for (const auto& [name, p] : params)
    if (!provided.count(name))
      throw Error(src.label + ": missing tensor '" + name + "' (the model expects shape " +
                  shape_str(p.sizes()) + ")");
  torch::NoGradGuard no_grad;
  for (const auto& name : used) params[name].copy_(src.tensor(name));
}

}  // namespace

std::vector<std::pair<std::string, std::vector<int64_t>>> expected_hf_shapes(const LlamaConfig& c) {
  const int64_t h = c.hidden_size, v = c.vocab_size;
  std::vector<std::pair<std::string, std::vector<int64_t>>> out = {
      {"model.embed_tokens.weight", {v, h}}};
  const auto linears = decoder_linear_shapes(c);  // 7 a layer, in model order
  const size_t per_layer =
      linears.size() / static_cast<size_t>(std::max<int64_t>(c.num_hidden_layers, 1));
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    for (size_t k = 0; k < per_layer; ++k) {
      const auto& [name, shape] = linears[static_cast<size_t>(i) * per_layer + k];
      out.push_back({name + ".weight", shape});
    }
    out.push_back({p + "input_layernorm.weight", {h}});
    out.push_back({p + "post_attention_layernorm.weight", {h}});
  }
  out.push_back({"model.norm.weight", {h}});
  if (!c.tie_word_embeddings) out.push_back({"lm_head.weight", {v, h}});
  return out;
}

void check_config_against_tensors(const LlamaConfig& c, const SafetensorsReader& reader,
                                  const std::string& config_path) {
  // The layer count first, from the tensor names alone: it is what a config can inflate without
  // bound (num_hidden_layers: 1000000 on a 2-layer folder), so nothing is sized from it before.
  std::set<int64_t> layers;
  for (const auto& name : reader.names()) {
    static const std::string prefix = "model.layers.";
    if (name.rfind(prefix, 0) != 0) continue;
    const size_t dot = name.find('.', prefix.size());
    const std::string idx = name.substr(prefix.size(), dot - prefix.size());
    if (idx.empty() || idx.size() > 9 || idx.find_first_not_of("0123456789") != std::string::npos)
      throw Error(config_path + ": tensor '" + name + "' has no layer number");
    layers.insert(std::stoll(idx));
  }
  const std::string label = reader.files().size() == 1 ? reader.files()[0] : "the safetensors";
  const int64_t found = static_cast<int64_t>(layers.size());
  if (found != c.num_hidden_layers || (found > 0 && *layers.rbegin() != found - 1))
    throw Error(config_path + ": num_hidden_layers is " + std::to_string(c.num_hidden_layers) +
                " but " + label + " holds " + std::to_string(found) + " layer(s)" +
                (found > 0 ? " (model.layers." + std::to_string(*layers.begin()) + " .. " +
                                 std::to_string(*layers.rbegin()) + ")"
                           : std::string()));
  for (const auto& [name, shape] : expected_hf_shapes(c)) {
    if (!reader.contains(name))
      throw Error(label + ": missing tensor '" + name + "' (" + config_path + " implies shape " +
                  shape_str(shape) + ")");
    const auto& actual = reader.entry(name).shape;
    if (actual != shape)
      throw Error(config_path + ": tensor '" + name + "' has shape " + shape_str(actual) + " in " +
                  label + " but config.json (vocab_size " + std::to_string(c.vocab_size) +
                  ", hidden_size " + std::to_string(c.hidden_size) + ", intermediate_size " +
                  std::to_string(c.intermediate_size) + ", heads " +
                  std::to_string(c.num_attention_heads) + "/" +
                  std::to_string(c.num_key_value_heads) + ", head_dim " +
                  std::to_string(c.head_dim) + ") implies " + shape_str(shape));
  }
}

std::string torch_dtype_name(torch::Dtype dtype) {
  if (dtype == torch::kFloat32) return "float32";
  if (dtype == torch::kBFloat16) return "bfloat16";
  if (dtype == torch::kFloat16) return "float16";
  throw Error("unsupported model dtype " + std::string(c10::toString(dtype)) +
              " (float32, bfloat16, float16)");
}

torch::Dtype torch_dtype_from_name(const std::string& name) {
  if (name == "float32" || name == "fp32" || name == "f32") return torch::kFloat32;
  if (name == "bfloat16" || name == "bf16") return torch::kBFloat16;
  if (name == "float16" || name == "fp16" || name == "f16") return torch::kFloat16;
  throw Error("unsupported dtype '" + name + "' (fp32, bf16, fp16)");
}

void load_state(Llama& model, const std::map<std::string, torch::Tensor>& by_hf_name) {
  Source src;
  src.label = "state";
  for (const auto& item : by_hf_name) src.names.push_back(item.first);
  src.shape = [&](const std::string& n) { return by_hf_name.at(n).sizes().vec(); };
  src.is_float = [&](const std::string& n) { return by_hf_name.at(n).is_floating_point(); };
  src.tensor = [&](const std::string& n) { return by_hf_name.at(n); };
  load_from(model, src);
}

Llama load_hf(const std::string& dir, torch::Device device, torch::Dtype dtype) {
  torch_dtype_name(dtype);  // validates
  const fs::path d(dir);
  if (!fs::is_directory(d)) throw Error(dir + ": not a directory");
  const LlamaConfig config = LlamaConfig::from_file((d / "config.json").string());
  const auto reader = SafetensorsReader::open(dir);
  check_config_against_tensors(config, reader, (d / "config.json").string());
  Llama model(config, /*initialize=*/false, torch::TensorOptions().device(device).dtype(dtype));
  Source src;
  src.label = reader.files().size() == 1 ? reader.files()[0] : dir;
  src.names = reader.names();
  src.shape = [&](const std::string& n) { return reader.entry(n).shape; };
  src.is_float = [&](const std::string& n) {
    return c10::isFloatingType(safetensors_scalar_type(reader.entry(n).dtype, src.label));
  };
  src.tensor = [&](const std::string& n) { return reader.tensor(n); };
  load_from(model, src);
  return model;
}

void save_hf(Llama& model, const std::string& dir, torch::Dtype dtype,
             const std::map<std::string, std::string>& metadata) {
  LlamaConfig config = model->config();
  config.torch_dtype = torch_dtype_name(dtype);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (!fs::is_directory(dir)) throw Error(dir + ": cannot create directory");
  std::map<std::string, std::string> meta = metadata;
  meta["format"] = "pt";
  const fs::path d(dir);
  save_safetensors((d / "model.safetensors").string(), model->hf_state_dict(), meta, dtype);
  fs::remove(d / "model.safetensors.index.json", ec);  // a stale index would win when loading
  write_file_atomic((d / "config.json").string(), config.to_json().dump(2) + "\n");
}

Llama create_from_preset(const std::string& preset_name, int64_t vocab_size, int64_t seed) {
  Llama model(preset(preset_name, vocab_size), /*initialize=*/false);
  model->init_weights(seed);
  return model;
}

bool copy_tokenizer_files(const std::string& tokenizer_json, const std::string& dir) {
  std::error_code ec;
  if (tokenizer_json.empty() || !fs::is_regular_file(tokenizer_json, ec)) return false;
  const fs::path tok(tokenizer_json);
  fs::copy_file(tok, fs::path(dir) / "tokenizer.json", fs::copy_options::overwrite_existing);
  for (const char* extra :
       {"tokenizer_config.json", "special_tokens_map.json", "generation_config.json"}) {
    const fs::path p = tok.parent_path() / extra;
    if (fs::is_regular_file(p, ec))
      fs::copy_file(p, fs::path(dir) / extra, fs::copy_options::overwrite_existing);
  }
  return true;
}

}  // namespace qatwb::model
