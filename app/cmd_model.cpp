// qatwb model create | info: make a randomly initialized HF Llama folder from a preset, and
// describe an HF folder (config summary, parameter count, tensors) without loading the weights.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include "app/command.h"
#include "core/model/hf_checkpoint.h"
#include "core/model/llama_config.h"
#include "core/model/safetensors.h"
#include "core/text/tokenizer.h"
#include "core/util/error.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using qatwb::Error;
using qatwb::model::LlamaConfig;

struct ModelOptions {
  std::string preset;
  int64_t vocab_size = 0;
  std::string tokenizer;
  std::string out;
  int64_t seed = 0;
  std::string dtype = "fp32";
  bool force = false;
  std::string dir;
  bool json = false;
};

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string human_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u ? "%.1f %s" : "%.0f %s", bytes, units[u]);
  return buf;
}

int run_create(const ModelOptions& o) {
  if (o.vocab_size <= 0 && o.tokenizer.empty())
    throw Error("give --vocab-size N or --tokenizer tokenizer.json");
  if (fs::exists(fs::path(o.out) / "config.json") && !o.force)
    throw Error(o.out + ": already holds a model (config.json); use --force to overwrite");
  const torch::Dtype dtype = qatwb::model::torch_dtype_from_name(o.dtype);
  int64_t vocab = o.vocab_size;
  int64_t bos = -1, eos = -1;
  if (!o.tokenizer.empty()) {
    const auto tok = qatwb::text::Tokenizer::from_file(o.tokenizer);
    vocab = tok.vocab_size();
    bos = tok.bos_id();
    eos = tok.eos_id();
  }
  LlamaConfig config = qatwb::model::preset(o.preset, vocab);
  if (!o.tokenizer.empty()) {
    config.bos_token_id = bos;
    config.eos_token_ids.clear();
    if (eos >= 0) config.eos_token_ids.push_back(eos);
  }
  qatwb::model::Llama model(config, /*initialize=*/false);
  model->init_weights(o.seed);
  qatwb::model::save_hf(model, o.out, dtype,
                        {{"qatwb_preset", o.preset}, {"qatwb_seed", std::to_string(o.seed)}});
  if (!o.tokenizer.empty()) {
    // tokenizer.json with the files HF keeps beside it (tokenizer_config.json names BOS/EOS);
    // a tokenizer without one gets a tokenizer_config.json naming the ids found above, so that
    // the folder's tokenizer has the same BOS/EOS as its config.json wherever it is read.
    try {
      qatwb::model::copy_tokenizer_files(o.tokenizer, o.out);
    } catch (const std::exception& e) {
      throw Error(o.out + "/tokenizer.json: cannot copy tokenizer: " + e.what());
    }
    const fs::path tok_config = fs::path(o.out) / "tokenizer_config.json";
    if (!fs::exists(tok_config)) {
      const auto tok = qatwb::text::Tokenizer::from_file(o.tokenizer);
      json tc = json::object();
      if (bos >= 0) tc["bos_token"] = tok.decode({static_cast<int32_t>(bos)});
      if (eos >= 0) tc["eos_token"] = tok.decode({static_cast<int32_t>(eos)});
      std::ofstream out(tok_config);
      out << tc.dump(2) << "\n";
      if (!out) throw Error(tok_config.string() + ": cannot write");
    }
  }
  if (o.json) {
    json j{{"dir", o.out},
           {"preset", o.preset},
           {"vocab_size", config.vocab_size},
           {"parameters", config.num_parameters()},
           {"dtype", qatwb::model::torch_dtype_name(dtype)},
           {"seed", o.seed}};
    std::cout << j.dump() << "\n";
  } else {
    std::cout << "created " << o.out << ": " << o.preset << ", vocab " << config.vocab_size << ", "
              << config.num_parameters() << " parameters, " << qatwb::model::torch_dtype_name(dtype)
              << ", seed " << o.seed << "\n";
  }
  return 0;
}

