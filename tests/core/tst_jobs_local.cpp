// The local launcher end to end: the built qatwb CLI starts the fake trainer as a detached job,
// every later CLI invocation re-attaches through the registry, and the state machine is driven
// by real processes and signals: succeed, crash, abort, cancel (SIGTERM), cancel of a worker that
// ignores SIGTERM (SIGKILL after the grace period), kill -9 -> lost -> resume -> succeeded with
// complete, non-duplicated metrics in the store.
#include <signal.h>

#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QTemporaryDir>
#include <QtTest>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/store/store.h"
#include "tests/common/micro_project.h"
#include "tests/common/test_env.h"

using nlohmann::json;
using qatwb::test::run_qatwb;

class TestJobsLocal : public QObject {
  Q_OBJECT

  QTemporaryDir dir_;
  QString db_, project_, fake_;

  QStringList jobs(const QStringList& args) const {
    return QStringList{"jobs", "--db", db_, "--runs-root", dir_.filePath("runs")} + args;
  }
  QString worker(const QString& options) const { return fake_ + " " + options; }

  // Submits and returns the job id.
  int64_t submit(const QString& worker_options) {
    auto r = run_qatwb(jobs({"submit", project_, "--worker-cmd", worker(worker_options), "--json"}),
                       {}, 60000);
    if (r.exit_code != 0) qWarning("submit failed: %s", r.err.constData());
    json j = json::parse(r.out.toStdString(), nullptr, false);
    if (!j.is_object()) return -1;
    return j.value("id", int64_t{-1});
  }
  json show(int64_t id) {
    auto r = run_qatwb(jobs({"show", QString::number(id), "--json"}), {}, 60000);
    json j = json::parse(r.out.toStdString(), nullptr, false);
    return j.is_object() ? j : json::object();
  }
  json wait(int64_t id, int* exit_code = nullptr) {
    auto r = run_qatwb(jobs({"wait", QString::number(id), "--timeout", "60", "--json"}), {}, 90000);
    if (exit_code) *exit_code = r.exit_code;
    json j = json::parse(r.out.toStdString(), nullptr, false);
    return j.is_object() ? j : json::object();
  }
  // Polls (through the CLI) until the job has reached `step`.
  bool wait_for_step(int64_t id, int64_t step) {
    QElapsedTimer t;
    t.start();
    while (t.elapsed() < 30000) {
      json j = show(id);
      if (j.value("last_step", int64_t{-1}) >= step) return true;
      if (j.value("state", std::string()) != "running" &&
          j.value("state", std::string()) != "starting") {
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }
  // Exists and is not a zombie (init here may be slow to reap).
  static bool running(int64_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    size_t paren = text.rfind(')');
    return paren != std::string::npos && paren + 2 < text.size() && text[paren + 2] != 'Z';
  }
  std::vector<std::pair<int64_t, double>> loss_points(const std::string& run_dir) {
    auto store = qatwb::store::Store::open(db_.toStdString());
    return store.points(store.find_run(run_dir), "loss");
  }

 private Q_SLOTS:
  void initTestCase() {
    QVERIFY(dir_.isValid());
    db_ = dir_.filePath("runs/qatwb.sqlite");
    project_ = dir_.filePath("tiny project.yaml");
    QFile f(project_);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write("name: tiny-jobs\ntrain:\n  steps: 8\n");
    f.close();
    fake_ = qEnvironmentVariable("QATWB_FAKE_TRAINER");
    QVERIFY2(QFile::exists(fake_), "QATWB_FAKE_TRAINER not built");
  }

  void succeeds_and_survives_the_cli() {
    int64_t id = submit("--steps 8 --delay-ms 30 --checkpoint-every 4 --garbage");
    QVERIFY(id > 0);
    // The submitting CLI has exited; a new one re-attaches and follows the job to its end.
    int rc = -1;
    json j = wait(id, &rc);
    QCOMPARE(j.value("state", std::string()), std::string("succeeded"));
    QCOMPARE(rc, 0);
    QCOMPARE(j.value("last_step", int64_t{0}), int64_t{8});  // steps done
    const std::string run_dir = j.value("run_dir", std::string());
    QVERIFY(QFile::exists(QString::fromStdString(run_dir + "/checkpoints/step-00000008")));
    auto points = loss_points(run_dir);
    QCOMPARE(points.size(), size_t{8});
    for (size_t i = 0; i < points.size(); ++i) {
      QCOMPARE(points[i].first, int64_t(i));
      QCOMPARE(points[i].second, 10.0 / double(i + 1));
    }
    auto logs = run_qatwb(jobs({"logs", QString::number(id)}));
    QCOMPARE(logs.exit_code, 0);
    QVERIFY(logs.out.contains("step 8 loss"));
    // The worker ingests into the same database as the jobs table.
    QVERIFY(logs.out.contains("QATWB_DB=" + QDir::cleanPath(db_).toUtf8() + "\n"));
    auto list = run_qatwb(jobs({"list"}));
    QCOMPARE(list.exit_code, 0);
    QVERIFY(list.out.contains("succeeded"));
  }

  void crash_is_failed_with_exit_code() {
    int64_t id = submit("--steps 8 --delay-ms 10 --crash-at 3 --exit-code 3 --garbage");
    QVERIFY(id > 0);
    int rc = -1;
    json j = wait(id, &rc);
    QCOMPARE(j.value("state", std::string()), std::string("failed"));
    QVERIFY(rc != 0);
    QCOMPARE(j.value("exit_code", 0), 3);
    QVERIFY(j.value("reason", std::string()).find("code 3") != std::string::npos);
    QCOMPARE(loss_points(j.value("run_dir", std::string())).size(), size_t{3});
  }

  void abort_is_failed_with_signal() {
    int64_t id = submit("--steps 8 --delay-ms 10 --abort-at 2");
    // logs --follow prints the log as it grows and returns once the job has ended.
    auto logs = run_qatwb(jobs({"logs", QString::number(id), "--follow"}), {}, 90000);
    QCOMPARE(logs.exit_code, 0);
    QVERIFY(logs.out.contains("step 2 loss"));
    QVERIFY2(logs.err.contains(": failed"), logs.err.constData());
    json j = show(id);
    QCOMPARE(j.value("state", std::string()), std::string("failed"));
    QVERIFY2(j.value("reason", std::string()).find("SIGABRT") != std::string::npos,
             j.dump().c_str());
  }

  void failed_end_event_is_failed() {
    int64_t id = submit("--steps 8 --delay-ms 10 --fail-at 2");
    json j = wait(id);
    QCOMPARE(j.value("state", std::string()), std::string("failed"));
    QVERIFY(j.value("reason", std::string()).find("scripted failure") != std::string::npos);
  }

  void cancel_sends_sigterm_and_the_worker_checkpoints() {
    int64_t id = submit("--steps 100 --delay-ms 20 --hang-at 3");
    QVERIFY(wait_for_step(id, 3));
    QElapsedTimer t;
    t.start();
    auto r = run_qatwb(jobs({"cancel", QString::number(id), "--grace", "20", "--json"}), {}, 90000);
    QCOMPARE(r.exit_code, 0);
    QVERIFY2(t.elapsed() < 15000, "cancel waited for the grace period");
    json j = json::parse(r.out.toStdString(), nullptr, false);
    QCOMPARE(j.value("state", std::string()), std::string("cancelled"));
    QCOMPARE(j.value("end_status", std::string()), std::string("stopped"));
    QCOMPARE(j.value("exit_code", 0), 130);
    QVERIFY(!j.value("kill_sent", true));
    QVERIFY(QFile::exists(
        QString::fromStdString(j.value("run_dir", std::string()) + "/checkpoints/step-00000003")));
  }

  void cancel_escalates_to_sigkill_after_grace() {
    int64_t id = submit("--steps 100 --delay-ms 20 --hang-at 2 --ignore-sigterm");
    QVERIFY(wait_for_step(id, 2));
    QElapsedTimer t;
    t.start();
    auto r =
        run_qatwb(jobs({"cancel", QString::number(id), "--grace", "1.5", "--json"}), {}, 90000);
    QCOMPARE(r.exit_code, 0);
    QVERIFY(t.elapsed() >= 1400);
    json j = json::parse(r.out.toStdString(), nullptr, false);
    QCOMPARE(j.value("state", std::string()), std::string("cancelled"));
    QVERIFY(j.value("kill_sent", false));
    QVERIFY(j.value("end_status", std::string("x")).empty());
    const int64_t pid = j.value("pid", int64_t{0});
    QVERIFY(pid > 0);
    QVERIFY(!running(pid));  // wrapper and worker are gone (zombies at most)
    std::ifstream wp(j.value("run_dir", std::string()) + "/.job/worker_pid");
    int64_t worker_pid = 0;
    wp >> worker_pid;
    QVERIFY(worker_pid > 0);
    QVERIFY(!running(worker_pid));
  }

  void kill9_is_lost_and_resume_completes_without_duplicates() {
    // The worker hangs at a scripted step, so the kills land at a known step however slow the
    // machine is; each resume replaces the worker command to move (or drop) the hang.
    const QString base = "--steps 40 --delay-ms 10 --checkpoint-every 5";
    int64_t id = submit(base + " --hang-at 12");
    QVERIFY(wait_for_step(id, 12));
    json j = show(id);
    const std::string run_dir = j.value("run_dir", std::string());
    // kill -9 of the worker itself: the wrapper records 137 -> lost.
    std::ifstream wp(run_dir + "/.job/worker_pid");
    int64_t worker_pid = 0;
    wp >> worker_pid;
    QVERIFY(worker_pid > 0);
    QCOMPARE(kill(static_cast<pid_t>(worker_pid), SIGKILL), 0);
    j = wait(id);
    QCOMPARE(j.value("state", std::string()), std::string("lost"));
    QVERIFY(j.value("reason", std::string()).find("SIGKILL") != std::string::npos);

    auto r = run_qatwb(
        jobs({"resume", QString::number(id), "--worker-cmd", worker(base + " --hang-at 27")}), {},
        60000);
    QCOMPARE(r.exit_code, 0);
    QVERIFY(wait_for_step(id, 27));
    // kill -9 of the whole process group (wrapper included): no exit status at all -> lost.
    j = show(id);
    QCOMPARE(kill(static_cast<pid_t>(-j.value("pid", int64_t{0})), SIGKILL), 0);
    j = wait(id);
    QCOMPARE(j.value("state", std::string()), std::string("lost"));
    QCOMPARE(j.value("attempts", 0), 2);

    r = run_qatwb(jobs({"resume", QString::number(id), "--worker-cmd", worker(base), "--wait",
                        "--timeout", "60"}),
                  {}, 90000);
    QCOMPARE(r.exit_code, 0);
    j = show(id);
    QCOMPARE(j.value("state", std::string()), std::string("succeeded"));
    QCOMPARE(j.value("attempts", 0), 3);

    // Steps after the last checkpoint were logged twice; the store holds each exactly once.
    auto points = loss_points(run_dir);
    QCOMPARE(points.size(), size_t{40});
    for (size_t i = 0; i < points.size(); ++i) {
      QCOMPARE(points[i].first, int64_t(i));
      QCOMPARE(points[i].second, 10.0 / double(i + 1));
    }
    // A succeeded job cannot be resumed.
    QVERIFY(run_qatwb(jobs({"resume", QString::number(id)})).exit_code != 0);
  }

  void project_runner_picks_the_launcher() {
    // Without --launcher the project's runner section decides (what the GUI wizard writes).
    const QString corpus = dir_.filePath("corpus.jsonl");
    qatwb::test::write_brown_corpus(corpus, {"ca01"});
    const QString slurm_login = qatwb::test::write_micro_project(
        dir_.path(), "runner-slurm", corpus, {}, "runner: {kind: slurm, host: login1}\n");
    auto r = run_qatwb(jobs({"submit", slurm_login}));
    QVERIFY(r.exit_code != 0);
    QVERIFY2(r.err.contains("runner.host") && r.err.contains("login node"), r.err.constData());
    const QString ssh = qatwb::test::write_micro_project(dir_.path(), "runner-ssh", corpus, {},
                                                         "runner: {kind: ssh, host: nohost}\n");
    r = run_qatwb(jobs({"submit", ssh, "--hosts", dir_.filePath("hosts.yaml")}));
    QVERIFY(r.exit_code != 0);
    QVERIFY2(r.err.contains("hosts.yaml"), r.err.constData());
    const QString local = qatwb::test::write_micro_project(dir_.path(), "runner-local", corpus);
    r = run_qatwb(
        jobs({"submit", local, "--worker-cmd", worker("--steps 2 --delay-ms 1"), "--json"}));
    QCOMPARE(r.exit_code, 0);
    QCOMPARE(QString::fromStdString(json::parse(r.out.toStdString()).value("launcher", "")),
             QString("local"));
  }

  void relative_runs_root_with_the_real_worker() {
    // Issue #15: with a relative --runs-root the run dir was relative, the worker (started in
    // it) nested it a second time and the job's exit file was looked for elsewhere: `lost`.
    QTemporaryDir cwd;
    const QString corpus = cwd.filePath("corpus.jsonl");
    qatwb::test::write_brown_corpus(corpus, {"ca01", "ca02"});
    const QString p = qatwb::test::write_micro_project(cwd.path(), "rel-root", corpus);
    const auto r = qatwb::test::run_process(
        qatwb::test::qatwb_bin(),
        {"jobs", "--db", "rel/qatwb.sqlite", "--runs-root", "rel", "--json", "submit", p,
         "--launcher", "local", "--wait", "--timeout", "300"},
        {}, 400000, cwd.path());
    QVERIFY2(r.exit_code == 0, (r.out + r.err).constData());
    const json j = json::parse(r.out.toStdString());
    QCOMPARE(j.value("state", std::string()), std::string("succeeded"));
    const QString run_dir = QString::fromStdString(j.value("run_dir", std::string()));
    QVERIFY2(run_dir.startsWith(QDir(cwd.filePath("rel/rel-root")).absolutePath() + "/"),
             qPrintable(run_dir));
    QVERIFY(QFile::exists(run_dir + "/model/config.json"));
    QVERIFY(!QDir(run_dir + "/rel").exists());  // not resolved a second time inside it
  }

  void unvalidated_projects_are_not_submitted() {
    // Issue #15: a project that would fail was launched and the error surfaced only in the log.
    const QString corpus = dir_.filePath("corpus-v.jsonl");
    qatwb::test::write_brown_corpus(corpus, {"ca01"});
    const QString p =
        qatwb::test::write_micro_project(dir_.path(), "invalid-job", corpus, "  bogus_key: 1\n");
    auto before = json::parse(run_qatwb(jobs({"list", "--json"})).out.toStdString());
    auto r = run_qatwb(jobs({"submit", p, "--launcher", "local"}));
    QVERIFY(r.exit_code != 0);
    QVERIFY2(r.err.contains(p.toUtf8() + ":"), r.err.constData());
    QVERIFY2(r.err.contains("not submitted"), r.err.constData());
    // A path the local worker would not find is refused as well, naming the field.
    const QString missing = qatwb::test::write_micro_project(dir_.path(), "missing-corpus",
                                                             dir_.filePath("nope.jsonl"));
    r = run_qatwb(jobs({"submit", missing, "--launcher", "local"}));
    QVERIFY(r.exit_code != 0);
    QVERIFY2(r.err.contains("data.sources[0].path: no such file or folder"), r.err.constData());
    auto after = json::parse(run_qatwb(jobs({"list", "--json"})).out.toStdString());
    QCOMPARE(after.size(), before.size());  // no job was registered
  }

  void bad_input_is_a_clear_error() {
    auto r = run_qatwb(jobs({"submit", project_, "--launcher", "bogus"}));
    QVERIFY(r.exit_code != 0);
    QVERIFY(r.err.contains("--launcher"));
    r = run_qatwb(jobs({"submit", dir_.filePath("missing.yaml")}));
    QVERIFY(r.exit_code != 0);
    QVERIFY(r.err.contains("missing.yaml"));
    QString broken = dir_.filePath("broken.yaml");
    QFile f(broken);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write("name: x\ntrain: [1, 2\n  steps: 3\n");
    f.close();
    r = run_qatwb(jobs({"submit", broken}));
    QVERIFY(r.exit_code != 0);
    QVERIFY2(r.err.contains("broken.yaml:"), r.err.constData());
    r = run_qatwb(jobs({"submit", project_, "--worker-cmd", "/nonexistent/worker"}));
    QVERIFY(r.exit_code != 0);
    r = run_qatwb(jobs({"show", "4242"}));
    QVERIFY(r.exit_code != 0);
    QVERIFY(r.err.contains("no job 4242"));
  }
};

QTEST_GUILESS_MAIN(TestJobsLocal)
#include "tst_jobs_local.moc"
