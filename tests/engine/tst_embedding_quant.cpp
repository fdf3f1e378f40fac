// Quantizing the token embedding and lm_head: the shapes quantization can select, one quantizer
// for a tied embedding (the lookup and the output projection both see the same fake-quantized
// table, pinned against a model whose parameter holds the round-to-nearest table computed here),
// an untied lm_head on its own, the STE gradient into the latent table, the model's bits per
// weight, `project check`, and a real run exported as GPTQ with the embedding written dense.
#include <QTemporaryDir>
#include <QtTest>

#include <algorithm>
#include <cmath>

#include "core/eval/causal_lm_loss.h"
#include "core/model/llama.h"
#include "core/model/safetensors.h"
#include "core/quant/model_quantizer.h"
#include "core/quant/scheme.h"
#include "tests/common/micro_project.h"
#include "tests/common/run_events.h"
#include "tests/common/test_env.h"

using namespace qatwb;

namespace {

// Symmetric INT-b round to nearest (half to even) with one scale max|w| / divisor per row
// (divisor 0: Qp = 2^(b-1) - 1), in double, written out here.
torch::Tensor rtn_rows(const torch::Tensor& w, int bits, double divisor = 0) {
  auto a = w.to(torch::kDouble).contiguous();
  const double qp = std::pow(2.0, bits - 1) - 1, qn = -std::pow(2.0, bits - 1);
  if (divisor == 0) divisor = qp;
  auto out = torch::empty_like(a);
  for (int64_t r = 0; r < a.size(0); ++r) {
    double m = 0;
    for (int64_t c = 0; c < a.size(1); ++c) m = std::max(m, std::abs(a[r][c].item<double>()));
    const double s = m / divisor;
    for (int64_t c = 0; c < a.size(1); ++c) {
      const double code = std::clamp(std::nearbyint(a[r][c].item<double>() / s), qn, qp);
      out[r][c] = s * code;
    }
  }
  return out.to(w.scalar_type());
}

quant::QuantScheme minmax_scheme(const std::string& include, int bits) {
  quant::QuantScheme s;
  s.bits = bits;
  s.granularity = quant::Granularity::PerChannel;
  s.scale_mode = quant::ScaleMode::MinMax;
  s.include = {include};
  return s;
}

model::LlamaConfig micro(bool tied) {
  auto c = model::preset("llama-micro", 96);
  c.tie_word_embeddings = tied;
  return c;
}

// A copy of `m` (same weights, no hook) whose `param` holds `value`.
model::Llama with_param(const model::Llama& m, const std::string& param,
                        const torch::Tensor& value) {
  model::Llama copy(m->config());
  torch::NoGradGuard g;
  auto dst = copy->named_parameters(true);
  for (const auto& item : m->named_parameters(true))
    dst[item.key()].copy_(item.key() == param ? value : item.value());
  return copy;
}

torch::Tensor ids() {
  return torch::tensor({3, 17, 40, 95, 0, 61, 17, 8, 22, 5, 77, 12}, torch::kLong).view({2, 6});
}

}  // namespace

class TstEmbeddingQuant : public QObject {
  Q_OBJECT

  QTemporaryDir dir_;

 private Q_SLOTS:
  void initTestCase() {
    QVERIFY(dir_.isValid());
    qatwb::test::write_brown_corpus(dir_.filePath("corpus.jsonl"));
  }

  void quantizable_shapes_add_the_embedding_and_an_untied_head() {
    const auto tied = model::quantizable_shapes(micro(true));
    const auto untied = model::quantizable_shapes(micro(false));
    QCOMPARE(tied.size(), size_t{7 * 2 + 1});
    QCOMPARE(untied.size(), size_t{7 * 2 + 2});
    QCOMPARE(tied.back().first, std::string("model.embed_tokens"));
    QCOMPARE(tied.back().second, (std::vector<int64_t>{96, 64}));
    QCOMPARE(untied.back().first, std::string("lm_head"));
    QCOMPARE(untied.back().second, (std::vector<int64_t>{96, 64}));
    // The model lists the same names, in the same order, with its own tensors.
    model::Llama m(micro(false));
    const auto w = m->quantizable_weights();
    QCOMPARE(w.size(), untied.size());
    for (size_t i = 0; i < w.size(); ++i) QCOMPARE(w[i].first, untied[i].first);
    QVERIFY(w.back().second.is_same(m->named_parameters(true)["lm_head.weight"]));
  }

