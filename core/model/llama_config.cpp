#include "core/model/llama_config.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include "core/util/error.h"

namespace qatwb::model {
namespace {

using nlohmann::json;

[[noreturn]] void fail(const std::string& source, const std::string& message) {
  throw Error(source + ": " + message);
}

std::string type_name(const json& v) { return v.type_name(); }

bool has_value(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && !it->is_null();
}

int64_t as_int(const json& v, const std::string& source, const std::string& field) {
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e15)
      return static_cast<int64_t>(d);
  }
  fail(source, "field '" + field + "' must be an integer, got " + type_name(v) + " " + v.dump());
}

double as_double(const json& v, const std::string& source, const std::string& field) {
  if (v.is_number()) {
    const double d = v.get<double>();
    if (std::isfinite(d)) return d;
  }
  fail(source, "field '" + field + "' must be a finite number, got " + v.dump());
}

bool as_bool(const json& v, const std::string& source, const std::string& field) {
  if (v.is_boolean()) return v.get<bool>();
  fail(source, "field '" + field + "' must be true or false, got " + v.dump());
}

std::string as_string(const json& v, const std::string& source, const std::string& field) {
  if (v.is_string()) return v.get<std::string>();
  fail(source, "field '" + field + "' must be a string, got " + v.dump());
}

int64_t required_int(const json& j, const char* key, const std::string& source) {
  if (!has_value(j, key)) fail(source, "missing required field '" + std::string(key) + "'");
  return as_int(j.at(key), source, key);
}

RopeScaling parse_rope_scaling(const json& r, const std::string& source) {
  if (!r.is_object()) fail(source, "field 'rope_scaling' must be an object or null");
  std::string type;
  if (has_value(r, "rope_type"))
    type = as_string(r.at("rope_type"), source, "rope_scaling.rope_type");
  else if (has_value(r, "type"))
    type = as_string(r.at("type"), source, "rope_scaling.type");
  else
    fail(source, "field 'rope_scaling' has neither 'rope_type' nor 'type'");
  RopeScaling s;
  s.type = type;
  if (type == "default") return s;
  if (type != "llama3" && type != "linear")
    fail(source, "field 'rope_scaling.rope_type': unsupported RoPE scaling '" + type +
                     "' (supported: llama3, linear, default)");
  if (!has_value(r, "factor")) fail(source, "field 'rope_scaling.factor' is missing");
  s.factor = as_double(r.at("factor"), source, "rope_scaling.factor");
  if (s.factor <= 0) fail(source, "field 'rope_scaling.factor' must be > 0");
  if (type == "linear") return s;
  for (const char* key :
       {"low_freq_factor", "high_freq_factor", "original_max_position_embeddings"})
    if (!has_value(r, key))
      fail(source, "field 'rope_scaling." + std::string(key) + "' is missing (rope_type llama3)");
  s.low_freq_factor = as_double(r.at("low_freq_factor"), source, "rope_scaling.low_freq_factor");
  s.high_freq_factor = as_double(r.at("high_freq_factor"), source, "rope_scaling.high_freq_factor");
  s.original_max_position_embeddings = as_int(r.at("original_max_position_embeddings"), source,
                                              "rope_scaling.original_max_position_embeddings");
  if (s.low_freq_factor <= 0 || s.high_freq_factor <= s.low_freq_factor)
    fail(source, "field 'rope_scaling': need 0 < low_freq_factor < high_freq_factor");
  if (s.original_max_position_embeddings <= 0)
    fail(source, "field 'rope_scaling.original_max_position_embeddings' must be > 0");
  return s;
}

std::string dtype_field(const json& j, const std::string& source) {
  const char* key = has_value(j, "torch_dtype") ? "torch_dtype" : "dtype";
  if (!has_value(j, key)) return "float32";
  std::string d = as_string(j.at(key), source, key);
  if (d == "float32" || d == "bfloat16" || d == "float16") return d;
  fail(source, "field '" + std::string(key) + "': unsupported dtype '" + d +
                   "' (float32, bfloat16, float16)");
}

}  // namespace

