#include "core/export/gguf_tokenizer.h"

#include <fstream>

#include <nlohmann/json.hpp>

#include "core/text/tokenizer.h"
#include "core/util/error.h"

namespace qatwb::exporter {
namespace {

using nlohmann::json;

// Every object with "type" == `type` in a (possibly nested "Sequence") component.
void collect(const json& node, const std::string& type, std::vector<json>& out) {
  if (!node.is_object()) return;
  if (node.value("type", "") == type) out.push_back(node);
  for (const char* list : {"pretokenizers", "normalizers", "decoders", "processors"})
    if (node.contains(list) && node[list].is_array())
      for (const auto& child : node[list]) collect(child, type, out);
}

bool has(const json& node, const std::string& type) {
  std::vector<json> found;
  collect(node, type, found);
  return !found.empty();
}

std::string pre_name(const json& pre, std::vector<std::string>& notes) {
  std::vector<json> splits;
  collect(pre, "Split", splits);
  std::string regex;
  for (const auto& s : splits)
    if (s.contains("pattern") && s["pattern"].contains("Regex"))
      regex = s["pattern"]["Regex"].get<std::string>();
  if (regex.find("(?i:'s|'t|'re|'ve|'m|'ll|'d)") != std::string::npos &&
      regex.find("\\p{N}{1,3}") != std::string::npos)
    return "llama-bpe";
  std::vector<json> bl;
  collect(pre, "ByteLevel", bl);
  if (regex.empty() && !bl.empty() && bl.front().value("use_regex", true)) return "gpt-2";
  notes.push_back(
      "tokenizer: unrecognised pre-tokenizer regex; tokenizer.ggml.pre = \"default\""
      " (llama.cpp's GPT-2 style split)");
  return "default";
}

}  // namespace

GgufVocab gguf_vocab_from_tokenizer_json(const std::string& path, int64_t model_vocab) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open tokenizer.json");
  json j;
  try {
    j = json::parse(in);
  } catch (const std::exception& e) {
    throw Error(path + ": invalid JSON: " + e.what());
  }
  const json& model = j.contains("model") ? j["model"] : json();
  if (!model.is_object() || model.value("type", "BPE") != "BPE" || !model.contains("vocab") ||
      !model["vocab"].is_object())
    throw Error(path + ": model: only BPE tokenizers can be carried into GGUF");
  GgufVocab v;
  const json pre = j.value("pre_tokenizer", json());
  const json norm = j.value("normalizer", json());
  const bool spm = model.value("byte_fallback", false) || has(pre, "Metaspace") ||
                   has(norm, "Prepend") || has(j.value("decoder", json()), "ByteFallback");
  v.model = spm ? "llama" : "gpt2";
  v.pre = spm ? "default" : pre_name(pre, v.notes);
  if (spm) {
    v.add_space_prefix = has(norm, "Prepend");
    std::vector<json> meta;
    collect(pre, "Metaspace", meta);
    for (const auto& m : meta)
      if (m.value("prepend_scheme", "always") != "never" && m.value("add_prefix_space", true))
        v.add_space_prefix = true;
  }