  void tied_embedding_is_one_quantizer_for_lookup_and_projection() {
    model::Llama m(micro(true));
    m->init_weights(3);
    auto q = std::make_shared<quant::ModelQuantizer>(minmax_scheme(R"(^model\.embed_tokens$)", 4),
                                                     m->quantizable_weights());
    QCOMPARE(q->modules(), std::vector<std::string>{"model.embed_tokens"});
    m->set_weight_hook(q);
    const auto table = m->named_parameters(true)["model.embed_tokens.weight"];
    auto ref = with_param(m, "model.embed_tokens.weight", rtn_rows(table, 4));
    torch::NoGradGuard g;
    const auto got = m->forward(ids()), want = ref->forward(ids());
    QVERIFY2(torch::allclose(got, want, 1e-5, 1e-6),
             qPrintable(QString::number((got - want).abs().max().item<double>())));
    // Not the unquantized model: the table really changed.
    m->set_weight_hook(nullptr);
    QVERIFY((m->forward(ids()) - want).abs().max().item<double>() > 1e-3);
  }

  void untied_head_is_quantized_on_its_own() {
    model::Llama m(micro(false));
    m->init_weights(4);
    auto q = std::make_shared<quant::ModelQuantizer>(minmax_scheme("^lm_head$", 3),
                                                     m->quantizable_weights());
    QCOMPARE(q->modules(), std::vector<std::string>{"lm_head"});
    m->set_weight_hook(q);
    const auto head = m->named_parameters(true)["lm_head.weight"];
    auto ref = with_param(m, "lm_head.weight", rtn_rows(head, 3));
    torch::NoGradGuard g;
    QVERIFY(torch::allclose(m->forward(ids()), ref->forward(ids()), 1e-5, 1e-6));
  }

  void ste_gradient_reaches_the_latent_table() {
    // Frozen max|w| scales put every weight well inside the grid (|w/s| <= 1 < Qp, away from
    // the clamp's edges), so STE passes the gradient through unchanged: the latent table's
    // gradient is the gradient w.r.t. the quantized table, summed over its two uses (lookup and
    // projection).
    model::Llama m(micro(true));
    m->init_weights(5);
    auto scheme = minmax_scheme(R"(^model\.embed_tokens$)", 4);
    scheme.scale_mode = quant::ScaleMode::Frozen;
    scheme.scale_init = quant::ScaleInit::MaxAbs;
    auto q = std::make_shared<quant::ModelQuantizer>(scheme, m->quantizable_weights());
    m->set_weight_hook(q);
    const auto table = m->named_parameters(true)["model.embed_tokens.weight"];
    auto ref = with_param(m, "model.embed_tokens.weight", rtn_rows(table, 4, 1.0));
    auto windows = torch::tensor({3, 17, 40, 95, 0, 61, 17, 8, 22, 5, 77, 12, 9, 9}, torch::kLong)
                       .view({2, 7});
    q->begin_step();
    eval::causal_lm_loss_sum(m, windows).nll_sum.backward();
    q->end_step();
    eval::causal_lm_loss_sum(ref, windows).nll_sum.backward();
    const auto g = table.grad();
    const auto want = ref->named_parameters(true)["model.embed_tokens.weight"].grad();
    QVERIFY(g.defined() && want.defined());
    QVERIFY2(torch::allclose(g, want, 1e-4, 1e-6),
             qPrintable(QString::number((g - want).abs().max().item<double>())));
    QVERIFY(want.abs().sum().item<double>() > 0);
  }

