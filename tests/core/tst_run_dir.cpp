// core/run/run_dir.h and SweepDir (core/sweep/sweep_state.h): the one place that knows where
// each file of a run directory and of a sweep's output folder is. Expected paths are literals,
// so a change of the layout shows here (and in the README) rather than in a launcher.
#include <QTemporaryDir>
#include <QtTest>

#include "core/jobs/worker_wrapper.h"
#include "core/run/run_dir.h"
#include "core/sweep/sweep_state.h"

using qatwb::run::RunDir;

class TestRunDir : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void files_of_a_run() {
    const RunDir d("/r/p/20250101-120000/");  // a trailing slash is dropped
    QCOMPARE(d.path(), std::string("/r/p/20250101-120000"));
    QCOMPARE(d.name(), std::string("20250101-120000"));
    QCOMPARE(d.config_path(), std::string("/r/p/20250101-120000/config.yaml"));
    QCOMPARE(d.events_path(), std::string("/r/p/20250101-120000/events.jsonl"));
    QCOMPARE(d.log_path(), std::string("/r/p/20250101-120000/worker.log"));
    QCOMPARE(d.lock_path(), std::string("/r/p/20250101-120000/.lock"));
    QCOMPARE(d.data_dir(), std::string("/r/p/20250101-120000/data"));
    QCOMPARE(d.checkpoints_dir(), std::string("/r/p/20250101-120000/checkpoints"));
    QCOMPARE(d.checkpoint_path(100), std::string("/r/p/20250101-120000/checkpoints/step-00000100"));
    QCOMPARE(d.model_dir(), std::string("/r/p/20250101-120000/model"));
    QCOMPARE(d.exports_dir(), std::string("/r/p/20250101-120000/exports"));
    QCOMPARE(d.export_dir("gptq"), std::string("/r/p/20250101-120000/exports/gptq"));
    QCOMPARE(d.gguf_export_path(), std::string("/r/p/20250101-120000/exports/model.gguf"));
    QCOMPARE(d.default_cache_dir(), std::string("/r/p/.cache"));
  }

  void job_state_files() {
    const RunDir d("/r/p/x");
    QCOMPARE(d.job_dir(), std::string("/r/p/x/.job"));
    QCOMPARE(d.job_pid_path(), std::string("/r/p/x/.job/pid"));
    QCOMPARE(d.job_exit_path(), std::string("/r/p/x/.job/exit"));
    QCOMPARE(d.sbatch_script_path(2), std::string("/r/p/x/.job/sbatch-2.sh"));
    QCOMPARE(std::string(RunDir::kEventsFile), std::string("events.jsonl"));
    QCOMPARE(std::string(RunDir::kLogFile), std::string("worker.log"));
    QCOMPARE(std::string(RunDir::kJobDir), std::string(".job"));
  }

  void wrapper_writes_the_job_files() {
    // The wrapper script (core/jobs/worker_wrapper.h) writes pid, worker_pid and exit where
    // RunDir says they are.
    QTemporaryDir tmp;
    const RunDir d(tmp.path().toStdString());
    const auto argv = qatwb::jobs::wrap_worker(d.job_dir(), {"sh", "-c", "exit 7"});
    QStringList args;
    for (size_t i = 1; i < argv.size(); ++i) args << QString::fromStdString(argv[i]);
    QProcess p;
    p.start(QString::fromStdString(argv[0]), args);
    QVERIFY(p.waitForFinished(30000));
    QCOMPARE(p.exitCode(), 7);
    auto read = [](const std::string& path) {
      QFile f(QString::fromStdString(path));
      return f.open(QIODevice::ReadOnly) ? f.readAll().trimmed() : QByteArray("(missing)");
    };
    QCOMPARE(read(tmp.path().toStdString() + "/.job/exit"), QByteArray("7"));
    QVERIFY(read(tmp.path().toStdString() + "/.job/pid").toLongLong() > 0);
    QVERIFY(read(tmp.path().toStdString() + "/.job/worker_pid").toLongLong() > 0);
  }

  void checkpoint_files() {
    const std::string ck = "/r/p/x/checkpoints/step-00000040";
    QCOMPARE(qatwb::run::checkpoint_model_dir(ck), ck + "/model");
    QCOMPARE(qatwb::run::checkpoint_trainer_state(ck), ck + "/trainer.json");
    QCOMPARE(qatwb::run::checkpoint_optimizer_file(ck), ck + "/optimizer.pt");
    QCOMPARE(qatwb::run::quantizer_file(ck), ck + "/quantizer.safetensors");
    QCOMPARE(std::string(qatwb::run::kEasgdCentreFile), std::string("easgd_centre.safetensors"));
    QCOMPARE(qatwb::run::rank_checkpoint_path(ck, 0), ck);
    QCOMPARE(qatwb::run::rank_checkpoint_path(ck, 3),
             std::string("/r/p/x/checkpoints/workers/rank-3/step-00000040"));
  }

  void sweep_output() {
    const qatwb::sweep::SweepDir s("/w/sweeps/bits/");
    QCOMPARE(s.path(), std::string("/w/sweeps/bits"));
    QCOMPARE(s.state_path(), std::string("/w/sweeps/bits/sweep.json"));
    QCOMPARE(s.points_dir(), std::string("/w/sweeps/bits/points"));
    QCOMPARE(s.point_project("bits-2"), std::string("/w/sweeps/bits/points/bits-2.yaml"));
    QCOMPARE(s.runs_dir(), std::string("/w/sweeps/bits/runs"));
    QCOMPARE(s.point_run_dir("bits-2"), std::string("/w/sweeps/bits/runs/bits-2"));
    QCOMPARE(s.report_dir(), std::string("/w/sweeps/bits/report"));
    QCOMPARE(qatwb::sweep::SweepDir::default_for("/w/qatwb.sqlite", "bits").path(),
             std::string("/w/sweeps/bits"));
  }
};

QTEST_GUILESS_MAIN(TestRunDir)
#include "tst_run_dir.moc"