LlamaConfig LlamaConfig::from_json(const json& j, const std::string& source) {
  if (!j.is_object()) fail(source, "config.json must hold a JSON object");
  LlamaConfig c;
  if (!has_value(j, "model_type")) fail(source, "missing required field 'model_type'");
  c.model_type = as_string(j.at("model_type"), source, "model_type");
  if (c.model_type != "llama" && c.model_type != "mistral")
    fail(source, "field 'model_type': unsupported model type '" + c.model_type +
                     "' (supported: llama, mistral)");
  c.vocab_size = required_int(j, "vocab_size", source);
  c.hidden_size = required_int(j, "hidden_size", source);
  c.intermediate_size = required_int(j, "intermediate_size", source);
  c.num_hidden_layers = required_int(j, "num_hidden_layers", source);
  c.num_attention_heads = required_int(j, "num_attention_heads", source);
  c.num_key_value_heads = has_value(j, "num_key_value_heads")
                              ? as_int(j.at("num_key_value_heads"), source, "num_key_value_heads")
                              : c.num_attention_heads;
  if (c.num_attention_heads <= 0) fail(source, "field 'num_attention_heads' must be > 0");
  if (has_value(j, "head_dim")) {
    c.head_dim = as_int(j.at("head_dim"), source, "head_dim");
  } else {
    if (c.hidden_size % c.num_attention_heads != 0)
      fail(source, "field 'hidden_size' (" + std::to_string(c.hidden_size) +
                       ") is not divisible by 'num_attention_heads' (" +
                       std::to_string(c.num_attention_heads) + ") and 'head_dim' is absent");
    c.head_dim = c.hidden_size / c.num_attention_heads;
  }
  if (has_value(j, "max_position_embeddings"))
    c.max_position_embeddings =
        as_int(j.at("max_position_embeddings"), source, "max_position_embeddings");
  if (has_value(j, "rms_norm_eps"))
    c.rms_norm_eps = as_double(j.at("rms_norm_eps"), source, "rms_norm_eps");
  if (has_value(j, "rope_theta"))
    c.rope_theta = as_double(j.at("rope_theta"), source, "rope_theta");
  if (has_value(j, "rope_scaling")) {
    RopeScaling s = parse_rope_scaling(j.at("rope_scaling"), source);
    if (s.type != "default") c.rope_scaling = s;
  }
  if (has_value(j, "tie_word_embeddings"))
    c.tie_word_embeddings = as_bool(j.at("tie_word_embeddings"), source, "tie_word_embeddings");
  if (has_value(j, "bos_token_id"))
    c.bos_token_id = as_int(j.at("bos_token_id"), source, "bos_token_id");
  if (has_value(j, "eos_token_id")) {
    const json& e = j.at("eos_token_id");
    if (e.is_array()) {
      for (size_t i = 0; i < e.size(); ++i)
        c.eos_token_ids.push_back(as_int(e[i], source, "eos_token_id[" + std::to_string(i) + "]"));
    } else {
      c.eos_token_ids.push_back(as_int(e, source, "eos_token_id"));
    }
  }
  c.torch_dtype = dtype_field(j, source);
  if (has_value(j, "initializer_range"))
    c.initializer_range = as_double(j.at("initializer_range"), source, "initializer_range");

  // Features this implementation does not have: refuse rather than compute something else.
  if (has_value(j, "hidden_act")) {
    const std::string act = as_string(j.at("hidden_act"), source, "hidden_act");
    if (act != "silu" && act != "swish")
      fail(source, "field 'hidden_act': unsupported activation '" + act + "' (only silu)");
  }
  for (const char* key : {"attention_bias", "mlp_bias"})
    if (has_value(j, key) && as_bool(j.at(key), source, key))
      fail(source, "field '" + std::string(key) + "': biases are not supported (must be false)");
  if (has_value(j, "sliding_window")) {
    const int64_t w = as_int(j.at("sliding_window"), source, "sliding_window");
    if (w <= 0) fail(source, "field 'sliding_window': must be positive or null");
    // A window covering every position is plain causal attention.
    if (w < c.max_position_embeddings) c.sliding_window = w;
  }
  c.validate(source);
  return c;
}

LlamaConfig LlamaConfig::from_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open config file");
  std::stringstream ss;
  ss << in.rdbuf();
  json j;
  try {
    j = json::parse(ss.str());
  } catch (const json::parse_error& e) {
    throw Error(path + ": invalid JSON: " + e.what());
  }
  return from_json(j, path);
}

