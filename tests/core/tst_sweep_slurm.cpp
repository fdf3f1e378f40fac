// Sweeps on Slurm as one job array: the array script (one case per task, --array=0-(n-1)%M), and
// live, on a throw-away single-node Slurm (tests/scripts/start_slurm.sh; skipped without Slurm):
// `qatwb batch` with `slurm: {array: true}` submits one sbatch, every point becomes its own job
// (slurm id <array>_<i>) and succeeds, and the report table holds all of them.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <QThread>
#include <QtTest>

#include <memory>
#include <nlohmann/json.hpp>

#include "core/jobs/job_registry.h"
#include "core/jobs/slurm_script.h"
#include "core/sweep/sweep_state.h"
#include "core/util/error.h"
#include "tests/common/daemons.h"
#include "tests/common/test_env.h"

using nlohmann::json;
using qatwb::test::run_qatwb;

namespace {}  // namespace

class TestSweepSlurm : public QObject {
  Q_OBJECT

  QTemporaryDir dir_;
  std::unique_ptr<qatwb::test::LocalSlurm> slurm_;

 private Q_SLOTS:
  void initTestCase() {
    QVERIFY(dir_.isValid());
    slurm_ = std::make_unique<qatwb::test::LocalSlurm>(dir_.filePath("slurm"));
    if (!slurm_->running()) qWarning("live Slurm test skipped: %s", qPrintable(slurm_->why()));
  }

  void cleanupTestCase() { slurm_.reset(); }

  void array_script_has_one_case_per_task() {
    qatwb::jobs::SlurmOptions opts;
    opts.job_name = "sweep";
    opts.time = "5";
    std::vector<qatwb::jobs::SlurmArrayTask> tasks = {
        {{"/bin/w", "a.yaml", "--run-dir", "/r/a"}, "/r/a", "/r/a/worker.log"},
        {{"/bin/w", "b c.yaml", "--run-dir", "/r/b"}, "/r/b", "/r/b/worker.log"}};
    std::string s = qatwb::jobs::make_sbatch_array_script(opts, tasks, 1);
    QVERIFY(s.find("#SBATCH --array=0-1%1\n") != std::string::npos);
    QVERIFY(s.find("#SBATCH --job-name=sweep\n") != std::string::npos);
    QVERIFY(s.find("case \"$SLURM_ARRAY_TASK_ID\" in") != std::string::npos);
    QVERIFY(s.find("  1)\n    cd /r/b || exit 1\n    exec >>/r/b/worker.log 2>&1\n") !=
            std::string::npos);
    QVERIFY(s.find("qatwb-worker /bin/w 'b c.yaml' --run-dir /r/b") != std::string::npos);
    QVERIFY(qatwb::jobs::make_sbatch_array_script(opts, tasks, 0).find("--array=0-1\n") !=
            std::string::npos);
    const std::vector<qatwb::jobs::SlurmArrayTask> none;
    QVERIFY_THROWS_EXCEPTION(qatwb::Error, qatwb::jobs::make_sbatch_array_script(opts, none, 0));
  }

  void live_sweep_as_one_array() {
    if (!slurm_ || !slurm_->running()) QSKIP("no live Slurm here (see initTestCase)");
    const QString fake = qEnvironmentVariable("QATWB_FAKE_TRAINER");
    QVERIFY(QFile::exists(fake));
    const QString sweep = dir_.filePath("array.yaml");
    QFile f(sweep);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(("name: arr\nbase: " + qatwb::test::source_dir() +
             "/projects/tiny-brown/w2-ste.yaml\nset: {train.steps: 5}\n"
             "grid: {quant.bits: [2, 3, 4]}\nlauncher: slurm\nconcurrency: 2\n"
             "slurm: {array: true, time: '5'}\n")
                .toUtf8());
    f.close();
    const QString db = dir_.filePath("db/qatwb.sqlite");
    auto r = run_qatwb({"batch", sweep, "--db", db, "--json", "--poll", "0.2", "--worker-cmd",
                        fake + " --delay-ms 20"},
                       {}, 240000);
    QVERIFY2(r.exit_code == 0, r.err.constData());
    json j = json::parse(r.out.toStdString(), nullptr, false);
    QCOMPARE(j.value("succeeded", -1), 3);

    qatwb::jobs::JobRegistry registry(db.toStdString());
    auto jobs = registry.list();
    QCOMPARE(jobs.size(), size_t{3});
    const std::string array = jobs[0].slurm_id.substr(0, jobs[0].slurm_id.find('_'));
    for (size_t i = 0; i < jobs.size(); ++i) {
      QCOMPARE(jobs[i].slurm_id, array + "_" + std::to_string(i));
      QCOMPARE(std::string(qatwb::jobs::to_string(jobs[i].state)), std::string("succeeded"));
    }
    QVERIFY(QFile::exists(dir_.filePath("db/sweeps/arr/runs/bits-3/worker.log")));
    QDir arrays(dir_.filePath("db/sweeps/arr/runs/.slurm-array"));
    QCOMPARE(arrays.entryList({"array-*.sh"}).size(), 1);
    // The report covers every task.
    QFile md(dir_.filePath("db/sweeps/arr/report/report.md"));
    QVERIFY(md.open(QIODevice::ReadOnly));
    QByteArray text = md.readAll();
    for (const char* p : {"| bits-2 |", "| bits-3 |", "| bits-4 |"}) QVERIFY2(text.contains(p), p);
  }
};

QTEST_GUILESS_MAIN(TestSweepSlurm)
#include "tst_sweep_slurm.moc"
