// Fault injection for the event log and the store (issue #15): the real `qatwb run` on the micro
// project is killed (SIGKILL: no checkpoint, no end event, maybe a torn line) at a random moment
// of its run, 20 times, and each run is then resumed until it finishes. Afterwards every run's
// events.jsonl and the store each hold exactly one loss row per step, and the losses and final
// evaluation equal those of one uninterrupted run (resume is bit for bit).
#include <signal.h>

#include <algorithm>

#include <QElapsedTimer>
#include <QFile>
#include <QProcess>
#include <QRandomGenerator>
#include <QTemporaryDir>
#include <QtTest>

#include <nlohmann/json.hpp>

#include "core/store/store.h"
#include "tests/common/micro_project.h"
#include "tests/common/run_events.h"
#include "tests/common/test_env.h"

namespace {

constexpr int kTrials = 20;
constexpr int kSteps = 6;

std::map<std::string, double> final_values(const QString& run_dir) {
  std::map<std::string, double> out;
  const auto ends = qatwb::test::run_events_of_type(run_dir, "end");
  if (ends.empty()) return out;
  for (const auto& [k, v] : ends.back()["values"].items())
    if (v.is_number()) out[k] = v.get<double>();
  return out;
}

}  // namespace

class TestFaultInjection : public QObject {
  Q_OBJECT

  QTemporaryDir dir_;
  QString project_, db_, cache_;

  QProcessEnvironment env() const {
    QProcessEnvironment e = QProcessEnvironment::systemEnvironment();
    e.insert("QATWB_CACHE", cache_);  // every run shares one token cache
    return e;
  }

  // Starts `qatwb args` and SIGKILLs it after `kill_after_ms` (if still running). Returns the
  // exit code, or -9 when it was killed.
  int run_and_kill(const QStringList& args, int kill_after_ms) {
    QProcess p;
    p.setProcessEnvironment(env());
    p.setProcessChannelMode(QProcess::MergedChannels);
    p.start(qatwb::test::qatwb_bin(), args);
    if (!p.waitForStarted(30000)) return -100;
    if (p.waitForFinished(kill_after_ms)) return p.exitCode();
    ::kill(static_cast<pid_t>(p.processId()), SIGKILL);
    p.waitForFinished(30000);
    return -9;
  }

  int run(const QStringList& args, QByteArray* out = nullptr) {
    QProcess p;
    p.setProcessEnvironment(env());
    p.setProcessChannelMode(QProcess::MergedChannels);
    p.start(qatwb::test::qatwb_bin(), args);
    if (!p.waitForFinished(300000)) return -100;
    if (out) *out = p.readAll();
    return p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
  }

 private Q_SLOTS:
  void initTestCase() {
    QVERIFY(dir_.isValid());
    const QString corpus = dir_.filePath("corpus.jsonl");
    qatwb::test::write_brown_corpus(corpus, {"ca01", "ca02"});
    // Small steps (batch 2 x 32 tokens), a checkpoint every 2, evaluation every 3.
    project_ =
        qatwb::test::write_micro_project(dir_.path(), "fault", corpus, "  checkpoint_every: 2\n");
    qatwb::test::replace_in_file(project_, "  steps: 8\n", QString("  steps: %1\n").arg(kSteps));
    qatwb::test::replace_in_file(project_, "  batch_size: 4\n", "  batch_size: 2\n");
    qatwb::test::replace_in_file(project_, "eval: {max_windows: 8}",
                                 "eval: {max_windows: 2, every: 3}");
    db_ = dir_.filePath("runs/qatwb.sqlite");
    cache_ = dir_.filePath("cache");
  }