void LlamaConfig::validate(const std::string& source) const {
  auto positive = [&](const char* field, int64_t v) {
    if (v <= 0)
      fail(source, "field '" + std::string(field) + "' must be > 0, got " + std::to_string(v));
  };
  positive("vocab_size", vocab_size);
  positive("hidden_size", hidden_size);
  positive("intermediate_size", intermediate_size);
  positive("num_hidden_layers", num_hidden_layers);
  positive("num_attention_heads", num_attention_heads);
  positive("num_key_value_heads", num_key_value_heads);
  positive("head_dim", head_dim);
  positive("max_position_embeddings", max_position_embeddings);
  // Upper bounds far above any real model (Llama 3.1 405B: hidden 16384, 126 layers, vocab
  // 128256), so that the products below and every tensor shape fit in int64 and a hostile
  // config.json cannot make the model or the RoPE table allocate without bound.
  auto at_most = [&](const char* field, int64_t v, int64_t max) {
    if (v > max)
      fail(source, "field '" + std::string(field) + "' (" + std::to_string(v) +
                       ") exceeds the limit of " + std::to_string(max));
  };
  constexpr int64_t kMaxDim = int64_t{1} << 24;
  at_most("vocab_size", vocab_size, kMaxDim);
  at_most("hidden_size", hidden_size, kMaxDim);
  at_most("intermediate_size", intermediate_size, kMaxDim);
  at_most("num_hidden_layers", num_hidden_layers, int64_t{1} << 20);
  at_most("num_attention_heads", num_attention_heads, int64_t{1} << 16);
  at_most("num_key_value_heads", num_key_value_heads, int64_t{1} << 16);
  at_most("head_dim", head_dim, int64_t{1} << 16);
  at_most("max_position_embeddings", max_position_embeddings, int64_t{1} << 40);
  if (rope_scaling)
    at_most("rope_scaling.original_max_position_embeddings",
            rope_scaling->original_max_position_embeddings, int64_t{1} << 40);
  // Each factor is at most 2^40, so the count in double is exact enough to bound the int64 one.
  const double h = double(hidden_size), q = double(num_attention_heads) * double(head_dim),
               kv = double(num_key_value_heads) * double(head_dim);
  const double params =
      double(vocab_size) * h * 2 +
      double(num_hidden_layers) * (h * (q + kv) * 2 + 3 * h * double(intermediate_size) + 2 * h) +
      h;
  if (params > double(int64_t{1} << 50))
    fail(source, "the sizes describe " + std::to_string(params) +
                     " parameters, more than the limit of 2^50");
  if (head_dim % 2 != 0) fail(source, "field 'head_dim' must be even for RoPE");
  if (num_attention_heads % num_key_value_heads != 0)
    fail(source, "field 'num_attention_heads' (" + std::to_string(num_attention_heads) +
                     ") must be a multiple of 'num_key_value_heads' (" +
                     std::to_string(num_key_value_heads) + ")");
  if (!(rms_norm_eps > 0)) fail(source, "field 'rms_norm_eps' must be > 0");
  if (!(rope_theta > 0)) fail(source, "field 'rope_theta' must be > 0");
  if (model_type != "llama" && model_type != "mistral")
    fail(source, "field 'model_type': unsupported model type '" + model_type + "'");
  if (bos_token_id < -1) fail(source, "field 'bos_token_id' must be >= 0");
  for (int64_t e : eos_token_ids)
    if (e < 0) fail(source, "field 'eos_token_id' (" + std::to_string(e) + ") must be >= 0");
  if (bos_token_id >= vocab_size)
    fail(source, "field 'bos_token_id' (" + std::to_string(bos_token_id) + ") >= vocab_size");
  for (int64_t e : eos_token_ids)
    if (e >= vocab_size)
      fail(source, "field 'eos_token_id' (" + std::to_string(e) + ") >= vocab_size");
}

