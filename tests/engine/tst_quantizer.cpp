// ModelQuantizer: module selection, the cached micro-batch path (gradients identical to the
// direct path on the summed loss), dequantized weights == fake forward, checkpoint state,
// code-flip / levels / scale statistics, parameters and PACT regularisation.
#include <QtTest>

#include "core/quant/model_quantizer.h"
#include "core/util/error.h"

using namespace qatwb::quant;

namespace {

using Named = std::vector<std::pair<std::string, torch::Tensor>>;

const char* kUp = "model.layers.0.mlp.up_proj";
const char* kDown = "model.layers.0.mlp.down_proj";

Named tiny_weights(torch::Dtype dtype = torch::kFloat) {
  torch::manual_seed(11);
  return {{kUp, (torch::randn({32, 16}) * 0.2).to(dtype).requires_grad_(true)},
          {kDown, (torch::randn({8, 32}) * 0.2).to(dtype).requires_grad_(true)}};
}

Named clone_weights(const Named& w) {
  Named out;
  for (auto& [n, t] : w) out.emplace_back(n, t.detach().clone().requires_grad_(true));
  return out;
}

// A two-Linear MLP that calls the hook the way the Llama decoder does. `fixed` (direct path on
// the summed loss) supplies weights fake-quantized once for all micro-batches: one graph.
torch::Tensor mlp_loss(ModelQuantizer& q, const Named& w, const torch::Tensor& x,
                       const torch::Tensor& y, const std::vector<torch::Tensor>& fixed = {}) {
  auto wu = fixed.empty() ? q.weight(kUp, w[0].second) : fixed[0];
  auto wdn = fixed.empty() ? q.weight(kDown, w[1].second) : fixed[1];
  auto h = torch::relu(torch::linear(q.input(kUp, x).to(w[0].second.scalar_type()), wu));
  auto out = torch::linear(q.input(kDown, h), wdn);
  return (out.to(torch::kFloat) - y).pow(2).mean();
}

bool same_bits(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  const auto as = a.scalar_type() == torch::kFloat ? torch::kInt : torch::kShort;
  return torch::equal(a.contiguous().view(as), b.contiguous().view(as));
}

QuantScheme learned(Surrogate s, double bits = 2) {
  QuantScheme q;
  q.bits = bits;
  q.surrogate = s;
  q.scale_mode = ScaleMode::Learned;
  q.granularity = Granularity::PerChannel;
  return q;
}

}  // namespace

