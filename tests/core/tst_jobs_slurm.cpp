// The Slurm launcher: sbatch script generation and the parsers over recorded sbatch / squeue /
// scontrol / sacct outputs, then live runs on a single-node Slurm the test starts itself
// (tests/scripts/start_slurm.sh; skipped when Slurm is not installed): a 2-task job with the c10d
// environment per rank, a crash, and a cancel through scancel --signal=TERM.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <QElapsedTimer>
#include <QFile>
#include <QTemporaryDir>
#include <QThread>
#include <QtTest>

#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/jobs/shell_quote.h"
#include "core/jobs/slurm_script.h"
#include "core/store/store.h"
#include "core/util/error.h"
#include "tests/common/daemons.h"
#include "tests/common/test_env.h"

using namespace qatwb::jobs;
using nlohmann::json;
using qatwb::test::run_qatwb;

namespace {

QMap<QString, QString> read_env_file(const QString& path) {
  QMap<QString, QString> out;
  QFile f(path);
  if (!f.open(QIODevice::ReadOnly)) return out;
  for (const QByteArray& line : f.readAll().split('\n')) {
    int eq = line.indexOf('=');
    if (eq > 0) out[QString::fromUtf8(line.left(eq))] = QString::fromUtf8(line.mid(eq + 1));
  }
  return out;
}

}  // namespace

class TestJobsSlurm : public QObject {
  Q_OBJECT

  QTemporaryDir dir_;
  QString db_, project_, fake_;
  std::unique_ptr<qatwb::test::LocalSlurm> slurm_;

  QStringList jobs(const QStringList& args) const {
    return QStringList{"jobs", "--db", db_, "--runs-root", dir_.filePath("runs")} + args;
  }
  json parse(const QByteArray& out) {
    json j = json::parse(out.toStdString(), nullptr, false);
    return j.is_object() ? j : json::object();
  }
  int64_t submit(const QString& options, const QStringList& extra = {}) {
    auto r = run_qatwb(jobs(QStringList{"submit", project_, "--launcher", "slurm", "--worker-cmd",
                                        fake_ + " " + options, "--json"} +
                            extra),
                       {}, 60000);
    if (r.exit_code != 0) qWarning("submit: %s", r.err.constData());
    return parse(r.out).value("id", int64_t{-1});
  }
  json wait(int64_t id, int* rc = nullptr) {
    auto r =
        run_qatwb(jobs({"wait", QString::number(id), "--timeout", "90", "--json"}), {}, 120000);
    if (rc) *rc = r.exit_code;
    return parse(r.out);
  }
  void require_live() {
    if (!slurm_ || !slurm_->running()) QSKIP("no live Slurm here (see initTestCase)");
  }

 private Q_SLOTS:
  void initTestCase() {
    QVERIFY(dir_.isValid());
    fake_ = qEnvironmentVariable("QATWB_FAKE_TRAINER");
    db_ = dir_.filePath("runs/qatwb.sqlite");
    project_ = dir_.filePath("slurm project.yaml");
    QFile f(project_);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write("name: slurm-jobs\n");
    f.close();
    slurm_ = std::make_unique<qatwb::test::LocalSlurm>(dir_.filePath("slurm"));
    if (!slurm_->running()) qWarning("live Slurm tests skipped: %s", qPrintable(slurm_->why()));
  }

  void cleanupTestCase() { slurm_.reset(); }

