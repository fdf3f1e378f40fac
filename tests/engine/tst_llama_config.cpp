#include <QTemporaryDir>
#include <QtTest>
#include <cmath>
#include <fstream>

#include "core/model/llama_config.h"
#include "core/util/error.h"
#include "tests/common/error_of.h"

using nlohmann::json;
using qatwb::model::LlamaConfig;

namespace {

// config.json files as published on the HF hub (fields that matter to the shape).
const char* kLlama2_7b = R"({
  "architectures": ["LlamaForCausalLM"], "bos_token_id": 1, "eos_token_id": 2,
  "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02,
  "intermediate_size": 11008, "max_position_embeddings": 4096, "model_type": "llama",
  "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 32,
  "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": null,
  "tie_word_embeddings": false, "torch_dtype": "float16", "transformers_version": "4.31.0.dev0",
  "use_cache": true, "vocab_size": 32000})";

const char* kLlama3_8b = R"({
  "architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "hidden_act": "silu",
  "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336,
  "max_position_embeddings": 8192, "model_type": "llama", "num_attention_heads": 32,
  "num_hidden_layers": 32, "num_key_value_heads": 8, "pretraining_tp": 1,
  "rms_norm_eps": 1e-05, "rope_scaling": null, "rope_theta": 500000.0,
  "tie_word_embeddings": false, "torch_dtype": "bfloat16", "transformers_version": "4.40.0.dev0",
  "use_cache": true, "vocab_size": 128256})";

const char* kLlama32_1b = R"({
  "architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 128000, "eos_token_id": 128001, "head_dim": 64, "hidden_act": "silu",
  "hidden_size": 2048, "initializer_range": 0.02, "intermediate_size": 8192,
  "max_position_embeddings": 131072, "mlp_bias": false, "model_type": "llama",
  "num_attention_heads": 32, "num_hidden_layers": 16, "num_key_value_heads": 8,
  "pretraining_tp": 1, "rms_norm_eps": 1e-05,
  "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                   "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "rope_theta": 500000.0, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
  "transformers_version": "4.45.0.dev0", "use_cache": true, "vocab_size": 128256})";

const char* kMistral7b = R"({
  "architectures": ["MistralForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 1,
  "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02,
  "intermediate_size": 14336, "max_position_embeddings": 32768, "model_type": "mistral",
  "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
  "rms_norm_eps": 1e-05, "rope_theta": 1000000.0, "sliding_window": null,
  "tie_word_embeddings": false, "torch_dtype": "bfloat16", "transformers_version": "4.42.0.dev0",
  "use_cache": true, "vocab_size": 32768})";

using qatwb::test::error_of;

std::string parse_error(json j) {
  return error_of([&] { LlamaConfig::from_json(j, "cfg.json"); });
}

}  // namespace

