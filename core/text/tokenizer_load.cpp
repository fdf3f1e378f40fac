// Tokenizer::from_file: tokenizer.json -> Tokenizer::Impl. BOS / EOS come from the
// post-processor's template, else from tokenizer_config.json next to the file, else from the
// model's config.json there (bos_token_id / eos_token_id).
#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/text/tokenizer_impl.h"
#include "core/util/error.h"

namespace qatwb::text {

using nlohmann::json;

namespace {

std::string read_tokenizer_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open tokenizer file");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw Error(path + ": read error");
  return ss.str();
}

void load_added_tokens(const json& root, const std::string& where, TokenizerData& impl) {
  auto list = root.find("added_tokens");
  if (list == root.end() || list->is_null()) return;
  if (!list->is_array()) throw Error(where + ": added_tokens: expected an array");
  for (size_t i = 0; i < list->size(); ++i) {
    const json& t = (*list)[i];
    std::string field = "added_tokens[" + std::to_string(i) + "]";
    if (!t.is_object() || !t.contains("id") || !t["id"].is_number_integer() ||
        !t.contains("content") || !t["content"].is_string() || t["id"].get<int64_t>() < 0 ||
        t["id"].get<int64_t>() > INT32_MAX - 1) {
      throw Error(where + ": " + field + ": expected {\"id\": int, \"content\": string, ...}");
    }
    AddedToken token;
    token.id = t["id"].get<int32_t>();
    token.content = t["content"].get<std::string>();
    token.lstrip = t.value("lstrip", false);
    token.rstrip = t.value("rstrip", false);
    token.special = t.value("special", false);
    impl.vocab_size = std::max<int64_t>(impl.vocab_size, int64_t(token.id) + 1);
    impl.added.add(std::move(token));
  }
}

int32_t id_of(const TokenizerData& impl, const std::string& token) {
  if (const AddedToken* t = impl.added.find_by_content(token)) return t->id;
  return impl.model.token_to_id(token);
}

// Adds the special tokens of one post-processor to `post`.
void load_post_processor(const json& j, const std::string& where, const std::string& field,
                         TokenizerData& impl, SpecialTokenTemplate& post) {
  if (j.is_null()) return;
  std::string type = j.is_object() ? j.value("type", std::string()) : std::string();
  // Every id the template adds must be a token of the vocabulary (an embedding row).
  auto checked = [&](const json& id, const std::string& f) -> int32_t {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= impl.vocab_size)
      throw Error(where + ": " + f + ": id " + id.dump() + " is not in the vocabulary (0 .. " +
                  std::to_string(impl.vocab_size - 1) + ")");
    return static_cast<int32_t>(id.get<int64_t>());
  };
  auto token_id = [&](const json& pair, const std::string& f) {
    // Bert / Roberta: "cls": ["[CLS]", 101]
    if (!pair.is_array() || pair.size() != 2 || !pair[1].is_number_integer()) {
      throw Error(where + ": " + f + ": expected [token, id]");
    }
    return checked(pair[1], f);
  };
  if (type == "ByteLevel") {
    return;  // only trims offsets
  } else if (type == "Sequence") {
    const json& list = j.value("processors", json::array());
    for (size_t i = 0; i < list.size(); ++i) {
      load_post_processor(list[i], where, field + ".processors[" + std::to_string(i) + "]", impl,
                          post);
    }
  } else if (type == "BertProcessing" || type == "RobertaProcessing") {
    post.prefix.push_back(token_id(j.value("cls", json()), field + ".cls"));
    post.suffix.insert(post.suffix.begin(), token_id(j.value("sep", json()), field + ".sep"));
  } else if (type == "TemplateProcessing") {
    const json& single = j.value("single", json::array());
    const json& specials = j.value("special_tokens", json::object());
    bool seen_sequence = false;
    for (size_t i = 0; i < single.size(); ++i) {
      std::string f = field + ".single[" + std::to_string(i) + "]";
      const json& piece = single[i];
      if (piece.contains("Sequence")) {
        if (seen_sequence) throw Error(where + ": " + f + ": more than one sequence in \"single\"");
        seen_sequence = true;
        continue;
      }
      if (!piece.contains("SpecialToken") || !piece["SpecialToken"].contains("id")) {
        throw Error(where + ": " + f + ": expected SpecialToken or Sequence");
      }
      std::string name = piece["SpecialToken"]["id"].get<std::string>();
      std::vector<int32_t> ids;
      auto spec = specials.find(name);
      if (spec != specials.end() && spec->contains("ids")) {
        const json& list = (*spec)["ids"];
        if (!list.is_array())
          throw Error(where + ": " + field + ".special_tokens." + name + ".ids: expected a list");
        for (size_t k = 0; k < list.size(); ++k)
          ids.push_back(checked(
              list[k], field + ".special_tokens." + name + ".ids[" + std::to_string(k) + "]"));
      } else if (int32_t id = id_of(impl, name); id >= 0) {
        ids = {id};
      } else {
        throw Error(where + ": " + f + ": special token \"" + name + "\" is not in the vocabulary");
      }
      auto& dst = seen_sequence ? post.suffix : post.prefix;
      dst.insert(dst.end(), ids.begin(), ids.end());
    }
  } else {
    throw Error(where + ": " + field + ".type: post-processor \"" + type + "\" is not supported");
  }
}

