// Optimizer memory: bf16 moments with stochastic rounding (train.optimizer_states: bf16) and
// ZeRO-1 sharding (train.zero1). Stochastic rounding is pinned to its closed form (one of the two
// neighbouring bf16 values, unbiased on average); the first CompactAdamW step equals AdamW's
// formula computed here in double; v keeps tracking 1 - beta2^t where round-to-nearest would
// freeze it; owners follow the greedy rule; and real `qatwb run`s: bf16 states train like fp32
// ones with half the optimizer file, ZeRO-1 over 2 ranks trains exactly like plain data
// parallel, writes one shard per rank and resumes exactly (and refuses another rank count).
#include <QFileInfo>
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <cstring>

#include "core/train/compact_adamw.h"
#include "core/train/zero1.h"
#include "tests/common/micro_project.h"
#include "tests/common/run_events.h"
#include "tests/common/test_env.h"

using namespace qatwb;

namespace {

float bf16_down(float x) {  // truncate the float32 pattern to bf16 (toward zero)
  uint32_t u;
  std::memcpy(&u, &x, 4);
  u &= 0xFFFF0000u;
  float y;
  std::memcpy(&y, &u, 4);
  return y;
}

}  // namespace

class TstOptimizerMemory : public QObject {
  Q_OBJECT

  QTemporaryDir dir_;

  QString project(const QString& name, const QString& train_extra) {
    return qatwb::test::write_micro_project(dir_.path(), name, dir_.filePath("corpus.jsonl"),
                                            train_extra,
                                            "quant: {enabled: true, bits: 2, surrogate: ste}\n");
  }

 private Q_SLOTS:
  void initTestCase() {
    QVERIFY(dir_.isValid());
    qatwb::test::write_brown_corpus(dir_.filePath("corpus.jsonl"));
  }

  void stochastic_rounding_is_a_neighbour_and_unbiased() {
    // 1 + 2^-10 lies between the bf16 values 1 and 1 + 2^-7, an eighth of the way up.
    const float x = 1.0f + std::ldexp(1.0f, -10);
    const int64_t n = 1 << 17;
    auto t = torch::full({n}, x);
    auto r = train::stochastic_round_bf16(t, 7).to(torch::kFloat);
    const float lo = 1.0f, hi = 1.0f + std::ldexp(1.0f, -7);
    QVERIFY(torch::logical_or(r == lo, r == hi).all().item<bool>());
    const double up = (r == hi).to(torch::kDouble).mean().item<double>();
    QVERIFY2(std::abs(up - 0.125) < 0.01, qPrintable(QString::number(up)));
    QVERIFY(std::abs(r.to(torch::kDouble).mean().item<double>() - x) < 3e-5);
    // Negative values round in magnitude the same way.
    auto rn = train::stochastic_round_bf16(-t, 7).to(torch::kFloat);
    QVERIFY(torch::equal(rn, -r));
    // Values bf16 holds are kept exactly; the dither depends on the seed.
    auto exact = torch::tensor({bf16_down(3.14159f), -0.5f, 0.0f, 1e-20f}).to(torch::kFloat);
    exact[3] = bf16_down(1e-20f);
    QVERIFY(torch::equal(train::stochastic_round_bf16(exact, 3).to(torch::kFloat), exact));
    QVERIFY(!torch::equal(train::stochastic_round_bf16(t, 8), train::stochastic_round_bf16(t, 7)));
  }