class TestLlamaConfig : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void llama2_7b() {
    const auto c = LlamaConfig::from_json(json::parse(kLlama2_7b), "x");
    QCOMPARE(c.model_type, std::string("llama"));
    QCOMPARE(c.num_key_value_heads, int64_t(32));
    QCOMPARE(c.head_dim, int64_t(128));
    QCOMPARE(c.rope_theta, 10000.0);  // default when absent
    QVERIFY(!c.rope_scaling);
    QVERIFY(!c.tie_word_embeddings);
    QCOMPARE(c.bos_token_id, int64_t(1));
    QCOMPARE(c.eos_token_ids, std::vector<int64_t>{2});
    QCOMPARE(c.torch_dtype, std::string("float16"));
    QCOMPARE(c.num_parameters(), int64_t(6738415616));
  }

  void llama3_8b() {
    const auto c = LlamaConfig::from_json(json::parse(kLlama3_8b), "x");
    QCOMPARE(c.num_key_value_heads, int64_t(8));
    QCOMPARE(c.kv_dim(), int64_t(1024));
    QCOMPARE(c.rope_theta, 500000.0);
    QCOMPARE(c.eos_token_ids, (std::vector<int64_t>{128001, 128008, 128009}));
    QCOMPARE(c.num_parameters(), int64_t(8030261248));
  }

  void llama32_1b() {
    const auto c = LlamaConfig::from_json(json::parse(kLlama32_1b), "x");
    QVERIFY(c.tie_word_embeddings);
    QVERIFY(c.rope_scaling.has_value());
    QCOMPARE(c.rope_scaling->type, std::string("llama3"));
    QCOMPARE(c.rope_scaling->factor, 32.0);
    QCOMPARE(c.rope_scaling->original_max_position_embeddings, int64_t(8192));
    QCOMPARE(c.head_dim, int64_t(64));
    QCOMPARE(c.num_parameters(), int64_t(1235814400));
    // The preset has the same shape.
    const auto p = qatwb::model::preset("llama-3.2-1b", 0);
    QCOMPARE(p.num_parameters(), c.num_parameters());
    QVERIFY(p.rope_scaling.has_value());
  }

  void mistral_7b() {
    const auto c = LlamaConfig::from_json(json::parse(kMistral7b), "x");
    QCOMPARE(c.model_type, std::string("mistral"));
    QCOMPARE(c.num_parameters(), int64_t(7248023552));
    QCOMPARE(c.to_json()["architectures"][0].get<std::string>(), std::string("MistralForCausalLM"));
    // Mistral-7B-v0.1's window (4096, shorter than the context) is kept and round-trips;
    // a window covering the context is plain causal attention; a non-positive one is an error.
    auto j = json::parse(kMistral7b);
    j["sliding_window"] = 4096;
    QVERIFY(parse_error(j).empty());
    const auto v01 = LlamaConfig::from_json(j, "x");
    QCOMPARE(v01.sliding_window, int64_t{4096});
    QCOMPARE(v01.to_json()["sliding_window"].get<int64_t>(), int64_t{4096});
    j["sliding_window"] = 0;
    const auto msg = parse_error(j);
    QVERIFY2(msg.find("cfg.json") != std::string::npos, msg.c_str());
    QVERIFY2(msg.find("sliding_window") != std::string::npos, msg.c_str());
    j["sliding_window"] = 32768;
    QVERIFY(parse_error(j).empty());
    QCOMPARE(LlamaConfig::from_json(j, "x").sliding_window, int64_t{0});
  }

  void to_json_round_trip() {
    for (const char* text : {kLlama2_7b, kLlama3_8b, kLlama32_1b, kMistral7b}) {
      const auto a = LlamaConfig::from_json(json::parse(text), "a");
      const json out = a.to_json();
      if (a.model_type == "llama")
        QCOMPARE(out["architectures"][0].get<std::string>(), std::string("LlamaForCausalLM"));
      const auto b = LlamaConfig::from_json(json::parse(out.dump()), "b");
      QCOMPARE(b.to_json().dump(), out.dump());
      QCOMPARE(b.num_parameters(), a.num_parameters());
      QCOMPARE(b.eos_token_ids, a.eos_token_ids);
      QCOMPARE(b.rope_scaling.has_value(), a.rope_scaling.has_value());
      QCOMPARE(b.rms_norm_eps, a.rms_norm_eps);
    }
  }

  void defaults_when_absent() {
    auto j = json::parse(kLlama2_7b);
    j.erase("num_key_value_heads");
    j.erase("tie_word_embeddings");
    j.erase("eos_token_id");
    j.erase("torch_dtype");
    const auto c = LlamaConfig::from_json(j, "x");
    QCOMPARE(c.num_key_value_heads, c.num_attention_heads);
    QVERIFY(!c.tie_word_embeddings);
    QVERIFY(c.eos_token_ids.empty());
    QCOMPARE(c.torch_dtype, std::string("float32"));
  }

  void unsupported_values_name_the_field() {
    struct Case {
      const char* field;
      json value;
      const char* needle;
    };
    const std::vector<Case> cases = {
        {"model_type", "gpt2", "model_type"},
        {"rope_scaling", json{{"rope_type", "yarn"}, {"factor", 4.0}}, "rope_scaling"},
        {"rope_scaling", json{{"type", "dynamic"}, {"factor", 2.0}}, "rope_scaling"},
        {"rope_scaling", json{{"rope_type", "llama3"}, {"factor", 8.0}}, "low_freq_factor"},
        {"attention_bias", true, "attention_bias"},
        {"mlp_bias", true, "mlp_bias"},
        {"hidden_act", "gelu", "hidden_act"},
        {"hidden_size", "4096", "hidden_size"},
        {"num_key_value_heads", 5, "num_key_value_heads"},
        {"vocab_size", 0, "vocab_size"},
        {"torch_dtype", "int8", "torch_dtype"},
        {"eos_token_id", json::array({1, "x"}), "eos_token_id"},
    };
    for (const auto& c : cases) {
      auto j = json::parse(kLlama32_1b);
      j[c.field] = c.value;
      const auto msg = parse_error(j);
      QVERIFY2(msg.find("cfg.json") != std::string::npos, (c.field + (": " + msg)).c_str());
      QVERIFY2(msg.find(c.needle) != std::string::npos, (c.field + (": " + msg)).c_str());
    }
    auto j = json::parse(kLlama2_7b);
    j.erase("hidden_size");
    QVERIFY(parse_error(j).find("'hidden_size'") != std::string::npos);
    j = json::parse(kLlama2_7b);
    j.erase("model_type");
    QVERIFY(parse_error(j).find("'model_type'") != std::string::npos);
  }

  void from_file_names_the_file() {
    QTemporaryDir dir;
    const std::string good = (dir.path() + "/config.json").toStdString();
    std::ofstream(good) << kLlama32_1b;
    QCOMPARE(LlamaConfig::from_file(good).hidden_size, int64_t(2048));
    const std::string bad = (dir.path() + "/bad.json").toStdString();
    std::ofstream(bad) << "{\"model_type\": \"llama\",";
    const auto msg = error_of([&] { LlamaConfig::from_file(bad); });
    QVERIFY2(msg.find(bad) != std::string::npos, msg.c_str());
    const auto missing = error_of([&] { LlamaConfig::from_file(bad + ".nope"); });
    QVERIFY(missing.find(bad + ".nope") != std::string::npos);
  }

  // The llama3 frequency scaling, written independently (vectorized, float64) from the formula:
  // wavelen = 2 pi / f; wavelen > L/low: f / factor; wavelen < L/high: f; else
  // (1 - s) f / factor + s f with s = (L / wavelen - low) / (high - low).
  void llama3_rope_frequencies_match_formula() {
    auto c = LlamaConfig::from_json(json::parse(kLlama32_1b), "x");
    const auto inv = qatwb::model::rope_inv_freq(c);
    QCOMPARE(int64_t(inv.size()), c.head_dim / 2);
    const auto opts = torch::TensorOptions().dtype(torch::kFloat64);
    const auto i = torch::arange(0, c.head_dim, 2, opts);
    const auto base = 1.0 / torch::pow(torch::tensor(c.rope_theta, opts), i / c.head_dim);
    const double L = 8192, low = 1.0, high = 4.0, factor = 32.0;
    const auto wavelen = 2 * M_PI / base;
    const auto smooth = (L / wavelen - low) / (high - low);
    auto expected = torch::where(
        wavelen > L / low, base / factor,
        torch::where(wavelen < L / high, base, (1 - smooth) * base / factor + smooth * base));
    int scaled = 0, kept = 0, blended = 0;
    for (int64_t k = 0; k < c.head_dim / 2; ++k) {
      const double e = expected[k].item<double>();
      QVERIFY2(std::fabs(inv[k] - e) <= 1e-12 * std::fabs(e), std::to_string(k).c_str());
      const double b = base[k].item<double>();
      if (std::fabs(e - b) < 1e-15 * b)
        ++kept;
      else if (std::fabs(e - b / factor) < 1e-15 * b)
        ++scaled;
      else
        ++blended;
    }
    QVERIFY(kept > 0 && scaled > 0 && blended > 0);  // all three regimes are exercised
    // Without scaling: the plain theta^(-2i/d).
    c.rope_scaling.reset();
    const auto plain = qatwb::model::rope_inv_freq(c);
    for (int64_t k = 0; k < c.head_dim / 2; ++k)
      QVERIFY(std::fabs(plain[k] - base[k].item<double>()) <= 1e-12 * plain[k]);
  }

  void presets() {
    const auto micro = qatwb::model::preset("llama-micro", 256);
    QCOMPARE(micro.num_hidden_layers, int64_t(2));
    QCOMPARE(micro.hidden_size, int64_t(64));
    QCOMPARE(micro.num_attention_heads, int64_t(4));
    QCOMPARE(micro.num_key_value_heads, int64_t(2));
    QCOMPARE(micro.intermediate_size, int64_t(172));
    QCOMPARE(micro.vocab_size, int64_t(256));
    const auto tiny = qatwb::model::preset("llama-tiny", 1000);
    QCOMPARE(tiny.num_hidden_layers, int64_t(4));
    QCOMPARE(tiny.hidden_size, int64_t(256));
    QCOMPARE(tiny.intermediate_size, int64_t(688));
    QCOMPARE(qatwb::model::preset("llama-small", 1000).hidden_size, int64_t(512));
    QCOMPARE(qatwb::model::preset("llama-3-8b", 0).num_parameters(), int64_t(8030261248));
    QCOMPARE(qatwb::model::preset("mistral-7b", 0).num_parameters(), int64_t(7248023552));
    for (const auto& name : qatwb::model::preset_names()) {
      const auto c = qatwb::model::preset(name, 300);
      QCOMPARE(c.vocab_size, int64_t(300));
      QVERIFY(c.bos_token_id < 300);
    }
    const auto msg = error_of([] { qatwb::model::preset("llama-huge", 100); });
    QVERIFY2(msg.find("llama-huge") != std::string::npos, msg.c_str());
    QVERIFY2(msg.find("llama-micro") != std::string::npos, msg.c_str());
    QVERIFY2(msg.find("mistral-7b") != std::string::npos, msg.c_str());
  }
};

QTEST_GUILESS_MAIN(TestLlamaConfig)
#include "tst_llama_config.moc"