  std::map<int64_t, std::string> by_id;
  for (const auto& [tok, id] : model["vocab"].items()) by_id[id.get<int64_t>()] = tok;
  std::map<int64_t, bool> added;  // id -> special
  if (j.contains("added_tokens") && j["added_tokens"].is_array())
    for (const auto& a : j["added_tokens"]) {
      const int64_t id = a.at("id").get<int64_t>();
      by_id[id] = a.at("content").get<std::string>();
      added[id] = a.value("special", false);
    }
  const int64_t n = by_id.empty() ? 0 : by_id.rbegin()->first + 1;
  if (n > model_vocab)
    throw Error(path + ": " + std::to_string(n) + " tokens but the model's vocabulary has only " +
                std::to_string(model_vocab));
  const std::string unk_tok = model.value("unk_token", json()).is_string()
                                  ? model["unk_token"].get<std::string>()
                                  : std::string();
  v.tokens.resize(model_vocab);
  v.types.assign(model_vocab, 1);
  if (spm) v.scores.assign(model_vocab, 0.0);
  int64_t holes = 0;
  for (int64_t id = 0; id < model_vocab; ++id) {
    auto it = by_id.find(id);
    if (it == by_id.end()) {
      v.tokens[id] = "[PAD" + std::to_string(id) + "]";
      v.types[id] = 5;
      if (id < n) ++holes;
      continue;
    }
    const std::string& t = it->second;
    v.tokens[id] = t;
    auto a = added.find(id);
    if (a != added.end()) {
      v.types[id] = a->second ? 3 : 4;
    } else if (!unk_tok.empty() && t == unk_tok) {
      v.types[id] = 2;
    } else if (spm && t.size() == 6 && t.rfind("<0x", 0) == 0 && t.back() == '>') {
      v.types[id] = 6;
    } else if (spm) {
      v.scores[id] = -static_cast<double>(id);
    }
    if (!unk_tok.empty() && t == unk_tok) {
      v.unk = id;
      if (a != added.end()) v.types[id] = 2;
    }
  }
  if (holes > 0)
    v.notes.push_back("tokenizer: " + std::to_string(holes) +
                      " ids without a token were filled "
                      "with unused [PAD<id>] tokens");
  if (model_vocab > n)
    v.notes.push_back("tokenizer: padded from " + std::to_string(n) + " to the model's " +
                      std::to_string(model_vocab) + " tokens");
  if (!spm && model.contains("merges") && model["merges"].is_array()) {
    for (const auto& m : model["merges"]) {
      if (m.is_string()) {
        v.merges.push_back(m.get<std::string>());
      } else if (m.is_array() && m.size() == 2) {
        v.merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
      } else {
        throw Error(path + ": model.merges: entries must be \"a b\" or [a, b]");
      }
    }
  }
  auto tok = text::Tokenizer::from_file(path);
  v.bos = tok.bos_id();
  v.eos = tok.eos_id();
  const auto plain = tok.encode("a", false);
  const auto with = tok.encode("a", true);
  v.add_bos = v.bos >= 0 && !with.empty() && with.front() == v.bos &&
              (plain.empty() || plain.front() != v.bos);
  v.add_eos = v.eos >= 0 && !with.empty() && with.back() == v.eos &&
              (plain.empty() || plain.back() != v.eos);
  return v;
}

void append_vocab_metadata(const GgufVocab& v, GgufMetadata& md) {
  md.emplace_back("tokenizer.ggml.model", GgufValue::str(v.model));
  md.emplace_back("tokenizer.ggml.pre", GgufValue::str(v.pre));
  md.emplace_back("tokenizer.ggml.tokens", GgufValue::str_array(v.tokens));
  if (!v.scores.empty())
    md.emplace_back("tokenizer.ggml.scores", GgufValue::num_array(GgufType::F32, v.scores));
  md.emplace_back("tokenizer.ggml.token_type", GgufValue::num_array(GgufType::I32, v.types));
  if (!v.merges.empty()) md.emplace_back("tokenizer.ggml.merges", GgufValue::str_array(v.merges));
  if (v.bos >= 0) md.emplace_back("tokenizer.ggml.bos_token_id", GgufValue::u32(v.bos));
  if (v.eos >= 0) md.emplace_back("tokenizer.ggml.eos_token_id", GgufValue::u32(v.eos));
  if (v.unk >= 0) md.emplace_back("tokenizer.ggml.unknown_token_id", GgufValue::u32(v.unk));
  if (v.pad >= 0) md.emplace_back("tokenizer.ggml.padding_token_id", GgufValue::u32(v.pad));
  md.emplace_back("tokenizer.ggml.add_bos_token", GgufValue::boolean(v.add_bos));
  md.emplace_back("tokenizer.ggml.add_eos_token", GgufValue::boolean(v.add_eos));
  if (v.model == "llama")
    md.emplace_back("tokenizer.ggml.add_space_prefix", GgufValue::boolean(v.add_space_prefix));
}

}  // namespace qatwb::exporter
