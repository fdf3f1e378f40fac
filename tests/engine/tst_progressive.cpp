// Progressive quantization (quant.schedule): the values in force at each step (step phases and
// linear ramps, against closed forms), bits changes re-initialising scales to max|w|/Qp of the
// new grid, modules an override gives other bits left alone, a real `qatwb run` training 4 -> 3 ->
// 2 bits with a bit-exact resume inside a phase, and file:line errors from `project check`.
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>

#include "core/model/llama.h"
#include "core/quant/model_quantizer.h"
#include "core/quant/scheme.h"
#include "tests/common/micro_project.h"
#include "tests/common/run_events.h"
#include "tests/common/test_env.h"

using namespace qatwb;

namespace {

quant::SchedulePhase phase(int64_t until, std::optional<double> bits,
                           std::optional<double> amplitude = {}, bool linear = false) {
  quant::SchedulePhase p;
  p.until = until;
  p.bits = bits;
  p.amplitude = amplitude;
  p.linear = linear;
  return p;
}

// max over each row of |w| / qn (the Auto init: max|w|/Qp, and max|w|/2 at 2 bits).
torch::Tensor row_max_over(const torch::Tensor& w, double q) {
  return std::get<0>(w.detach().abs().max(1)) / q;
}

}  // namespace

class TstProgressive : public QObject {
  Q_OBJECT

  QTemporaryDir dir_;

 private Q_SLOTS:
  void initTestCase() {
    QVERIFY(dir_.isValid());
    qatwb::test::write_brown_corpus(dir_.filePath("corpus.jsonl"));
  }

  void values_in_force_at_each_step() {
    quant::QuantScheme s;
    s.bits = 2;
    s.surrogate = quant::Surrogate::StableQat;
    s.params.amplitude = 0.2;
    s.schedule = {phase(4, 4.0), phase(8, 3.0, 0.05, true), phase(10, {}, 0.1)};
    const double expect_bits[] = {4, 4, 4, 4, 3, 3, 3, 3, 2, 2, 2, 2};
    for (int step = 0; step < 12; ++step)
      QCOMPARE(quant::scheduled_values(s, step).bits, expect_bits[step]);
    QCOMPARE(quant::scheduled_values(s, 0).phase, 0);
    QCOMPARE(quant::scheduled_values(s, 9).phase, 2);
    QCOMPARE(quant::scheduled_values(s, 10).phase, -1);
    // Phase 0 sets no amplitude: the scheme's.
    QCOMPARE(quant::scheduled_values(s, 2).amplitude, 0.2);
    // Phase 1 ramps 0.05 -> 0.1 (phase 2's value, at step 8) over steps 4..8.
    for (int step = 4; step < 8; ++step)
      QVERIFY(std::abs(quant::scheduled_values(s, step).amplitude -
                       (0.05 + 0.05 * (step - 4) / 4.0)) < 1e-15);
    QCOMPARE(quant::scheduled_values(s, 9).amplitude, 0.1);  // step phase: constant
    QCOMPARE(quant::scheduled_values(s, 10).amplitude, 0.2);
    const std::string d = quant::describe_schedule(s);
    QVERIFY2(d.find("steps 0-3: 4 bits") != std::string::npos, d.c_str());
    QVERIFY2(d.find("from step 10: the scheme (2 bits)") != std::string::npos, d.c_str());
  }

  void bits_change_reinitialises_scales() {
    const auto cfg = model::preset("llama-micro", 300);
    model::Llama m(cfg);
    m->init_weights(4);
    quant::QuantScheme s;
    s.bits = 2;
    s.granularity = quant::Granularity::PerChannel;
    quant::SchemeOverride down;
    down.match = "down_proj$";
    down.bits = 8;
    s.overrides = {down};
    s.schedule = {phase(3, 4.0), phase(6, 3.0)};
    quant::ModelQuantizer q(s, m->linear_weights());
    const std::string up = "model.layers.0.mlp.up_proj", dn = "model.layers.0.mlp.down_proj";
    torch::Tensor up_w, dn_w;
    for (const auto& [name, w] : m->linear_weights()) {
      if (name == up) up_w = w;
      if (name == dn) dn_w = w;
    }
    auto scale_of = [&](const std::string& module) {
      for (const auto& [k, t] : q.state())
        if (k == module + ".weight_scale") return t.reshape({-1}).clone();
      return torch::Tensor();
    };
    const auto dn_scale = scale_of(dn);
    // Built at the scheme's own bits (what step 0's RTN evaluation measures).
    QCOMPARE(q.quantizer(up).bits(), 2.0);
    QVERIFY(q.set_step(0, 8));  // phase 0: 4 bits, fresh scales
    QCOMPARE(q.quantizer(up).bits(), 4.0);
    QVERIFY(torch::allclose(scale_of(up), row_max_over(up_w, 7), 1e-6, 1e-8));
    QVERIFY(!q.set_step(2, 8));  // same phase: nothing changes
    QVERIFY(q.set_step(3, 8));
    QCOMPARE(q.quantizer(up).bits(), 3.0);
    QVERIFY(torch::allclose(scale_of(up), row_max_over(up_w, 3), 1e-6, 1e-8));
    QVERIFY(q.set_step(6, 8));
    QCOMPARE(q.quantizer(up).bits(), 2.0);
    QVERIFY(torch::allclose(scale_of(up), row_max_over(up_w, 2), 1e-6, 1e-8));
    // The 8-bit override is not on the schedule.
    QCOMPARE(q.quantizer(dn).bits(), 8.0);
    QVERIFY(torch::equal(scale_of(dn), dn_scale));
    // Codes stay on each grid: at 3 bits within [-4, 3].
    q.set_step(3, 8, false);
    const auto codes = q.quantize_all().at(up).codes;
    QVERIFY(codes.min().item<int>() >= -4 && codes.max().item<int>() <= 3);
    QCOMPARE(q.quantize_all().at(up).bits, 3.0);
  }