json LlamaConfig::to_json() const {
  json j;
  const bool mistral = model_type == "mistral";
  j["architectures"] = json::array({mistral ? "MistralForCausalLM" : "LlamaForCausalLM"});
  j["model_type"] = model_type;
  j["attention_bias"] = false;
  j["attention_dropout"] = 0.0;
  j["mlp_bias"] = false;
  j["hidden_act"] = "silu";
  j["vocab_size"] = vocab_size;
  j["hidden_size"] = hidden_size;
  j["intermediate_size"] = intermediate_size;
  j["num_hidden_layers"] = num_hidden_layers;
  j["num_attention_heads"] = num_attention_heads;
  j["num_key_value_heads"] = num_key_value_heads;
  j["head_dim"] = head_dim;
  j["max_position_embeddings"] = max_position_embeddings;
  j["rms_norm_eps"] = rms_norm_eps;
  j["rope_theta"] = rope_theta;
  if (rope_scaling) {
    json r;
    r["rope_type"] = rope_scaling->type;
    r["factor"] = rope_scaling->factor;
    if (rope_scaling->type == "llama3") {
      r["low_freq_factor"] = rope_scaling->low_freq_factor;
      r["high_freq_factor"] = rope_scaling->high_freq_factor;
      r["original_max_position_embeddings"] = rope_scaling->original_max_position_embeddings;
    }
    j["rope_scaling"] = r;
  } else {
    j["rope_scaling"] = nullptr;
  }
  if (mistral) j["sliding_window"] = sliding_window > 0 ? json(sliding_window) : json(nullptr);
  j["tie_word_embeddings"] = tie_word_embeddings;
  j["bos_token_id"] = bos_token_id >= 0 ? json(bos_token_id) : json(nullptr);
  if (eos_token_ids.empty())
    j["eos_token_id"] = nullptr;
  else if (eos_token_ids.size() == 1)
    j["eos_token_id"] = eos_token_ids[0];
  else
    j["eos_token_id"] = eos_token_ids;
  j["torch_dtype"] = torch_dtype;
  j["initializer_range"] = initializer_range;
  j["pretraining_tp"] = 1;
  j["use_cache"] = true;
  return j;
}

int64_t LlamaConfig::num_parameters() const {
  const int64_t attn = hidden_size * q_dim() * 2 + hidden_size * kv_dim() * 2;
  const int64_t mlp = 3 * hidden_size * intermediate_size;
  const int64_t layer = attn + mlp + 2 * hidden_size;
  const int64_t embed = vocab_size * hidden_size;
  return embed + num_hidden_layers * layer + hidden_size + (tie_word_embeddings ? 0 : embed);
}