  void sbatch_script() {
    SlurmOptions o;
    o.partition = "gpu";
    o.nodes = 2;
    o.tasks_per_node = 4;
    o.gpus_per_node = 4;
    o.cpus_per_task = 8;
    o.time = "02:00:00";
    o.account = "proj1";
    o.job_name = "qatwb-w2";
    o.master_port = 29555;
    o.extra_lines = {"--mem=64G", "--exclusive"};
    std::vector<std::string> worker = {"/opt/q w/qatwb", "run", "p'x$(touch PWNED).yaml",
                                       "--run-dir", "/runs/a b"};
    const std::string s = make_sbatch_script(o, worker);
    for (const char* line :
         {"#!/bin/bash\n", "#SBATCH --job-name=qatwb-w2\n", "#SBATCH --partition=gpu\n",
          "#SBATCH --nodes=2\n", "#SBATCH --ntasks-per-node=4\n", "#SBATCH --gres=gpu:4\n",
          "#SBATCH --cpus-per-task=8\n", "#SBATCH --time=02:00:00\n", "#SBATCH --account=proj1\n",
          "#SBATCH --mem=64G\n", "#SBATCH --exclusive\n",
          "scontrol show hostnames \"$SLURM_JOB_NODELIST\" | head -n 1",
          "export MASTER_PORT=29555\n", "RANK=$SLURM_PROCID", "WORLD_SIZE=$SLURM_NTASKS",
          "LOCAL_RANK=$SLURM_LOCALID", "srun "}) {
      QVERIFY2(s.find(line) != std::string::npos, line);
    }
    QVERIFY(s.find(shell_join(worker)) != std::string::npos);
    // The #SBATCH block ends before the first command (sbatch stops reading at a command).
    QVERIFY(s.rfind("#SBATCH") < s.find("MASTER_ADDR="));
    o.extra_lines = {"--mem=1G\nrm -rf /"};
    QVERIFY_THROWS_EXCEPTION(qatwb::Error, make_sbatch_script(o, worker));
    o.extra_lines.clear();
    o.nodes = 0;
    QVERIFY_THROWS_EXCEPTION(qatwb::Error, make_sbatch_script(o, worker));
  }