  void first_step_is_adamw_and_states_are_bf16() {
    const double lr = 0.01, b1 = 0.9, b2 = 0.95, eps = 1e-8, wd = 0.1;
    auto p = torch::tensor({0.5f, -1.25f, 2.0f, 0.0f}).requires_grad_(true);
    const std::vector<double> g = {0.3, -0.7, 1e-3, 2.0};
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(std::vector<torch::Tensor>{p});
    train::CompactAdamW opt(
        std::move(groups),
        torch::optim::AdamWOptions(lr).betas({b1, b2}).eps(eps).weight_decay(wd));
    p.mutable_grad() = torch::tensor({0.3f, -0.7f, 1e-3f, 2.0f});
    const std::vector<double> p0 = {0.5, -1.25, 2.0, 0.0};
    opt.step();
    for (int i = 0; i < 4; ++i) {
      // Step 1: m_hat = g, v_hat = g^2, decoupled decay first.
      const double m = (1 - b1) * g[i], v = (1 - b2) * g[i] * g[i];
      const double want =
          p0[i] * (1 - lr * wd) - lr / (1 - b1) * m / (std::sqrt(v / (1 - b2)) + eps);
      QVERIFY2(std::abs(p[i].item<double>() - want) < 1e-6,
               qPrintable(QString("%1 vs %2").arg(p[i].item<double>()).arg(want)));
    }
    const auto& state = opt.state();
    QCOMPARE(state.size(), size_t{1});
    const auto& s = static_cast<const torch::optim::AdamWParamState&>(*state.begin()->second);
    QVERIFY(s.exp_avg().scalar_type() == torch::kBFloat16);
    QVERIFY(s.exp_avg_sq().scalar_type() == torch::kBFloat16);
    // The stored m is one of the two bf16 neighbours of (1 - b1) g.
    for (int i = 0; i < 4; ++i) {
      const float m = static_cast<float>((1 - b1) * g[i]);
      const float lo = bf16_down(m), stored = s.exp_avg()[i].item<float>();
      QVERIFY2(stored == lo || std::abs(stored) > std::abs(lo), qPrintable(QString::number(i)));
      QVERIFY(std::abs(stored - m) <= std::abs(m) * std::ldexp(1.0, -7));
    }
  }

  void second_moment_keeps_tracking_where_nearest_would_freeze() {
    // g = 1 every step with beta2 = 0.999: v_t = 1 - 0.999^t. Its per-step change 0.001 (1 -
    // v) is below half a bf16 ulp of v once v > 1/8, so round-to-nearest would stall near there.
    const int64_t n = 4096, steps = 600;
    auto p = torch::zeros({n}).requires_grad_(true);
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(std::vector<torch::Tensor>{p});
    train::CompactAdamW opt(std::move(groups),
                            torch::optim::AdamWOptions(1e-6).betas({0.9, 0.999}));
    for (int64_t t = 0; t < steps; ++t) {
      p.mutable_grad() = torch::ones({n});
      opt.step();
    }
    const auto& s = static_cast<const torch::optim::AdamWParamState&>(*opt.state().begin()->second);
    const double want = 1 - std::pow(0.999, static_cast<double>(steps));  // 0.4514
    const double got = s.exp_avg_sq().to(torch::kDouble).mean().item<double>();
    QVERIFY2(std::abs(got - want) < 0.01 * want,
             qPrintable(QString("%1 vs %2").arg(got).arg(want)));
  }

  void owners_follow_the_greedy_rule() {
    // Largest first (ties by position) to the least-loaded rank (ties to the lowest):
    // 9@1 -> 0, 9@3 -> 1, 5@0 -> 0 (9 = 9), 3@4 -> 1 (14 > 9), 1@2 -> 1 (14 > 12).
    QCOMPARE(train::assign_owners({5, 9, 1, 9, 3}, 2), (std::vector<int>{0, 0, 1, 1, 1}));
    QCOMPARE(train::assign_owners({4, 4, 4}, 3), (std::vector<int>{0, 1, 2}));
    QCOMPARE(train::assign_owners({4, 4, 4}, 1), (std::vector<int>{0, 0, 0}));
  }

  void bf16_states_train_like_fp32_with_half_the_file() {
    const QString a = project("states32", "  checkpoint_every: 8\n");
    const QString b = project("states16", "  checkpoint_every: 8\n  optimizer_states: bf16\n");
    const QString ra = dir_.filePath("runs/states32"), rb = dir_.filePath("runs/states16");
    auto r = qatwb::test::run_qatwb_env({"run", a, "--run-dir", ra, "--no-db"});
    QVERIFY2(r.exit_code == 0, r.err.constData());
    r = qatwb::test::run_qatwb_env({"run", b, "--run-dir", rb, "--no-db"});
    QVERIFY2(r.exit_code == 0, r.err.constData());
    const auto la = qatwb::test::run_metric(ra, "loss"), lb = qatwb::test::run_metric(rb, "loss");
    QCOMPARE(la.size(), size_t{8});
    QCOMPARE(la.at(0), lb.at(0));  // the same start
    for (const auto& [step, loss] : la)
      QVERIFY2(std::abs(lb.at(step) - loss) < 0.01 * loss,
               qPrintable(QString("step %1: %2 vs %3").arg(step).arg(lb.at(step)).arg(loss)));
    const double fa = QFileInfo(ra + "/checkpoints/step-00000008/optimizer.pt").size();
    const double fb = QFileInfo(rb + "/checkpoints/step-00000008/optimizer.pt").size();
    QVERIFY2(fa > 0 && fb / fa < 0.56, qPrintable(QString("%1 / %2").arg(fb).arg(fa)));
  }