  void killed_runs_resume_to_one_row_per_step() {
    QElapsedTimer clock;
    clock.start();
    const QString reference = dir_.filePath("runs/reference");
    QByteArray log;
    QCOMPARE(run({"run", project_, "--run-dir", reference, "--no-db"}, &log), 0);
    // Twice more, now that the token cache exists, as a trial runs (with a store): the shorter
    // is the time a trial's run takes (another test sharing the cores slows one of them).
    int full_ms = 0;
    for (int k = 0; k < 2; ++k) {
      clock.restart();
      QCOMPARE(run({"run", project_, "--run-dir", dir_.filePath(QString("runs/timing-%1").arg(k)),
                    "--db", dir_.filePath("timing.sqlite")}),
               0);
      const int ms = static_cast<int>(clock.elapsed());
      full_ms = k == 0 ? ms : std::min(full_ms, ms);
    }
    const auto ref_loss = qatwb::test::run_metric(reference, "loss");
    const auto ref_final = final_values(reference);
    QCOMPARE(ref_loss.size(), size_t{kSteps});
    QVERIFY(!ref_final.empty());

    QRandomGenerator rng(1515);  // reproducible kill points
    int killed = 0, resumes = 0;
    for (int t = 0; t < kTrials; ++t) {
      const QString run_dir = dir_.filePath(QString("runs/trial-%1").arg(t));
      const int kill_at = 1 + static_cast<int>(rng.bounded(std::max(full_ms, 1)));
      QElapsedTimer trial;
      trial.start();
      const int rc = run_and_kill({"run", project_, "--run-dir", run_dir, "--db", db_}, kill_at);
      if (rc == -9) ++killed;
      // A trial that ran to its end was faster than the timing runs (another test shared the
      // cores then): later kill points follow the time a run really takes now.
      if (rc == 0) full_ms = std::min(full_ms, static_cast<int>(trial.elapsed()));
      int final_rc = rc;
      for (int attempt = 0; final_rc != 0 && attempt < 3; ++attempt) {
        // Killed before config.yaml was written: nothing to resume, start it again.
        const QStringList args =
            QFile::exists(run_dir + "/config.yaml")
                ? QStringList{"run", "--resume", run_dir, "--db", db_}
                : QStringList{"run", project_, "--run-dir", run_dir, "--db", db_};
        QByteArray out;
        final_rc = run(args, &out);
        ++resumes;
        if (final_rc != 0) qWarning("trial %d: rc %d: %s", t, final_rc, out.constData());
      }
      QVERIFY2(final_rc == 0, qPrintable(QString("trial %1 (kill at %2 ms)").arg(t).arg(kill_at)));
      int bad = -1;
      const auto rows = qatwb::test::metric_rows_per_step(run_dir, "loss", &bad);
      QCOMPARE(bad, 0);
      QCOMPARE(rows.size(), size_t{kSteps});
      for (const auto& [step, n] : rows)
        QVERIFY2(n == 1,
                 qPrintable(QString("trial %1: step %2 has %3 rows").arg(t).arg(step).arg(n)));
      QCOMPARE(qatwb::test::store_metric_event_rows(db_, run_dir, "loss"), rows);
      {
        // The store's values are the uninterrupted run's, not a cut attempt's.
        auto store = qatwb::store::Store::open_existing(db_.toStdString());
        std::map<int64_t, double> stored;
        for (const auto& [step, v] : store.points(store.find_run(run_dir.toStdString()), "loss"))
          stored[step] = v;
        QCOMPARE(stored, ref_loss);
      }
      QCOMPARE(qatwb::test::run_metric(run_dir, "loss"), ref_loss);
      QCOMPARE(final_values(run_dir), ref_final);
      QCOMPARE(qatwb::test::run_events_of_type(run_dir, "end").back().value("status", ""),
               std::string("finished"));
    }
    qInfo("%d of %d trials killed mid-run, %d resumes, run %d ms", killed, kTrials, resumes,
          full_ms);
    QVERIFY(killed >= kTrials / 2);
  }
};

QTEST_GUILESS_MAIN(TestFaultInjection)
#include "tst_fault_injection.moc"