  void script_runs_the_worker_verbatim_in_bash() {
    // Emulate srun with a plain bash: the per-task env and the quoted argv arrive intact.
    QTemporaryDir tmp;
    SlurmOptions o;
    std::vector<std::string> worker = {"printf", "[%s]", "a b", "p'x$(touch PWNED)", "$RANK"};
    std::string script = make_sbatch_script(o, worker);
    const QString path = tmp.filePath("job.sh");
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly));
    // Stand-ins for scontrol and srun (srun runs its arguments with SLURM_* set).
    f.write(
        "scontrol() { echo node7; echo node8; }\n"
        "srun() { while [ \"${1#--}\" != \"$1\" ]; do shift; done; "
        "SLURM_PROCID=3 SLURM_NTASKS=8 SLURM_LOCALID=1 \"$@\"; }\n");
    f.write(QByteArray::fromStdString(script));
    f.close();
    auto r = qatwb::test::run_process("bash", {path}, {}, 20000, tmp.path());
    QCOMPARE(r.exit_code, 0);
    QVERIFY2(r.out.endsWith("[a b][p'x$(touch PWNED)][$RANK]"), r.out.constData());
    QVERIFY(r.out.contains("master node7:29500"));
    QVERIFY(!QFile::exists(tmp.filePath("PWNED")));
  }

  void parsers_on_recorded_outputs() {
    QCOMPARE(parse_sbatch_output("1234\n"), std::string("1234"));
    QCOMPARE(parse_sbatch_output("77;cluster2\n"), std::string("77"));
    QCOMPARE(parse_sbatch_output("sbatch: warning: x\n88\n"), std::string("88"));
    QVERIFY_THROWS_EXCEPTION(qatwb::Error, parse_sbatch_output("Submitted batch job 5\n"));
    QVERIFY_THROWS_EXCEPTION(qatwb::Error, parse_sbatch_output(""));

    auto q = parse_squeue("PENDING|Resources\n");
    QVERIFY(q);
    QCOMPARE(q->state, std::string("PENDING"));
    QCOMPARE(q->reason, std::string("Resources"));
    QVERIFY(!parse_squeue(""));

    auto s = parse_scontrol(
        "JobId=12 JobName=qatwb-x UserId=root(0) GroupId=root(0) MCS_label=N/A Priority=1 "
        "Nice=0 Account=(null) QOS=(null) JobState=FAILED Reason=NonZeroExitCode "
        "Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=3:0 "
        "RunTime=00:00:01\n");
    QVERIFY(s);
    QCOMPARE(s->state, std::string("FAILED"));
    QCOMPARE(s->reason, std::string("NonZeroExitCode"));
    QCOMPARE(s->exit_code.value_or(-1), 3);
    s = parse_scontrol("JobId=13 JobState=CANCELLED Reason=None ExitCode=0:15\n");
    QCOMPARE(s->exit_code.value_or(-1), 128 + 15);
    QVERIFY(s->reason.empty());
    QVERIFY(!parse_scontrol("slurm_load_jobs error: Invalid job id specified\n"));

    auto a = parse_sacct("12|FAILED|3:0\n12.batch|FAILED|3:0\n12.0|FAILED|3:0\n", "12");
    QVERIFY(a);
    QCOMPARE(a->state, std::string("FAILED"));
    QCOMPARE(a->exit_code.value_or(-1), 3);
    a = parse_sacct("13.batch|CANCELLED|0:15\n13|CANCELLED by 0|0:15\n", "13");
    QCOMPARE(a->state, std::string("CANCELLED"));
    QCOMPARE(a->reason, std::string("by 0"));
    QVERIFY(!parse_sacct("14|COMPLETED|0:0\n", "1"));

    QCOMPARE(slurm_group("PENDING"), SlurmGroup::Queued);
    QCOMPARE(slurm_group("CONFIGURING"), SlurmGroup::Queued);
    QCOMPARE(slurm_group("RUNNING"), SlurmGroup::Running);
    QCOMPARE(slurm_group("COMPLETING"), SlurmGroup::Running);
    QCOMPARE(slurm_group("COMPLETED"), SlurmGroup::Completed);
    QCOMPARE(slurm_group("CANCELLED"), SlurmGroup::Cancelled);
    QCOMPARE(slurm_group("TIMEOUT"), SlurmGroup::Failed);
    QCOMPARE(slurm_group("OUT_OF_MEMORY"), SlurmGroup::Failed);
    QCOMPARE(slurm_group("NODE_FAIL"), SlurmGroup::Failed);
  }

  void live_two_tasks_with_c10d_env() {
    require_live();
    int64_t id = submit("--steps 6 --delay-ms 50",
                        {"--tasks-per-node", "2", "--master-port", "29555", "--time", "5"});
    QVERIFY(id > 0);
    int rc = -1;
    json j = wait(id, &rc);
    QVERIFY2(j.value("state", std::string()) == "succeeded", j.dump().c_str());
    QCOMPARE(rc, 0);
    QVERIFY(!j.value("slurm_id", std::string()).empty());
    const QString run = QString::fromStdString(j.value("run_dir", std::string()));
    auto e0 = read_env_file(run + "/rank-0.env");
    auto e1 = read_env_file(run + "/rank-1.env");
    QCOMPARE(e0["RANK"], QString("0"));
    QCOMPARE(e1["RANK"], QString("1"));
    QCOMPARE(e0["WORLD_SIZE"], QString("2"));
    QCOMPARE(e1["WORLD_SIZE"], QString("2"));
    QCOMPARE(e0["LOCAL_RANK"], QString("0"));
    QCOMPARE(e1["LOCAL_RANK"], QString("1"));
    QCOMPARE(e0["MASTER_PORT"], QString("29555"));
    auto host = qatwb::test::run_process("hostname", {"-s"});
    QCOMPARE(e0["MASTER_ADDR"], QString::fromUtf8(host.out.trimmed()));
    QCOMPARE(e1["MASTER_ADDR"], e0["MASTER_ADDR"]);
    auto store = qatwb::store::Store::open(db_.toStdString());
    QCOMPARE(store.points(store.find_run(run.toStdString()), "loss").size(), size_t{6});
    auto logs = run_qatwb(jobs({"logs", QString::number(id)}));
    QVERIFY(logs.out.contains("qatwb: slurm job"));
    QVERIFY(logs.out.contains("step 6 loss"));
  }

  void live_crash_is_failed() {
    require_live();
    int64_t id = submit("--steps 6 --delay-ms 10 --crash-at 2 --exit-code 5");
    json j = wait(id);
    QVERIFY2(j.value("state", std::string()) == "failed", j.dump().c_str());
    QCOMPARE(j.value("exit_code", 0), 5);
  }

  void live_cancel_is_cancelled() {
    require_live();
    int64_t id = submit("--steps 100 --delay-ms 20 --hang-at 2");
    QElapsedTimer t;
    t.start();
    json j;
    while (t.elapsed() < 30000) {
      j = parse(run_qatwb(jobs({"show", QString::number(id), "--json"})).out);
      if (j.value("last_step", int64_t{-1}) >= 2) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    QVERIFY2(j.value("last_step", int64_t{-1}) >= 2, j.dump().c_str());
    auto r = run_qatwb(jobs({"cancel", QString::number(id), "--grace", "20", "--json"}), {}, 90000);
    QCOMPARE(r.exit_code, 0);
    j = parse(r.out);
    QVERIFY2(j.value("state", std::string()) == "cancelled", j.dump().c_str());
    QCOMPARE(j.value("end_status", std::string()), std::string("stopped"));
  }
};

QTEST_GUILESS_MAIN(TestJobsSlurm)
#include "tst_jobs_slurm.moc"
