// AdaRound (surrogate: adaround): the rectified sigmoid, its inverse at the weights' remainders,
// the regulariser and beta's annealing against closed forms written here; the soft forward is the
// weight itself at step 0 and the hard rounding is round-to-nearest; gradients reach V only, as
// g * s * (zeta - gamma) * sigmoid'(V); the model-level regulariser; a real `qatwb run` hardens
// the rounding, and `project check` refuses learned scales and non-INT grids with file:line.
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>

#include "core/model/llama.h"
#include "core/model/safetensors.h"
#include "core/quant/adaround.h"
#include "core/quant/model_quantizer.h"
#include "core/quant/weight_quantizer.h"
#include "tests/common/micro_project.h"
#include "tests/common/run_events.h"
#include "tests/common/test_env.h"

using namespace qatwb;

namespace {

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double rect(double v) { return std::clamp(sigmoid(v) * 1.2 - 0.1, 0.0, 1.0); }

quant::QuantScheme adaround_scheme(double bits = 2) {
  quant::QuantScheme s;
  s.bits = bits;
  s.granularity = quant::Granularity::PerChannel;
  s.scale_mode = quant::ScaleMode::Frozen;
  s.scale_init = quant::ScaleInit::MaxOverQp;
  s.surrogate = quant::Surrogate::AdaRound;
  return s;
}

// Per-row max|w| / Qp of a [rows, cols] weight, in double.
std::vector<double> row_scales(const torch::Tensor& w, double qp) {
  auto a = w.to(torch::kDouble).contiguous();
  std::vector<double> s(a.size(0));
  for (int64_t r = 0; r < a.size(0); ++r) s[r] = a[r].abs().max().item<double>() / qp;
  return s;
}

}  // namespace

class TstAdaRound : public QObject {
  Q_OBJECT

  QTemporaryDir dir_;

 private Q_SLOTS:
  void initTestCase() {
    QVERIFY(dir_.isValid());
    qatwb::test::write_brown_corpus(dir_.filePath("corpus.jsonl"));
  }

  void rectified_sigmoid_and_its_inverse() {
    const std::vector<double> vs = {-5, -std::log(11.0), -1, -0.3, 0, 0.7, std::log(11.0), 4};
    auto v = torch::tensor(vs, torch::kDouble);
    auto h = quant::adaround_h(v);
    for (size_t i = 0; i < vs.size(); ++i)
      QVERIFY(std::abs(h[i].item<double>() - rect(vs[i])) < 1e-12);
    QCOMPARE(h[4].item<double>(), 0.5);                  // V = 0: halfway
    QVERIFY(std::abs(h[1].item<double>()) < 1e-12);      // -ln 11: exactly down
    QVERIFY(std::abs(h[6].item<double>() - 1) < 1e-12);  // +ln 11: exactly up
    // V for a remainder r solves sigmoid(V) * 1.2 - 0.1 = r.
    const std::vector<double> rs = {0.0, 0.05, 0.25, 0.5, 0.9, 0.999};
    auto back = quant::adaround_v_for(torch::tensor(rs, torch::kDouble));
    for (size_t i = 0; i < rs.size(); ++i) {
      const double expect = std::log((rs[i] + 0.1) / (1.1 - rs[i]));  // logit((r + 0.1) / 1.2)
      QVERIFY(std::abs(back[i].item<double>() - expect) < 1e-12);
    }
  }

  void regulariser_and_annealing() {
    const std::vector<double> vs = {-3, -0.5, 0, 0.2, 1.5, 2.5};
    for (double beta : {2.0, 7.5, 20.0}) {
      double expect = 0;
      for (double x : vs) expect += 1 - std::pow(std::abs(2 * rect(x) - 1), beta);
      const double got =
          quant::adaround_regulariser_sum(torch::tensor(vs, torch::kDouble), beta).item<double>();
      QVERIFY2(std::abs(got - expect) < 1e-5, qPrintable(QString("%1 vs %2").arg(got).arg(expect)));
    }
    quant::SurrogateParams p;  // warm-up 0.2, beta 20 -> 2
    auto at = [&](int64_t step) { return quant::adaround_anneal(p, step, 101); };
    QVERIFY(!at(0).active);
    QVERIFY(!at(20).active);  // 0.2 * 101 = 20.2: steps 0..20 are the warm-up
    QVERIFY(at(21).active);
    // Linear from 20 at the warm-up's end (step 20.2) to 2 at the last step (100).
    const auto mid = at(60);
    QVERIFY(std::abs(mid.beta - (2 + 18 * (1 - (60 - 20.2) / (100 - 20.2)))) < 1e-12);
    QVERIFY(std::abs(at(100).beta - 2) < 1e-12);
  }