  void run_trains_four_three_two_bits_and_resumes_exactly() {
    const QString corpus = dir_.filePath("corpus.jsonl");
    const QString p = qatwb::test::write_micro_project(
        dir_.path(), "progressive", corpus, "  checkpoint_every: 2\n",
        "quant:\n  enabled: true\n  bits: 2\n  scale: learned\n"
        "  schedule:\n    - {until: 3, bits: 4}\n    - {until: 6, bits: 3}\n");
    const QString full = dir_.filePath("runs/prog-full"), cut = dir_.filePath("runs/prog-cut");
    auto r = qatwb::test::run_qatwb_env({"run", p, "--run-dir", full, "--no-db"});
    QVERIFY2(r.exit_code == 0, r.err.constData());
    QVERIFY2(r.err.contains("quant schedule: steps 0-2: 4 bits; steps 3-5: 3 bits; from step 6"),
             r.err.constData());
    const auto bits = qatwb::test::run_metric(full, "quant_bits");
    const std::map<int64_t, double> expect = {{0, 4}, {1, 4}, {2, 4}, {3, 3},
                                              {4, 3}, {5, 3}, {6, 2}, {7, 2}};
    QVERIFY(bits == expect);
    // Step 0's evaluation is RTN at the scheme's 2 bits; the final one is at 2 bits too.
    const auto evals = qatwb::test::run_events_of_type(full, "eval");
    QVERIFY(evals.size() >= 2);
    QVERIFY(std::isfinite(evals.back()["values"]["ppl_postquant"].get<double>()));
    // Stopped inside the 3-bit phase (after step 4, checkpoint at 4), resumed: the same losses,
    // exactly (the resume keeps the phase's loaded scales and optimizer moments).
    QCOMPARE(qatwb::test::run_qatwb_env({"run", p, "--run-dir", cut, "--no-db"},
                                        {{"QATWB_TEST_STOP_AT_STEP", "4"}})
                 .exit_code,
             130);
    QCOMPARE(qatwb::test::run_qatwb_env({"run", "--resume", cut, "--no-db"}).exit_code, 0);
    const auto a = qatwb::test::run_metric(full, "loss"), b = qatwb::test::run_metric(cut, "loss");
    QCOMPARE(a.size(), size_t{8});
    for (const auto& [step, loss] : a) QCOMPARE(b.at(step), loss);
    QVERIFY(qatwb::test::run_metric(cut, "quant_bits") == expect);
  }

  void project_check_refuses_bad_schedules() {
    const QString corpus = dir_.filePath("corpus.jsonl");
    struct Case {
      QString quant, needle;
    };
    // The quant section starts at line 16; its schedule entries at line 19 and 20.
    const QString head = "quant:\n  bits: 2\n  schedule:\n";
    const QList<Case> bad = {
        {head + "    - {until: 4, bits: 4}\n    - {until: 4, bits: 3}\n",
         ":20:15: quant.schedule[1].until: must be greater than 4"},
        {head + "    - {until: 4, bits: 5}\n", ":19:24: quant.schedule[0].bits: expected one of 2"},
        {head + "    - {until: 4, amplitude: 0.1}\n",
         "quant.schedule[0].amplitude: is StableQAT's amplitude; no module uses"},
        {head + "    - {until: 8, bits: 4}\n",
         "quant.schedule[0].until: must be below train.steps 8"},
        {head + "    - {until: 4, bits: 4, ramp: linear}\n",
         "quant.schedule[0].ramp: linear ramps amplitude or ewgs_delta"},
        {head + "    - {until: 4}\n", "quant.schedule[0]: sets nothing"},
        {head + "    - {bits: 4}\n", "quant.schedule[0].until: is required"},
        {head + "    - {until: 4, bitz: 4}\n", "bitz"},
        {"easgd: {enabled: true}\n" + head + "    - {until: 4, bits: 4}\n",
         "quant.schedule[0].bits: a bits schedule does not combine with easgd"},
    };
    int i = 0;
    for (const auto& c : bad) {
      const QString p = qatwb::test::write_micro_project(dir_.path(), QString("pbad%1").arg(i++),
                                                         corpus, "", c.quant);
      const auto r = qatwb::test::run_qatwb_env({"project", "check", p});
      QVERIFY(r.exit_code != 0);
      QVERIFY2(r.err.contains(c.needle.toUtf8()), r.err.constData());
    }
    // A good one round-trips through the resolved YAML.
    const QString ok = qatwb::test::write_micro_project(
        dir_.path(), "pok", corpus, "",
        "quant:\n  bits: 2\n  surrogate: stableqat\n  schedule:\n"
        "    - {until: 4, bits: 4, amplitude: 0.0, ramp: linear}\n");
    const auto r = qatwb::test::run_qatwb_env({"project", "check", ok});
    QVERIFY2(r.exit_code == 0, r.err.constData());
    QVERIFY2(r.out.contains("schedule:"), r.out.constData());
    QVERIFY2(r.out.contains("ramp: \"linear\""), r.out.constData());
    QVERIFY2(r.err.contains("quant schedule: steps 0-3: 4 bits amplitude 0 ramped"),
             r.err.constData());
  }
};

QTEST_GUILESS_MAIN(TstProgressive)
#include "tst_progressive.moc"