  void zero1_trains_exactly_like_data_parallel_and_resumes() {
    const QString plain = project("dp", "  checkpoint_every: 2\n");
    const QString sharded = project("zero1", "  checkpoint_every: 2\n  zero1: true\n");
    const QString rp = dir_.filePath("runs/dp"), rz = dir_.filePath("runs/zero1"),
                  cut = dir_.filePath("runs/zero1-cut");
    auto r = qatwb::test::run_qatwb_env({"run", plain, "--run-dir", rp, "--no-db", "--nproc", "2"});
    QVERIFY2(r.exit_code == 0, r.err.constData());
    r = qatwb::test::run_qatwb_env({"run", sharded, "--run-dir", rz, "--no-db", "--nproc", "2"});
    QVERIFY2(r.exit_code == 0, r.err.constData());
    const auto lp = qatwb::test::run_metric(rp, "loss"), lz = qatwb::test::run_metric(rz, "loss");
    QCOMPARE(lp.size(), size_t{8});
    for (const auto& [step, loss] : lp) QCOMPARE(lz.at(step), loss);
    // One optimizer shard per rank: together the unsharded file (whole tensors are owned, so
    // the split is as even as the largest tensor allows: here the 32000 x 64 embedding).
    const double whole = QFileInfo(rp + "/checkpoints/step-00000008/optimizer.pt").size();
    const double s0 = QFileInfo(rz + "/checkpoints/step-00000008/optimizer.pt").size();
    const double s1 =
        QFileInfo(rz + "/checkpoints/workers/rank-1/step-00000008/optimizer.pt").size();
    QVERIFY(s0 > 0 && s1 > 0 && s0 < whole && s1 < whole);
    QVERIFY2(std::abs(s0 + s1 - whole) < 0.05 * whole,
             qPrintable(QString("%1 + %2 vs %3").arg(s0).arg(s1).arg(whole)));
    // Stopped after step 4, resumed on 2 ranks: the same losses, exactly.
    QCOMPARE(
        qatwb::test::run_qatwb_env({"run", sharded, "--run-dir", cut, "--no-db", "--nproc", "2"},
                                   {{"QATWB_TEST_STOP_AT_STEP", "4"}})
            .exit_code,
        130);
    r = qatwb::test::run_qatwb_env({"run", "--resume", cut, "--no-db"});
    QVERIFY(r.exit_code != 0);
    QVERIFY2(r.err.contains("train.zero1 over 2 ranks") && r.err.contains("same --nproc"),
             r.err.constData());
    r = qatwb::test::run_qatwb_env({"run", "--resume", cut, "--no-db", "--nproc", "2"});
    QVERIFY2(r.exit_code == 0, r.err.constData());
    const auto lc = qatwb::test::run_metric(cut, "loss");
    for (const auto& [step, loss] : lz) QCOMPARE(lc.at(step), loss);
  }

  void project_check_knows_the_options() {
    const QString p = project("est", "  optimizer_states: bf16\n  zero1: true\n");
    auto r = qatwb::test::run_qatwb_env({"project", "check", p});
    QVERIFY2(r.exit_code == 0, r.err.constData());
    QVERIFY2(r.err.contains("optimizer states (AdamW, 2 moments, bf16)"), r.err.constData());
    QVERIFY2(r.err.contains("with train.zero1 (optimizer states split across ranks): 2 ranks"),
             r.err.constData());
    QVERIFY2(r.out.contains("optimizer_states: \"bf16\"") && r.out.contains("zero1: true"),
             r.out.constData());
    const QString bad = project("bad-states", "  optimizer_states: int8\n");
    r = qatwb::test::run_qatwb_env({"project", "check", bad});
    QVERIFY(r.exit_code != 0);
    QVERIFY2(r.err.contains("train.optimizer_states") && r.err.contains("bad-states.yaml:"),
             r.err.constData());
    const QString both = qatwb::test::write_micro_project(
        dir_.path(), "zero1-easgd", dir_.filePath("corpus.jsonl"), "  zero1: true\n",
        "quant: {enabled: true, bits: 2}\neasgd: {enabled: true}\n");
    r = qatwb::test::run_qatwb_env({"project", "check", both});
    QVERIFY(r.exit_code != 0);
    QVERIFY2(r.err.contains("train.zero1: does not combine with easgd"), r.err.constData());
  }
};

QTEST_GUILESS_MAIN(TstOptimizerMemory)
#include "tst_optimizer_memory.moc"