  void step_zero_is_the_weight_and_hard_rounding_is_nearest() {
    torch::manual_seed(7);
    auto w = torch::randn({6, 40});
    const auto s = adaround_scheme(3);
    quant::WeightQuantizer q(s, "m", w);
    const auto scale = row_scales(w, 3);  // INT3: Qp = 3
    // Soft forward at init: s * (floor(w/s) + (w/s - floor(w/s))) = w (inside the grid).
    auto soft = q.forward(w);
    QVERIFY((soft - w).abs().max().item<double>() < 1e-5);
    // Hard: round to nearest, clamped to [-4, 3].
    auto codes = q.quantize(w).codes.to(torch::kLong);
    auto wd = w.to(torch::kDouble);
    int mismatches = 0;
    for (int64_t r = 0; r < 6; ++r)
      for (int64_t c = 0; c < 40; ++c) {
        const double v = wd[r][c].item<double>() / scale[r];
        const double expect = std::clamp(std::nearbyint(v), -4.0, 3.0);
        mismatches += codes[r][c].item<int64_t>() != static_cast<int64_t>(expect);
      }
    QCOMPARE(mismatches, 0);
    // Without grad (evaluation) the forward is the hard rounding, equal to the export.
    torch::NoGradGuard g;
    auto hard = q.forward(w);
    QVERIFY(torch::equal(hard, quant::dequantize(q.quantize(w))));
  }

  void gradient_reaches_v_only() {
    torch::manual_seed(3);
    auto w = torch::randn({4, 16}).requires_grad_(true);
    const auto s = adaround_scheme(2);
    quant::WeightQuantizer q(s, "m", w.detach());
    auto params = q.parameters();
    QCOMPARE(params.size(), size_t{1});  // V only: the frozen scale is not trained
    auto v = params[0];
    auto g = torch::randn({4, 16});
    (q.forward(w) * g).sum().backward();
    QVERIFY(!w.grad().defined());  // the latent weights stay fixed
    QVERIFY(v.grad().defined());
    // dL/dV = g * s * 1.2 * sigmoid(V) (1 - sigmoid(V)) where 0 < h < 1 and the code is inside
    // [-2, 1]; 0 where h is clamped or the code is. Weights exactly on the grid (w/s an integer,
    // e.g. each row's max|w| at Qp) start at h = 0 exactly, on the clamp's edge, where float
    // rounding decides the side: those are left out and counted (at most two a row).
    const auto scale = row_scales(w.detach(), 1);  // 2 bits, max_over_qp: Qp = 1
    auto vd = v.detach().to(torch::kDouble);
    auto wd = w.detach().to(torch::kDouble);
    double worst = 0;
    int checked = 0, on_edge = 0;
    for (int64_t r = 0; r < 4; ++r)
      for (int64_t c = 0; c < 16; ++c) {
        const double V = vd[r][c].item<double>();
        const double raw = sigmoid(V) * 1.2 - 0.1;
        const double soft = std::floor(wd[r][c].item<double>() / scale[r]) + rect(V);
        if (std::abs(raw) < 1e-6 || std::abs(raw - 1) < 1e-6 || std::abs(soft + 2) < 1e-6 ||
            std::abs(soft - 1) < 1e-6) {
          ++on_edge;
          continue;
        }
        const bool inside = soft > -2 && soft < 1 && raw > 0 && raw < 1;
        const double expect =
            inside ? g[r][c].item<double>() * scale[r] * 1.2 * sigmoid(V) * (1 - sigmoid(V)) : 0.0;
        worst = std::max(worst, std::abs(v.grad()[r][c].item<double>() - expect));
        ++checked;
      }
    QVERIFY2(on_edge <= 8 && checked >= 56, qPrintable(QString("%1 %2").arg(on_edge).arg(checked)));
    QVERIFY2(worst < 1e-6, qPrintable(QString::number(worst)));
  }

  void model_regulariser_is_the_mean_over_weights() {
    const auto cfg = model::preset("llama-micro", 300);
    model::Llama m(cfg);
    m->init_weights(2);
    auto s = adaround_scheme(2);
    s.params.adaround_reg_weight = 0.5;
    quant::ModelQuantizer q(s, m->linear_weights());
    q.set_step(0, 100);  // warm-up: no regulariser
    QCOMPARE(q.regularization_loss().item<double>(), 0.0);
    q.set_step(99, 100);  // last step: beta_end = 2
    double sum = 0;
    int64_t n = 0;
    for (const auto& [key, t] : q.state()) {
      if (key.size() < 8 || key.substr(key.size() - 8) != ".round_v") continue;
      auto h = quant::adaround_h(t.to(torch::kDouble));
      sum += (1 - (2 * h - 1).abs().pow(2)).sum().item<double>();
      n += t.numel();
    }
    QCOMPARE(n, static_cast<int64_t>(q.stats().learned_rounding_weights));
    const double got = q.regularization_loss().item<double>();
    QVERIFY2(std::abs(got - 0.5 * sum / n) < 1e-5,
             qPrintable(QString("%1 vs %2").arg(got).arg(0.5 * sum / n)));
    // Nothing hardened yet: soft are all weights but those exactly on the grid (V = -ln 11).
    int64_t hard = 0;
    for (const auto& [key, t] : q.state())
      if (key.size() >= 8 && key.substr(key.size() - 8) == ".round_v")
        hard += t.abs().ge(std::log(11.0) - 1e-6).sum().item<int64_t>();
    QVERIFY(hard < n / 20);
    QVERIFY(std::abs(q.stats().soft_rounding_fraction - double(n - hard) / n) < 1e-12);
  }