  void check_run_and_gptq_export_with_a_4_bit_embedding() {
    const QString corpus = dir_.filePath("corpus.jsonl");
    const QString p = qatwb::test::write_micro_project(
        dir_.path(), "embed4", corpus, "",
        "quant:\n  enabled: true\n  bits: 8\n  overrides:\n"
        "    - {match: 'embed_tokens$', enabled: true, bits: 4}\n");
    auto r = qatwb::test::run_qatwb_env({"project", "check", p});
    QCOMPARE(r.exit_code, 0);
    QVERIFY2(r.err.contains("model.embed_tokens (tied lm_head) layers -"), r.err.constData());
    QVERIFY2(r.err.contains("int 4-bit per_channel ste"), r.err.constData());
    qatwb::test::replace_in_file(p, "  steps: 8\n", "  steps: 2\n");
    const QString run = dir_.filePath("runs/embed4");
    r = qatwb::test::run_qatwb_env({"run", p, "--run-dir", run, "--no-db"});
    QCOMPARE(r.exit_code, 0);
    // Bits per weight over the whole model, summed here: decoder Linears at 8 + 16 / cols, the
    // tied table at 4 + 16 / hidden, the norms at 16.
    const auto cfg = model::preset("llama-micro", 32000);
    double bits = 0;
    int64_t quantized = 0;
    for (const auto& [name, shape] : model::decoder_linear_shapes(cfg)) {
      bits += static_cast<double>(shape[0] * shape[1]) * (8 + 16.0 / shape[1]);
      quantized += shape[0] * shape[1];
    }
    const int64_t table = cfg.vocab_size * cfg.hidden_size;
    bits += static_cast<double>(table) * (4 + 16.0 / cfg.hidden_size);
    quantized += table;
    const int64_t total = cfg.num_parameters();
    const double expect = (bits + 16.0 * static_cast<double>(total - quantized)) / total;
    const auto evals = qatwb::test::run_events_of_type(run, "eval");
    QVERIFY(!evals.empty());
    const double logged = evals.front()["values"]["bits_per_weight"].get<double>();
    QVERIFY2(std::abs(logged - expect) < 1e-9,
             qPrintable(QString("%1 vs %2").arg(logged).arg(expect)));
    // GPTQ packs the decoder Linears and writes the embedding dense: its dequantized values,
    // the same the HF export (dequantized weights) holds.
    const QString gptq = dir_.filePath("gptq"), hf = dir_.filePath("hf");
    r = qatwb::test::run_qatwb_env({"export", run, "--format", "gptq", "--out", gptq});
    QVERIFY2(r.exit_code == 0, r.err.constData());
    QVERIFY2(r.err.contains("model.embed_tokens is quantized; written dense"), r.err.constData());
    r = qatwb::test::run_qatwb_env(
        {"export", run, "--format", "hf", "--out", hf, "--dtype", "float32"});
    QVERIFY2(r.exit_code == 0, r.err.constData());
    auto g = model::SafetensorsReader::open(gptq.toStdString());
    auto h = model::SafetensorsReader::open(hf.toStdString());
    const auto ge = g.tensor("model.embed_tokens.weight").to(torch::kFloat);
    const auto he = h.tensor("model.embed_tokens.weight").to(torch::kFloat);
    QVERIFY(torch::allclose(ge, he, 1e-3, 1e-6));
    // On a 4-bit grid: at most 16 distinct values per row.
    for (int64_t row : {0, 5, 31999}) QVERIFY(std::get<0>(torch::_unique(he[row])).numel() <= 16);
    const auto names = g.names();
    QVERIFY(std::find(names.begin(), names.end(), "model.layers.0.mlp.down_proj.qweight") !=
            names.end());
  }
};

QTEST_GUILESS_MAIN(TstEmbeddingQuant)
#include "tst_embedding_quant.moc"