// tokenizer_config.json's "bos_token" / "eos_token": a string or {"content": ...}.
int32_t config_token_id(const json& config, const char* key, const TokenizerData& impl) {
  auto it = config.find(key);
  if (it == config.end()) return -1;
  std::string name;
  if (it->is_string())
    name = it->get<std::string>();
  else if (it->is_object() && it->contains("content") && (*it)["content"].is_string())
    name = (*it)["content"].get<std::string>();
  else
    return -1;
  return id_of(impl, name);
}

void load_bos_eos(const std::string& path, TokenizerData& impl) {
  if (!impl.post.prefix.empty()) impl.bos_id = impl.post.prefix.front();
  if (!impl.post.suffix.empty()) impl.eos_id = impl.post.suffix.back();
  size_t slash = path.find_last_of('/');
  std::string config_path =
      (slash == std::string::npos ? std::string() : path.substr(0, slash + 1)) +
      "tokenizer_config.json";
  std::ifstream in(config_path, std::ios::binary);
  if (in) {
    json config;
    try {
      config = json::parse(in);
    } catch (const json::exception& e) {
      throw Error(config_path + ": " + e.what());
    }
    if (impl.bos_id < 0) impl.bos_id = config_token_id(config, "bos_token", impl);
    if (impl.eos_id < 0) impl.eos_id = config_token_id(config, "eos_token", impl);
  }
  if (impl.bos_id >= 0 && impl.eos_id >= 0) return;
  // Last, the model's config.json beside the tokenizer (an HF model folder): bos_token_id and
  // eos_token_id (an id or a list of ids; the first one ends documents).
  const std::string model_config =
      (slash == std::string::npos ? std::string() : path.substr(0, slash + 1)) + "config.json";
  std::ifstream mc(model_config, std::ios::binary);
  if (!mc) return;
  const json cfg = json::parse(mc, nullptr, /*allow_exceptions=*/false);
  if (!cfg.is_object()) return;  // not a model's config; it is not the tokenizer's to judge
  auto id_from = [&](const char* key) -> int32_t {
    auto it = cfg.find(key);
    if (it == cfg.end()) return -1;
    const json* v = &*it;
    if (v->is_array()) {
      if (v->empty()) return -1;
      v = &v->front();
    }
    if (!v->is_number_integer()) return -1;
    const int64_t id = v->get<int64_t>();
    return id >= 0 && id < impl.vocab_size ? static_cast<int32_t>(id) : -1;
  };
  if (impl.bos_id < 0) impl.bos_id = id_from("bos_token_id");
  if (impl.eos_id < 0) impl.eos_id = id_from("eos_token_id");
}

}  // namespace

Tokenizer Tokenizer::from_file(const std::string& tokenizer_json_path) {
  const std::string& where = tokenizer_json_path;
  std::string text = read_tokenizer_file(where);
  auto impl = std::make_unique<Impl>();
  impl->path = where;
  try {
    json root = json::parse(text);
    text = std::string();
    if (!root.is_object()) throw Error(where + ": expected a JSON object");
    for (const char* key : {"truncation", "padding"}) {
      if (root.contains(key) && !root[key].is_null()) {
        throw Error(where + ": " + key + ": is not supported (must be null)");
      }
    }
    impl->pre_tokenizer =
        PreTokenizer::from_json(root.value("pre_tokenizer", json()), where, "pre_tokenizer");
    impl->normalizer = Normalizer::from_json(root.value("normalizer", json()), where, "normalizer");
    if (!root.contains("model")) throw Error(where + ": model: missing");
    impl->model = BpeModel::from_json(root["model"], impl->pre_tokenizer.byte_level(), where);
    impl->vocab_size = impl->model.vocab_size();
    load_added_tokens(root, where, *impl);
    load_post_processor(root.value("post_processor", json()), where, "post_processor", *impl,
                        impl->post);
    impl->decoder = TokenDecoder::from_json(root.value("decoder", json()), where, "decoder");
  } catch (const json::exception& e) {
    throw Error(where + ": " + e.what());
  }
  load_bos_eos(where, *impl);
  return Tokenizer(std::move(impl));
}

}  // namespace qatwb::text
