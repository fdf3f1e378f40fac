// Distillation (train.distill) through the real `qatwb run` on a micro Llama: the self_fp teacher
// is the starting model (KL exactly 0 while the student equals it), the objective is the
// documented mix of the two logged terms, a resume rebuilds the same teacher (bit-exact), bf16
// holds the teacher in bf16, and bad values are file:line errors from `project check`.
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>

#include "tests/common/micro_project.h"
#include "tests/common/run_events.h"
#include "tests/common/test_env.h"

namespace {

using qatwb::test::run_metric;
using qatwb::test::run_qatwb_env;

const QString kW2 = "quant: {enabled: true, bits: 2, granularity: per_channel, surrogate: ste}\n";

}  // namespace

class TstDistill : public QObject {
  Q_OBJECT

  QTemporaryDir dir_;
  QString corpus_;

  QString project(const QString& name, const QString& distill, const QString& quant = kW2) {
    return qatwb::test::write_micro_project(dir_.path(), name, corpus_, distill, quant);
  }
  QString run_dir(const QString& name) { return dir_.filePath("runs/" + name); }

 private Q_SLOTS:
  void initTestCase() {
    QVERIFY(dir_.isValid());
    corpus_ = dir_.filePath("corpus.jsonl");
    qatwb::test::write_brown_corpus(corpus_, {"ca01", "ca02", "ca03"});
  }

  // Without quantization the student starts equal to its self_fp teacher: KL(q || p) = 0, its
  // gradient (p - q) is 0, AdamW makes no update, so it stays equal: loss_kd is 0 at every step
  // and the final model's perplexity is the starting model's.
  void unquantized_student_equals_its_teacher() {
    const QString p = project("fp", "  distill: {teacher: self_fp}\n", "quant: {enabled: false}\n");
    const auto r = run_qatwb_env({"run", p, "--run-dir", run_dir("fp"), "--no-db"});
    QCOMPARE(r.exit_code, 0);
    QVERIFY2(r.err.contains("distill: teacher the unquantized starting model"), r.err.constData());
    const auto kd = run_metric(run_dir("fp"), "loss_kd");
    const auto ce = run_metric(run_dir("fp"), "loss_ce");
    const auto loss = run_metric(run_dir("fp"), "loss");
    QCOMPARE(kd.size(), size_t{8});
    QCOMPARE(ce.size(), size_t{8});
    for (const auto& [step, v] : kd) {
      QVERIFY2(std::abs(v) < 1e-6, qPrintable(QString("step %1: KL %2").arg(step).arg(v)));
      QCOMPARE(loss.at(step), v);                      // loss: kl is pure distillation
      QVERIFY(ce.at(step) > std::log(32000.0) * 0.8);  // a random model: about log(vocab)
    }
    const auto evals = qatwb::test::run_events_of_type(run_dir("fp"), "eval");
    QVERIFY(evals.size() >= 2);
    const double start = evals.front()["values"]["ppl_fp"].get<double>();
    const double end = evals.back()["values"]["ppl"].get<double>();
    QVERIFY2(std::abs(end - start) < 1e-6 * start,
             qPrintable(QString("%1 -> %2").arg(start).arg(end)));
  }