std::vector<double> rope_inv_freq(const LlamaConfig& c) {
  const int64_t half = c.head_dim / 2;
  std::vector<double> inv(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i)
    inv[i] = 1.0 / std::pow(c.rope_theta, static_cast<double>(2 * i) / c.head_dim);
  if (!c.rope_scaling) return inv;
  const RopeScaling& s = *c.rope_scaling;
  if (s.type == "linear") {
    for (double& f : inv) f /= s.factor;
    return inv;
  }
  // llama3: long wavelengths (low frequencies) divided by factor, short ones kept, a smooth
  // interpolation in between (HF _compute_llama3_parameters).
  const double old_len = static_cast<double>(s.original_max_position_embeddings);
  const double low_freq_wavelen = old_len / s.low_freq_factor;
  const double high_freq_wavelen = old_len / s.high_freq_factor;
  const double pi = std::acos(-1.0);
  for (double& f : inv) {
    const double wavelen = 2 * pi / f;
    if (wavelen > low_freq_wavelen) {
      f = f / s.factor;
    } else if (wavelen >= high_freq_wavelen) {
      const double smooth =
          (old_len / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
      f = (1 - smooth) * f / s.factor + smooth * f;
    }
  }
  return inv;
}

std::vector<std::string> preset_names() {
  return {"llama-micro", "llama-tiny", "llama-small", "llama-3.2-1b", "llama-3-8b", "mistral-7b"};
}

LlamaConfig preset(const std::string& name, int64_t vocab_size) {
  LlamaConfig c;
  c.initializer_range = 0.02;
  auto small = [&](int64_t layers, int64_t hidden, int64_t heads, int64_t kv, int64_t inter) {
    c.num_hidden_layers = layers;
    c.hidden_size = hidden;
    c.num_attention_heads = heads;
    c.num_key_value_heads = kv;
    c.head_dim = hidden / heads;
    c.intermediate_size = inter;
    c.vocab_size = 32000;
    c.max_position_embeddings = 2048;
    c.rope_theta = 10000.0;
    c.rms_norm_eps = 1e-5;
    c.tie_word_embeddings = true;
  };
  if (name == "llama-micro") {
    small(2, 64, 4, 2, 172);
  } else if (name == "llama-tiny") {
    small(4, 256, 8, 4, 688);
  } else if (name == "llama-small") {
    small(8, 512, 8, 4, 1376);
  } else if (name == "llama-3.2-1b") {
    c.vocab_size = 128256;
    c.hidden_size = 2048;
    c.intermediate_size = 8192;
    c.num_hidden_layers = 16;
    c.num_attention_heads = 32;
    c.num_key_value_heads = 8;
    c.head_dim = 64;
    c.max_position_embeddings = 131072;
    c.rope_theta = 500000.0;
    c.rope_scaling = RopeScaling{"llama3", 32.0, 1.0, 4.0, 8192};
    c.tie_word_embeddings = true;
    c.bos_token_id = 128000;
    c.eos_token_ids = {128001};
    c.torch_dtype = "bfloat16";
  } else if (name == "llama-3-8b") {
    c.vocab_size = 128256;
    c.hidden_size = 4096;
    c.intermediate_size = 14336;
    c.num_hidden_layers = 32;
    c.num_attention_heads = 32;
    c.num_key_value_heads = 8;
    c.head_dim = 128;
    c.max_position_embeddings = 8192;
    c.rope_theta = 500000.0;
    c.tie_word_embeddings = false;
    c.bos_token_id = 128000;
    c.eos_token_ids = {128001};
    c.torch_dtype = "bfloat16";
  } else if (name == "mistral-7b") {
    c.model_type = "mistral";
    c.vocab_size = 32768;
    c.hidden_size = 4096;
    c.intermediate_size = 14336;
    c.num_hidden_layers = 32;
    c.num_attention_heads = 32;
    c.num_key_value_heads = 8;
    c.head_dim = 128;
    c.max_position_embeddings = 32768;
    c.rope_theta = 1000000.0;
    c.tie_word_embeddings = false;
    c.bos_token_id = 1;
    c.eos_token_ids = {2};
    c.torch_dtype = "bfloat16";
  } else {
    std::string known;
    for (const auto& n : preset_names()) known += (known.empty() ? "" : ", ") + n;
    throw Error("unknown model preset '" + name + "' (known: " + known + ")");
  }
  if (vocab_size > 0) {
    c.vocab_size = vocab_size;
    if (c.bos_token_id >= vocab_size) c.bos_token_id = -1;
    std::vector<int64_t> eos;
    for (int64_t e : c.eos_token_ids)
      if (e < vocab_size) eos.push_back(e);
    c.eos_token_ids = eos;
  }
  c.validate("preset " + name);
  return c;
}

std::vector<std::pair<std::string, std::vector<int64_t>>> decoder_linear_shapes(
    const LlamaConfig& c) {
  const int64_t h = c.hidden_size, f = c.intermediate_size;
  std::vector<std::pair<std::string, std::vector<int64_t>>> out;
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    out.push_back({p + "self_attn.q_proj", {c.q_dim(), h}});
    out.push_back({p + "self_attn.k_proj", {c.kv_dim(), h}});
    out.push_back({p + "self_attn.v_proj", {c.kv_dim(), h}});
    out.push_back({p + "self_attn.o_proj", {h, c.q_dim()}});
    out.push_back({p + "mlp.gate_proj", {f, h}});
    out.push_back({p + "mlp.up_proj", {f, h}});
    out.push_back({p + "mlp.down_proj", {h, f}});
  }
  return out;
}

std::vector<std::pair<std::string, std::vector<int64_t>>> quantizable_shapes(const LlamaConfig& c) {
  auto out = decoder_linear_shapes(c);
  out.push_back({kEmbedModule, {c.vocab_size, c.hidden_size}});
  if (!c.tie_word_embeddings) out.push_back({kLmHeadModule, {c.vocab_size, c.hidden_size}});
  return out;
}

}  // namespace qatwb::model