class TestQuantizer : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void include_exclude_select_modules() {
    Named w;
    for (const char* n : {"model.embed_tokens", "model.layers.0.self_attn.q_proj",
                          "model.layers.0.self_attn.o_proj", "model.layers.0.mlp.down_proj",
                          "model.layers.11.mlp.gate_proj", "lm_head"})
      w.emplace_back(n, torch::randn({8, 16}));
    QuantScheme s;  // default include: decoder Linears only
    ModelQuantizer a(s, w);
    QCOMPARE(a.modules(), (std::vector<std::string>{
                              "model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.o_proj",
                              "model.layers.0.mlp.down_proj", "model.layers.11.mlp.gate_proj"}));
    s.exclude = {R"(down_proj$)", R"(^model\.layers\.11\.)"};
    ModelQuantizer b(s, w);
    QCOMPARE(b.modules(), (std::vector<std::string>{"model.layers.0.self_attn.q_proj",
                                                    "model.layers.0.self_attn.o_proj"}));
    // Unselected modules get their weight back untouched.
    QVERIFY(b.weight("lm_head", w[5].second).is_same(w[5].second));
    QVERIFY(!b.weight("model.layers.0.self_attn.q_proj", w[1].second).is_same(w[1].second));
    s.include = {"self_attn"};
    s.exclude = {};
    QCOMPARE(ModelQuantizer(s, w).modules().size(), size_t(2));
    s.include = {};
    QCOMPARE(ModelQuantizer(s, w).modules().size(), size_t(6));  // empty include: all
    s.enabled = false;
    QCOMPARE(ModelQuantizer(s, w).modules().size(), size_t(0));
    s.enabled = true;
    s.include = {"(unclosed"};
    try {
      ModelQuantizer bad(s, w);
      QFAIL("invalid regex accepted");
    } catch (const qatwb::Error& e) {
      QVERIFY(QString(e.what()).contains("(unclosed"));
    }
  }

  void cached_micro_batches_equal_direct_gradients() {
    struct Case {
      Surrogate sur;
      ActivationQuant::Kind act;
      torch::Dtype dtype;
    };
    for (const Case& c :
         {Case{Surrogate::StableQat, ActivationQuant::Kind::None, torch::kFloat},
          Case{Surrogate::Dsq, ActivationQuant::Kind::None, torch::kFloat},
          Case{Surrogate::Lsq, ActivationQuant::Kind::Pact, torch::kFloat},
          Case{Surrogate::Ewgs, ActivationQuant::Kind::Int8PerToken, torch::kFloat},
          Case{Surrogate::StableQat, ActivationQuant::Kind::None, torch::kBFloat16}}) {
      auto s = learned(c.sur);
      s.activations.kind = c.act;
      s.activations.pact_alpha_init = 1.0;
      const QString what = QString("%1 act %2 %3")
                               .arg(to_string(c.sur))
                               .arg(static_cast<int>(c.act))
                               .arg(c.dtype == torch::kFloat ? "f32" : "bf16");
      auto base = tiny_weights(c.dtype);
      std::vector<torch::Tensor> xs, ys;
      for (int i = 0; i < 3; ++i) {
        xs.push_back(torch::randn({5, 16}));
        ys.push_back(torch::randn({5, 8}));
      }
      // Direct: one graph for the summed loss (each weight fake-quantized once, as in one
      // forward over the whole batch; EWGS's sign(g) makes per-micro-batch backwards differ).
      auto wd = clone_weights(base);
      ModelQuantizer qd(s, wd);
      const std::vector<torch::Tensor> fixed = {qd.weight(kUp, wd[0].second),
                                                qd.weight(kDown, wd[1].second)};
      torch::Tensor total = torch::zeros({});
      for (int i = 0; i < 3; ++i) total = total + mlp_loss(qd, wd, xs[i], ys[i], fixed);
      total.backward();
      // Cached: three micro-batch backwards, one fake-quant backward in end_step().
      auto wc = clone_weights(base);
      ModelQuantizer qc(s, wc);
      qc.begin_step();
      torch::Tensor first_leaf;
      for (int i = 0; i < 3; ++i) {
        mlp_loss(qc, wc, xs[i], ys[i]).backward();
        auto leaf = qc.weight(kUp, wc[0].second);
        QVERIFY2(leaf.is_leaf() && leaf.requires_grad(), qPrintable(what));
        if (i == 0) first_leaf = leaf;
        QVERIFY2(leaf.is_same(first_leaf), qPrintable(what));        // forward ran once per step
        QVERIFY2(!wc[0].second.grad().defined(), qPrintable(what));  // nothing reached w yet
      }
      qc.end_step();
      QVERIFY(!qc.in_step());
      for (int k = 0; k < 2; ++k) {
        auto a = wd[k].second.grad(), b = wc[k].second.grad();
        QVERIFY2(a.defined() && b.defined(), qPrintable(what));
        // fp32: same values up to summation order; bf16: the three micro-batch gradients are
        // summed in bf16 in a different order, so allow bf16 rounding of the largest entry.
        const double rtol = c.dtype == torch::kFloat ? 1e-6 : 0.0;
        const double atol = c.dtype == torch::kFloat ? 1e-7 : 1e-2 * a.abs().max().item<double>();
        QVERIFY2(
            torch::allclose(a.to(torch::kFloat), b.to(torch::kFloat), rtol, atol),
            qPrintable(
                what +
                QString(" weight %1: max diff %2").arg(k).arg((a - b).abs().max().item<double>())));
      }
      auto pd = qd.parameters(), pc = qc.parameters();
      QCOMPARE(pd.size(), pc.size());
      QVERIFY(!pd.empty());
      for (size_t k = 0; k < pd.size(); ++k) {
        QVERIFY2(pd[k].grad().defined() && pc[k].grad().defined(), qPrintable(what));
        const double gmax = pd[k].grad().abs().max().item<double>();
        const bool f32 = c.dtype == torch::kFloat;
        QVERIFY2(
            torch::allclose(pd[k].grad(), pc[k].grad(), f32 ? 1e-5 : 0.0, f32 ? 1e-8 : 2e-2 * gmax),
            qPrintable(what + QString(" param %1: %2 vs %3")
                                  .arg(k)
                                  .arg(pd[k].grad().sum().item<double>())
                                  .arg(pc[k].grad().sum().item<double>())));
      }
    }
  }

  void eval_under_no_grad_and_dequantized_weights() {
    for (auto dtype : {torch::kFloat, torch::kBFloat16}) {
      auto w = tiny_weights(dtype);
      auto s = learned(Surrogate::StableQat, 3);
      s.granularity = Granularity::PerGroup;
      s.group_size = 8;
      ModelQuantizer q(s, w);
      q.begin_step();  // even inside a step, NoGrad bypasses the cache
      torch::NoGradGuard g;
      auto fake = q.weight(kUp, w[0].second);
      QVERIFY(!fake.requires_grad());
      auto deq = q.dequantized_weights();
      QCOMPARE(deq.size(), size_t(2));
      QVERIFY(same_bits(deq.at(kUp), fake));
      QVERIFY(same_bits(deq.at(kDown), q.weight(kDown, w[1].second)));
      auto all = q.quantize_all();
      QCOMPARE(all.at(kUp).codes.scalar_type(), torch::kInt8);
      QCOMPARE(all.at(kUp).scales.sizes(), (torch::IntArrayRef{32, 2}));
      q.end_step();
    }
  }

  void state_round_trip_and_errors() {
    auto w = tiny_weights();
    auto s = learned(Surrogate::Dsq, 4);
    s.activations.kind = ActivationQuant::Kind::Pact;
    ModelQuantizer a(s, w);
    auto st = a.state();
    std::vector<std::string> names;
    for (auto& [n, t] : st) names.push_back(n);
    QCOMPARE(
        names,
        (std::vector<std::string>{
            "model.layers.0.mlp.up_proj.weight_scale", "model.layers.0.mlp.up_proj.dsq_alpha",
            "model.layers.0.mlp.up_proj.input_alpha", "model.layers.0.mlp.down_proj.weight_scale",
            "model.layers.0.mlp.down_proj.dsq_alpha", "model.layers.0.mlp.down_proj.input_alpha"}));
    {
      torch::NoGradGuard g;
      for (auto& p : a.parameters()) p.mul_(0.9);
    }
    ModelQuantizer b(s, w);
    b.load_state(a.state());
    auto sa = a.state(), sb = b.state();
    for (size_t i = 0; i < sa.size(); ++i) QVERIFY(torch::equal(sa[i].second, sb[i].second));
    {
      torch::NoGradGuard g;
      QVERIFY(torch::equal(a.weight(kUp, w[0].second), b.weight(kUp, w[0].second)));
    }
    auto missing = a.state();
    missing.pop_back();
    QVERIFY_THROWS_EXCEPTION(qatwb::Error, b.load_state(missing));
    auto unknown = a.state();
    unknown.emplace_back("model.layers.9.mlp.up_proj.weight_scale", torch::ones({1}));
    QVERIFY_THROWS_EXCEPTION(qatwb::Error, b.load_state(unknown));
    auto misshapen = a.state();
    misshapen[0].second = torch::ones({3});
    try {
      b.load_state(misshapen);
      QFAIL("misshapen scale accepted");
    } catch (const qatwb::Error& e) {
      QVERIFY(QString(e.what()).contains("model.layers.0.mlp.up_proj.weight_scale"));
    }
  }

  void stats_flips_levels_scales() {
    auto w = tiny_weights();
    QuantScheme s = learned(Surrogate::Ste, 2);
    ModelQuantizer q(s, w);
    QCOMPARE(q.code_flip_fraction(kUp), 0.0);
    {
      torch::NoGradGuard g;
      w[0].second.add_(torch::randn({32, 16}) * 0.1);
    }
    const double f = q.code_flip_fraction(kUp);
    QVERIFY(f > 0.05 && f < 1.0);
    QCOMPARE(q.code_flip_fraction(kUp), 0.0);  // baseline moved
    auto st = q.stats();
    QCOMPARE(st.modules.size(), size_t(2));
    QCOMPARE(st.code_flip_fraction, 0.0);
    const auto& m = st.modules.at(kDown);
    QCOMPARE(m.levels_total, 4);
    QCOMPARE(m.levels_used, 4);  // Auto init max|w|/2 reaches level -2
    auto scale = q.state()[1].second;
    QVERIFY(std::fabs(m.scale_mean - scale.mean().item<double>()) < 1e-6);
    QVERIFY(std::fabs(m.scale_min - scale.min().item<double>()) < 1e-6);
    QVERIFY(std::fabs(m.scale_max - scale.max().item<double>()) < 1e-6);
    // max|w| on the integer grid leaves level -2 unreachable (docs/QAT_METHODS.md note).
    s.scale_init = ScaleInit::MaxOverQp;
    ModelQuantizer q2(s, w);
    QCOMPARE(q2.stats().modules.at(kDown).levels_used, 3);
    QVERIFY(q2.stats().levels_used_fraction < 0.8);
  }

  void stats_levels_per_row() {
    // W2 per-channel, auto init s = max|w|/2 per row = 0.5 here; codes in {-2, -1, 0, 1}:
    //   [1, 0.1, -1, -0.5] -> {1, 0, -2, -1}: 4 levels;  [1, 1, 1, 1] -> {1}: 1 level;
    //   [1, -1, 0, 0] -> {1, -2, 0}: 3 levels;          [1, 0.9, 0, 0] -> {1, 0}: 2 levels.
    auto up = torch::tensor({1.f, 0.1f, -1.f, -0.5f, 1.f, 1.f, 1.f, 1.f, 1.f, -1.f, 0.f, 0.f, 1.f,
                             0.9f, 0.f, 0.f})
                  .view({4, 4});
    auto down = torch::tensor({1.f, 0.1f, -1.f, -0.5f, 1.f, 0.1f, -1.f, -0.5f}).view({2, 4});
    ModelQuantizer q(learned(Surrogate::Ste, 2), {{kUp, up}, {kDown, down}});
    auto st = q.stats();
    QCOMPARE(st.modules.at(kUp).levels_used, 4);
    QCOMPARE(st.modules.at(kUp).levels_used_row_min, 1);
    QCOMPARE(st.modules.at(kUp).levels_used_row_median, 2.5);  // rows 1, 2, 3, 4
    QCOMPARE(st.modules.at(kDown).levels_used_row_min, 4);
    QCOMPARE(st.modules.at(kDown).levels_used_row_median, 4.0);
    QCOMPARE(st.levels_used_row_min, 1);
    QCOMPARE(st.levels_used_row_median, 3.5);  // all rows: 1, 2, 3, 4, 4, 4
    // Per group, a row is a group: [1, 1 | 1, -1] with groups of 2 -> 1 and 2 levels.
    auto sg = learned(Surrogate::Ste, 2);
    sg.granularity = Granularity::PerGroup;
    sg.group_size = 2;
    ModelQuantizer qg(sg, {{kUp, torch::tensor({1.f, 1.f, 1.f, -1.f}).view({1, 4})}});
    QCOMPARE(qg.stats().levels_used_row_min, 1);
    QCOMPARE(qg.stats().levels_used_row_median, 1.5);
  }

  void parameters_and_regularization() {
    auto w = tiny_weights();
    auto s = learned(Surrogate::Dsq, 4);
    QCOMPARE(ModelQuantizer(s, w).parameters().size(), size_t(4));  // 2 scales + 2 alphas
    s.scale_mode = ScaleMode::Frozen;
    QCOMPARE(ModelQuantizer(s, w).parameters().size(), size_t(2));
    s.surrogate = Surrogate::Pact;  // PACT on the inputs, STE on the weights
    s.activations.pact_alpha_init = 2.0;
    s.activations.pact_l2 = 0.5;
    ModelQuantizer p(s, w);
    QCOMPARE(p.parameters().size(), size_t(2));
    QVERIFY(std::fabs(p.regularization_loss().item<double>() - 2 * 0.5 * 4.0) < 1e-6);
    auto x = torch::randn({4, 16});
    auto xq = p.input(kUp, x);
    // Signed PACT (the default): [-alpha, alpha], negatives kept.
    QVERIFY((xq.abs() <= 2.0).all().item<bool>() && (xq < 0).any().item<bool>());
    QCOMPARE(ModelQuantizer(learned(Surrogate::Ste), w).regularization_loss().item<double>(), 0.0);
    // project_parameters() keeps learned values in range.
    auto d = learned(Surrogate::Dsq, 4);
    ModelQuantizer pd(d, w);
    {
      torch::NoGradGuard g;
      for (auto& t : pd.parameters()) t.fill_(-1.0);
    }
    pd.project_parameters();
    auto st = pd.state();
    QCOMPARE(st[0].second.min().item<float>(), 1e-5f);
    QVERIFY(std::fabs(st[1].second.item<double>() - 1e-3) < 1e-9);
  }
};

QTEST_GUILESS_MAIN(TestQuantizer)
#include "tst_quantizer.moc"