int run_info(const ModelOptions& o) {
  if (!fs::is_directory(o.dir)) throw Error(o.dir + ": not a directory");
  const LlamaConfig c = LlamaConfig::from_file((fs::path(o.dir) / "config.json").string());
  const auto reader = qatwb::model::SafetensorsReader::open(o.dir);
  qatwb::model::check_config_against_tensors(c, reader, (fs::path(o.dir) / "config.json").string());
  int64_t elements = 0;
  uint64_t bytes = 0;
  json tensors = json::array();
  for (const auto& name : reader.names()) {
    const auto& e = reader.entry(name);
    int64_t n = 1;
    for (int64_t d : e.shape) n *= d;
    elements += n;
    bytes += e.end - e.begin;
    tensors.push_back({{"name", name},
                       {"dtype", e.dtype},
                       {"shape", e.shape},
                       {"file", fs::path(reader.file_of(name)).filename().string()}});
  }
  json files = json::array();
  for (const auto& f : reader.files()) files.push_back(fs::path(f).filename().string());
  if (o.json) {
    json j{{"dir", o.dir},
           {"config", c.to_json()},
           {"parameters", c.num_parameters()},
           {"tensor_elements", elements},
           {"tensor_bytes", bytes},
           {"files", files},
           {"metadata", reader.metadata()},
           {"tensors", tensors}};
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::string rope = "none";
  if (c.rope_scaling) rope = c.rope_scaling->type + " x" + std::to_string(c.rope_scaling->factor);
  std::cout << o.dir << "\n"
            << "  " << c.model_type << ": " << c.num_hidden_layers << " layers, hidden "
            << c.hidden_size << ", heads " << c.num_attention_heads << " (kv "
            << c.num_key_value_heads << ", head_dim " << c.head_dim << "), intermediate "
            << c.intermediate_size << ", vocab " << c.vocab_size << "\n"
            << "  rope_theta " << c.rope_theta << ", rope_scaling " << rope << ", max positions "
            << c.max_position_embeddings << ", tied embeddings "
            << (c.tie_word_embeddings ? "yes" : "no") << ", dtype " << c.torch_dtype << "\n"
            << "  parameters " << c.num_parameters() << "; " << tensors.size() << " tensors, "
            << elements << " elements, " << human_bytes(double(bytes)) << " in " << files.size()
            << " file(s)\n";
  for (const auto& t : tensors)
    std::cout << "  " << t["name"].get<std::string>() << "  " << t["dtype"].get<std::string>()
              << "  " << shape_text(t["shape"].get<std::vector<int64_t>>()) << "\n";
  return 0;
}

const qatwb::cli::CommandRegistration registration(
    "model", "Create a random HF Llama folder from a preset, or describe one",
    [](CLI::App& sub) -> std::function<int()> {
      auto o = std::make_shared<ModelOptions>();
      sub.require_subcommand(1);
      CLI::App* create = sub.add_subcommand(
          "create", "Write config.json + model.safetensors of a randomly initialized preset");
      std::string presets;
      for (const auto& n : qatwb::model::preset_names())
        presets += (presets.empty() ? "" : ", ") + n;
      create->add_option("--preset", o->preset, "Model shape: " + presets)->required();
      auto* vocab = create->add_option("--vocab-size", o->vocab_size, "Vocabulary size");
      auto* tok = create
                      ->add_option("--tokenizer", o->tokenizer,
                                   "tokenizer.json: vocabulary, BOS/EOS ids; copied into --out")
                      ->check(CLI::ExistingFile);
      vocab->excludes(tok);
      create->add_option("--out", o->out, "Output folder (created)")->required();
      create->add_option("--seed", o->seed, "Initialization seed (default 0)");
      create->add_option("--dtype", o->dtype, "Stored dtype: fp32 (default) or bf16")
          ->check(CLI::IsMember({"fp32", "bf16"}));
      create->add_flag("--force", o->force, "Overwrite an existing model folder");
      create->add_flag("--json", o->json, "Machine-readable output");

      CLI::App* info = sub.add_subcommand(
          "info", "Config summary, parameter count and tensors of an HF model folder");
      info->add_option("dir", o->dir, "HF model folder (config.json + safetensors)")->required();
      info->add_flag("--json", o->json, "Machine-readable output");
      return [o, create]() { return create->parsed() ? run_create(*o) : run_info(*o); };
    });

}  // namespace
