// config.json limits (issue #15, torch-free): sizes whose products overflow int64 or that size
// tables without bound are refused with the field before anything is computed or allocated,
// and a config at the limits loads with its exact parameter count (closed form computed here).
#include <QtTest>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/model/llama_config.h"
#include "core/util/error.h"

using nlohmann::json;
using qatwb::model::LlamaConfig;

namespace {

// Llama 2 7B's config.json as published (the fields that matter to the shape).
const char* kLlama2_7b = R"({
  "architectures": ["LlamaForCausalLM"], "bos_token_id": 1, "eos_token_id": 2,
  "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02,
  "intermediate_size": 11008, "max_position_embeddings": 4096, "model_type": "llama",
  "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 32,
  "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": null,
  "tie_word_embeddings": false, "torch_dtype": "float16", "use_cache": true,
  "vocab_size": 32000})";

std::string parse_error(const json& j) {
  try {
    LlamaConfig::from_json(j, "cfg.json");
  } catch (const qatwb::Error& e) {
    return e.what();
  }
  return {};
}

}  // namespace

class TestLlamaConfigLimits : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  // Issue #15, found by the config_json fuzz target (fuzz/seeds/config_json/
  // overflow_layers.json: num_hidden_layers 3e12, UBSan: signed overflow in num_parameters):
  // sizes whose products overflow int64 or that size a RoPE table of 2^40 entries were accepted.
  // Each is refused with the field; a config at the limits still loads and its parameter count is
  // the closed form computed here.
  void sizes_beyond_the_limits_are_refused() {
    const char* overflow =
        R"({"model_type":"llama","vocab_size":4000000000000,"hidden_size":4000000000,
            "intermediate_size":10,"num_hidden_layers":1,"num_attention_heads":1,"head_dim":2})";
    QVERIFY(parse_error(json::parse(overflow)).find("'vocab_size' (4000000000000) exceeds") !=
            std::string::npos);
    struct Case {
      const char* field;
      json value;
      const char* needle;
    };
    const std::vector<Case> cases = {
        {"hidden_size", int64_t{1} << 25, "'hidden_size' (33554432) exceeds"},
        {"intermediate_size", int64_t{1} << 40, "'intermediate_size'"},
        {"num_hidden_layers", 3000000000000, "'num_hidden_layers' (3000000000000) exceeds"},
        {"head_dim", int64_t{1} << 41, "'head_dim'"},
        {"num_attention_heads", int64_t{1} << 17, "'num_attention_heads'"},
        {"max_position_embeddings", int64_t{1} << 50, "'max_position_embeddings'"},
        {"bos_token_id", -7, "'bos_token_id' must be >= 0"},
        {"eos_token_id", json::array({2, -3}), "'eos_token_id' (-3) must be >= 0"},
    };
    for (const auto& c : cases) {
      auto j = json::parse(kLlama2_7b);
      j["head_dim"] = 128;  // no divisibility error in the way
      j[c.field] = c.value;
      const auto msg = parse_error(j);
      QVERIFY2(msg.find("cfg.json") != std::string::npos, (c.field + (": " + msg)).c_str());
      QVERIFY2(msg.find(c.needle) != std::string::npos, (c.field + (": " + msg)).c_str());
    }
    // Every size under its own limit, but together 2^24 * 2^24 * 2 * 2^16 layers ... : the
    // parameter count (about 1.3e20) is refused, not overflowed.
    auto j = json::parse(kLlama2_7b);
    j["hidden_size"] = int64_t{1} << 24;
    j["intermediate_size"] = int64_t{1} << 24;
    j["num_hidden_layers"] = int64_t{1} << 16;
    j["head_dim"] = 128;
    QVERIFY(parse_error(j).find("more than the limit of 2^50") != std::string::npos);
    // At the limits and below 2^50 parameters: accepted, and the count is exact.
    j = json::parse(kLlama2_7b);
    j["vocab_size"] = int64_t{1} << 24;
    j["hidden_size"] = 8192;
    j["num_attention_heads"] = 64;
    j["num_key_value_heads"] = 8;
    j["head_dim"] = 128;
    j["intermediate_size"] = 28672;
    j["num_hidden_layers"] = 80;
    const auto c = LlamaConfig::from_json(j, "cfg.json");
    const int64_t h = 8192, q = 64 * 128, kv = 8 * 128, f = 28672, v = int64_t{1} << 24;
    const int64_t per_layer = 2 * h * q + 2 * h * kv + 3 * h * f + 2 * h;
    QCOMPARE(c.num_parameters(), 2 * v * h + 80 * per_layer + h);  // untied: embed + lm_head
  }
};

QTEST_GUILESS_MAIN(TestLlamaConfigLimits)
#include "tst_llama_config_limits.moc"