  void run_hardens_the_rounding_and_checkpoints_v() {
    const QString corpus = dir_.filePath("corpus.jsonl");
    const QString p = qatwb::test::write_micro_project(
        dir_.path(), "adaround-run", corpus, "  detail_every: 1\n  quant_lr: 1.0\n",
        "quant:\n  enabled: true\n  bits: 2\n  surrogate: adaround\n"
        "  surrogate_params: {reg_weight: 50, reg_warmup: 0.1}\n");
    qatwb::test::replace_in_file(p, "  detail_every: 4\n", "");
    qatwb::test::replace_in_file(p, "  steps: 8\n", "  steps: 12\n");
    const QString run = dir_.filePath("runs/adaround");
    const auto r = qatwb::test::run_qatwb_env({"run", p, "--run-dir", run, "--no-db"});
    QVERIFY2(r.exit_code == 0, r.err.constData());
    const auto soft = qatwb::test::run_metric(run, "rounding_soft_fraction");
    QVERIFY(soft.size() >= 10);
    QVERIFY2(soft.begin()->second > 0.8, qPrintable(QString::number(soft.begin()->second)));
    QVERIFY2(soft.rbegin()->second < 0.5 * soft.begin()->second,
             qPrintable(QString("%1 -> %2").arg(soft.begin()->second).arg(soft.rbegin()->second)));
    const auto evals = qatwb::test::run_events_of_type(run, "eval");
    QVERIFY(std::isfinite(evals.back()["values"]["ppl_postquant"].get<double>()));
    // The quantizer state in the final checkpoint carries V for every module.
    QDir ck(run + "/checkpoints");
    const auto steps = ck.entryList({"step-*"}, QDir::Dirs, QDir::Name);
    QVERIFY(!steps.isEmpty());
    const auto reader = model::SafetensorsReader::open(
        ck.filePath(steps.back() + "/quantizer.safetensors").toStdString());
    const auto cfg = model::preset("llama-micro", 32000);
    for (const auto& [name, shape] : model::decoder_linear_shapes(cfg)) {
      QVERIFY2(reader.contains(name + ".round_v"), name.c_str());
      QCOMPARE(reader.tensor(name + ".round_v").numel(), shape[0] * shape[1]);
    }
  }

  void project_check_refuses_bad_adaround() {
    const QString corpus = dir_.filePath("corpus.jsonl");
    // Without `scale`, adaround gets frozen scales.
    const QString ok = qatwb::test::write_micro_project(
        dir_.path(), "ar-ok", corpus, "", "quant: {enabled: true, bits: 3, surrogate: adaround}\n");
    auto r = qatwb::test::run_qatwb_env({"project", "check", ok});
    QVERIFY2(r.exit_code == 0, r.err.constData());
    QVERIFY2(r.out.contains("scale: \"frozen\""), r.out.constData());
    struct Case {
      QString quant, needle;
    };
    const QList<Case> bad = {
        {"quant:\n  bits: 2\n  scale: learned\n  surrogate: adaround\n",
         ":18:10: quant.scale: adaround learns the rounding of fixed weights"},
        {"quant:\n  bits: 1.58\n  surrogate: adaround\n",
         ":18:14: quant.surrogate: adaround learns up/down rounding on an INT grid"},
        {"quant:\n  surrogate: adaround\n  surrogate_params: {beta_start: 1, beta_end: 2}\n",
         "quant.surrogate_params.beta_start: must be >= beta_end"},
        {"quant:\n  surrogate: adaround\n  surrogate_params: {reg_warmup: 1}\n",
         "quant.surrogate_params.reg_warmup: must be in [0, 1)"},
    };
    int i = 0;
    for (const auto& c : bad) {
      const QString p = qatwb::test::write_micro_project(dir_.path(), QString("ar-bad%1").arg(i++),
                                                         corpus, "", c.quant);
      r = qatwb::test::run_qatwb_env({"project", "check", p});
      QVERIFY(r.exit_code != 0);
      QVERIFY2(r.err.contains(c.needle.toUtf8()), r.err.constData());
    }
  }
};

QTEST_GUILESS_MAIN(TstAdaRound)
#include "tst_adaround.moc"