  // W2 student, ce+kl with w = 0.3 at T = 2: the logged objective is 0.7 CE + 0.3 KD at every
  // step, KD starts above 0 (the quantized student differs from its teacher) and training
  // lowers it; a stop and resume rebuilds the same teacher: every logged value bit-exact.
  void quantized_student_mixes_the_terms_and_resumes_exactly() {
    const QString p =
        project("mix",
                "  distill: {teacher: self_fp, loss: ce+kl, weight: 0.3, temperature: 2}\n"
                "  checkpoint_every: 2\n");
    QCOMPARE(run_qatwb_env({"run", p, "--run-dir", run_dir("mix"), "--no-db"}).exit_code, 0);
    const auto kd = run_metric(run_dir("mix"), "loss_kd");
    const auto ce = run_metric(run_dir("mix"), "loss_ce");
    const auto loss = run_metric(run_dir("mix"), "loss");
    QCOMPARE(kd.size(), size_t{8});
    QVERIFY(kd.begin()->second > 1e-3);  // the W2 student differs from its teacher
    for (const auto& [step, v] : loss) {
      const double expect = 0.7 * ce.at(step) + 0.3 * kd.at(step);
      QVERIFY2(std::abs(v - expect) < 1e-5 * std::abs(expect),
               qPrintable(QString("step %1: %2 vs %3").arg(step).arg(v).arg(expect)));
    }
    const QString cut = run_dir("mix-cut");
    QCOMPARE(
        run_qatwb_env({"run", p, "--run-dir", cut, "--no-db"}, {{"QATWB_TEST_STOP_AT_STEP", "3"}})
            .exit_code,
        130);
    QCOMPARE(run_qatwb_env({"run", "--resume", cut, "--no-db"}).exit_code, 0);
    for (const char* key : {"loss", "loss_ce", "loss_kd"}) {
      const auto a = run_metric(run_dir("mix"), key), b = run_metric(cut, key);
      QCOMPARE(b.size(), a.size());
      for (const auto& [step, v] : a) QCOMPARE(b.at(step), v);  // exact
    }
  }

  // bf16: the teacher is held in bf16; pure distillation of the W2 student lowers the KL it
  // started from (mean of the last three steps against the first three).
  void bf16_run_distills() {
    const QString p = project("bf16", "  dtype: bf16\n  distill: {}\n");
    const auto r = run_qatwb_env({"run", p, "--run-dir", run_dir("bf16"), "--no-db"});
    QCOMPARE(r.exit_code, 0);
    const auto kd = run_metric(run_dir("bf16"), "loss_kd");
    QCOMPARE(kd.size(), size_t{8});
    std::vector<double> v;
    for (const auto& [step, x] : kd) {
      QVERIFY(std::isfinite(x) && x >= -1e-3);
      v.push_back(x);
    }
    const double head = (v[0] + v[1] + v[2]) / 3, tail = (v[5] + v[6] + v[7]) / 3;
    QVERIFY2(tail < head, qPrintable(QString("KL %1 -> %2").arg(head).arg(tail)));
  }

  // Another model folder as the teacher: its vocabulary must be the student's.
  void teacher_folder_must_share_the_vocabulary() {
    const QString other = dir_.filePath("models/other");
    QCOMPARE(run_qatwb_env({"model", "create", "--preset", "llama-micro", "--vocab-size", "300",
                            "--out", other})
                 .exit_code,
             0);
    const QString p = project("other", "  distill: {teacher: models/other}\n");
    const auto r = run_qatwb_env({"run", p, "--run-dir", run_dir("other"), "--no-db"});
    QVERIFY(r.exit_code != 0);
    QVERIFY2(r.err.contains("train.distill.teacher has a vocabulary of 300"), r.err.constData());
  }

  void bad_values_are_file_line_errors() {
    struct Case {
      QString distill, needle;
    };
    const QList<Case> cases = {
        {"  distill: {temperature: 0}\n", "train.distill.temperature: must be in (0, 100]"},
        {"  distill: {loss: kl, weight: 0.5}\n", "train.distill.weight: applies to loss: ce+kl"},
        {"  distill: {loss: ce+kl, weight: 1.5}\n", "train.distill.weight: must be in (0, 1]"},
        {"  distill: {loss: mse}\n", "train.distill.loss"},
        {"  distill: {teacher: no/such/folder}\n", "train.distill.teacher"},
        {"  distill: {tempreature: 2}\n", "tempreature"},
    };
    int i = 0;
    for (const auto& c : cases) {
      const QString p = project(QString("bad%1").arg(i++), c.distill);
      const auto r = run_qatwb_env({"project", "check", p});
      QVERIFY2(r.exit_code != 0, qPrintable(c.distill));
      QVERIFY2(r.err.contains(c.needle.toUtf8()), r.err.constData());
      // file:line of the distill line (line 15 of the micro project).
      QVERIFY2(r.err.contains((QFileInfo(p).fileName() + ":15:").toUtf8()), r.err.constData());
    }
  }
};

QTEST_GUILESS_MAIN(TstDistill)
#include "tst_distill.moc"
