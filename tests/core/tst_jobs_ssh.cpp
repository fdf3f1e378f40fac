// The ssh launcher against a real sshd started by the test (127.0.0.1, free port, keys in a
// temporary folder, key-only, known_hosts checked): bundle copy, detached start, event and log
// mirroring into the local run directory and the store, cancel, kill -9 -> lost -> resume,
// fetching a checkpoint, and a remote work dir named `a b'$(touch PWNED);c` that must never run
// anything. Bad input: connection refused, unknown host, wrong host key, broken hosts YAML.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QTemporaryDir>
#include <QThread>
#include <QtTest>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/jobs/hosts_config.h"
#include "core/store/store.h"
#include "core/util/error.h"
#include "tests/common/daemons.h"
#include "tests/common/test_env.h"

using nlohmann::json;
using qatwb::test::run_qatwb;

namespace {

void write_text(const QString& path, const QByteArray& text) {
  QFile f(path);
  if (!f.open(QIODevice::WriteOnly)) qFatal("cannot write %s", qPrintable(path));
  f.write(text);
}

const char* kEvil = "a b'$(touch PWNED);c";

}  // namespace

class TestJobsSsh : public QObject {
  Q_OBJECT

  QTemporaryDir dir_;
  QString sshd_dir_, hosts_, db_, project_, fake_, remote_root_;
  qint64 sshd_pid_ = 0;
  int port_ = 0;

  QStringList jobs(const QStringList& args) const {
    return QStringList{
               "jobs", "--db", db_, "--hosts", hosts_, "--runs-root", dir_.filePath("local runs")} +
           args;
  }
  json parse(const QByteArray& out) {
    json j = json::parse(out.toStdString(), nullptr, false);
    return j.is_object() ? j : json::object();
  }
  json show(int64_t id) {
    return parse(run_qatwb(jobs({"show", QString::number(id), "--json"}), {}, 60000).out);
  }
  json wait(int64_t id, int* rc = nullptr) {
    auto r = run_qatwb(jobs({"wait", QString::number(id), "--timeout", "60", "--json"}), {}, 90000);
    if (rc) *rc = r.exit_code;
    return parse(r.out);
  }
  int64_t submit(const QString& host, const QString& options, QByteArray* err = nullptr,
                 const QString& project = {}) {
    auto r = run_qatwb(jobs({"submit", project.isEmpty() ? project_ : project, "--launcher",
                             "ssh:" + host, "--worker-cmd", fake_ + " " + options, "--json"}),
                       {}, 120000);
    if (err) *err = r.err;
    if (r.exit_code != 0) return -1;
    return parse(r.out).value("id", int64_t{-1});
  }
  bool wait_for_step(int64_t id, int64_t step) {
    QElapsedTimer t;
    t.start();
    while (t.elapsed() < 40000) {
      json j = show(id);
      if (j.value("last_step", int64_t{-1}) >= step) return true;
      std::string s = j.value("state", std::string());
      if (s != "running" && s != "starting") return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(150));
    }
    return false;
  }
  void verify_nothing_executed() {
    QVERIFY(!QFile::exists(dir_.filePath("PWNED")));
    QVERIFY(!QFile::exists(QDir::homePath() + "/PWNED"));
    QVERIFY(!QFile::exists(remote_root_ + "/PWNED"));
    QVERIFY(!QFile::exists("/PWNED"));
  }

 private Q_SLOTS:
  void initTestCase() {
    QVERIFY(dir_.isValid());
    fake_ = qEnvironmentVariable("QATWB_FAKE_TRAINER");
    QVERIFY2(QFile::exists(fake_), "QATWB_FAKE_TRAINER not built");
    if (QFile::exists(QDir::homePath() + "/PWNED")) QFile::remove(QDir::homePath() + "/PWNED");
    sshd_dir_ = dir_.filePath("sshd");
    port_ = qatwb::test::free_tcp_port();
    QVERIFY(port_ > 0);
    auto r = qatwb::test::run_process("bash",
                                      {qatwb::test::source_dir() + "/tests/scripts/start_sshd.sh",
                                       sshd_dir_, QString::number(port_)},
                                      {}, 60000);
    if (r.exit_code != 0) {
      QSKIP(qPrintable("cannot start sshd here: " + QString::fromUtf8(r.err)));
    }
    sshd_pid_ = r.out.trimmed().toLongLong();
    QVERIFY(sshd_pid_ > 0);

    // The remote work dir (same machine) carries every character that could break quoting.
    remote_root_ = dir_.filePath("remote");
    QDir().mkpath(remote_root_);
    const QString work = remote_root_ + "/" + QString::fromUtf8(kEvil);
    int refused_port = qatwb::test::free_tcp_port();
    QString wrong_known = dir_.filePath("wrong_known_hosts");
    {
      auto k = qatwb::test::run_process(
          "ssh-keygen", {"-q", "-t", "ed25519", "-N", "", "-f", dir_.filePath("other_key")});
      QCOMPARE(k.exit_code, 0);
      QFile pub(dir_.filePath("other_key.pub"));
      QVERIFY(pub.open(QIODevice::ReadOnly));
      write_text(wrong_known, "[127.0.0.1]:" + QByteArray::number(port_) + " " +
                                  pub.readAll().split(' ').mid(0, 2).join(' ') + "\n");
    }
    auto entry = [&](const QString& name, const QString& host, int port,
                     const QString& known) -> QByteArray {
      return QString(
                 "  %1:\n    host: %2\n    port: %3\n    user: %4\n"
                 "    identity_file: sshd/id_ed25519\n    known_hosts: %5\n"
                 "    remote_dir: \"%6\"\n    connect_timeout: 5\n")
          .arg(name, host)
          .arg(port)
          .arg(qEnvironmentVariable("USER", "root"), known, work)
          .toUtf8();
    };
    hosts_ = dir_.filePath("hosts.yaml");
    write_text(hosts_, "hosts:\n" + entry("good", "127.0.0.1", port_, "sshd/known_hosts") +
                           entry("refused", "127.0.0.1", refused_port, "sshd/known_hosts") +
                           entry("unknown", "no-such-host.invalid", 22, "sshd/known_hosts") +
                           entry("wrongkey", "127.0.0.1", port_, wrong_known));
    db_ = dir_.filePath("local runs/qatwb.sqlite");
    // The project file name has spaces and quotes too.
    project_ = dir_.filePath("my 'ssh' project.yaml");
    write_text(project_, "name: ssh-jobs\n");
  }

  void cleanupTestCase() { qatwb::test::stop_daemon(sshd_pid_); }

  void runs_remotely_and_mirrors_events() {
    int64_t id = submit("good", "--steps 8 --delay-ms 30 --checkpoint-every 4");
    QVERIFY(id > 0);
    int rc = -1;
    json j = wait(id, &rc);
    QCOMPARE(j.value("state", std::string()), std::string("succeeded"));
    QCOMPARE(rc, 0);
    const std::string remote = j.value("remote_dir", std::string());
    QVERIFY2(remote.find(kEvil) != std::string::npos, remote.c_str());
    // The bundle and the run live under the evil remote path; the local run dir is a mirror.
    QVERIFY(QFile::exists(QString::fromStdString(remote + "/bundle/my 'ssh' project.yaml")));
    QVERIFY(QFile::exists(QString::fromStdString(remote + "/run/events.jsonl")));
    const std::string local = j.value("run_dir", std::string());
    QFile remote_events(QString::fromStdString(remote + "/run/events.jsonl"));
    QFile local_events(QString::fromStdString(local + "/events.jsonl"));
    QVERIFY(remote_events.open(QIODevice::ReadOnly));
    QVERIFY(local_events.open(QIODevice::ReadOnly));
    QCOMPARE(local_events.readAll(), remote_events.readAll());
    auto store = qatwb::store::Store::open(db_.toStdString());
    auto points = store.points(store.find_run(local), "loss");
    QCOMPARE(points.size(), size_t{8});
    auto logs = run_qatwb(jobs({"logs", QString::number(id)}));
    QVERIFY(logs.out.contains("step 8 loss"));
    // Checkpoints come over on request.
    auto f =
        run_qatwb(jobs({"fetch", QString::number(id), "checkpoints/step-00000004"}), {}, 60000);
    QCOMPARE(f.exit_code, 0);
    QVERIFY(QFile::exists(QString::fromStdString(local + "/checkpoints/step-00000004/state.txt")));
    QVERIFY(run_qatwb(jobs({"fetch", QString::number(id), "../../etc"})).exit_code != 0);
    verify_nothing_executed();
  }

  void bundle_holds_the_extends_chain() {
    // Issue #15: the bundle held only the project file, so `extends: ../base.yaml` failed on the
    // host. The chain now travels at its relative places.
    QDir(dir_.path()).mkpath("chain/sub");
    write_text(dir_.filePath("chain/base.yaml"),
               "model: {preset: llama-micro, tokenizer: /remote/tok.json}\n"
               "data: {sources: [{path: /remote/corpus.jsonl}]}\ntrain: {steps: 8}\n");
    const QString child = dir_.filePath("chain/sub/child.yaml");
    write_text(child, "extends: ../base.yaml\nname: ssh-extends\n");
    QByteArray err;
    int64_t id = submit("good", "--steps 2 --delay-ms 10", &err, child);
    QVERIFY2(id > 0, err.constData());
    json j = wait(id);
    QCOMPARE(j.value("state", std::string()), std::string("succeeded"));
    const QString bundle = QString::fromStdString(j.value("remote_dir", std::string()) + "/bundle");
    QVERIFY(QFile::exists(bundle + "/sub/child.yaml"));
    QVERIFY(QFile::exists(bundle + "/base.yaml"));
    // The bundled copy loads on the host (this sshd is this machine) with its base.
    auto check = run_qatwb({"project", "check", bundle + "/sub/child.yaml", "--no-path-check"});
    QVERIFY2(check.exit_code == 0, check.err.constData());
    QVERIFY(check.out.contains("llama-micro"));
    // A broken chain is refused before anything is copied or started.
    write_text(dir_.filePath("chain/sub/orphan.yaml"), "extends: ../nope.yaml\nname: x\n");
    auto r = run_qatwb(
        jobs({"submit", dir_.filePath("chain/sub/orphan.yaml"), "--launcher", "ssh:good"}));
    QVERIFY(r.exit_code != 0);
    QVERIFY2(r.err.contains("orphan.yaml:1:") && r.err.contains("nope.yaml"), r.err.constData());
  }

  void cancel_and_kill9_resume_over_ssh() {
    const QString base = fake_ + " --steps 40 --delay-ms 10 --checkpoint-every 5";
    int64_t id = submit("good", "--steps 40 --delay-ms 10 --checkpoint-every 5 --hang-at 12");
    QVERIFY(id > 0);
    QVERIFY(wait_for_step(id, 12));
    json j = show(id);
    const std::string remote = j.value("remote_dir", std::string());
    std::ifstream wp(remote + "/run/.job/worker_pid");
    int64_t worker_pid = 0;
    wp >> worker_pid;
    QVERIFY(worker_pid > 0);
    QCOMPARE(kill(static_cast<pid_t>(worker_pid), SIGKILL), 0);
    j = wait(id);
    QCOMPARE(j.value("state", std::string()), std::string("lost"));
    auto r = run_qatwb(
        jobs({"resume", QString::number(id), "--worker-cmd", base + " --hang-at 20"}), {}, 60000);
    QCOMPARE(r.exit_code, 0);
    QVERIFY(wait_for_step(id, 20));
    r = run_qatwb(jobs({"cancel", QString::number(id), "--grace", "20", "--json"}), {}, 90000);
    QCOMPARE(r.exit_code, 0);
    j = parse(r.out);
    QCOMPARE(j.value("state", std::string()), std::string("cancelled"));
    QCOMPARE(j.value("end_status", std::string()), std::string("stopped"));
    r = run_qatwb(
        jobs({"resume", QString::number(id), "--worker-cmd", base, "--wait", "--timeout", "60"}),
        {}, 90000);
    QCOMPARE(r.exit_code, 0);
    j = show(id);
    QCOMPARE(j.value("state", std::string()), std::string("succeeded"));
    auto store = qatwb::store::Store::open(db_.toStdString());
    auto points = store.points(store.find_run(j.value("run_dir", std::string())), "loss");
    QCOMPARE(points.size(), size_t{40});
    for (size_t i = 0; i < points.size(); ++i) QCOMPARE(points[i].first, int64_t(i));
    verify_nothing_executed();
  }

  void unreachable_hosts_fail_fast_naming_the_host() {
    for (const QString& host : {QString("refused"), QString("unknown"), QString("wrongkey")}) {
      QElapsedTimer t;
      t.start();
      QByteArray err;
      int64_t id = submit(host, "--steps 3", &err);
      QCOMPARE(id, int64_t{-1});
      QVERIFY2(t.elapsed() < 45000, qPrintable(host));
      QVERIFY2(err.contains(("ssh host '" + host + "'").toUtf8()), err.constData());
    }
    // Each failed submission is in the registry as failed, with the reason.
    auto r = run_qatwb(jobs({"list", "--json"}));
    json arr = json::parse(r.out.toStdString(), nullptr, false);
    QVERIFY(arr.is_array());
    int failed = 0;
    for (const auto& j : arr) {
      if (j.value("host", std::string()) == "refused") {
        QCOMPARE(j.value("state", std::string()), std::string("failed"));
        QVERIFY(j.value("reason", std::string()).find("refused") != std::string::npos);
        ++failed;
      }
    }
    QCOMPARE(failed, 1);
    r = run_qatwb(jobs({"submit", project_, "--launcher", "ssh:nosuch"}));
    QVERIFY(r.exit_code != 0);
    QVERIFY(r.err.contains("no host 'nosuch'"));
  }

  void broken_hosts_yaml_is_file_line() {
    const QString bad = dir_.filePath("bad_hosts.yaml");
    write_text(bad, "hosts:\n  gpu1:\n    host: [1, 2\n    port: 22\n");
    auto r = run_qatwb(
        {"jobs", "--db", db_, "--hosts", bad, "submit", project_, "--launcher", "ssh:gpu1"});
    QVERIFY(r.exit_code != 0);
    QVERIFY2(r.err.contains("bad_hosts.yaml:"), r.err.constData());
    QVERIFY(r.err.contains("YAML syntax error"));

    using qatwb::jobs::load_hosts_config;
    auto expect = [&](const QByteArray& text, const char* needle) {
      write_text(bad, text);
      try {
        load_hosts_config(bad.toStdString(), "/home/q");
        QFAIL(qPrintable("no error for: " + text));
      } catch (const qatwb::Error& e) {
        QVERIFY2(std::string(e.what()).find(needle) != std::string::npos, e.what());
      }
    };
    expect("hosts:\n  gpu1:\n    host: h\n", "bad_hosts.yaml:2: hosts.gpu1.remote_dir: missing");
    expect("hosts:\n  gpu1:\n    host: h\n    work_dir: /w\n    port: 99999\n",
           "bad_hosts.yaml:5: hosts.gpu1.port");
    expect("hosts:\n  gpu1:\n    host: h\n    work_dir: /w\n    colour: red\n",
           "bad_hosts.yaml:5: hosts.gpu1: unknown field 'colour'");
    expect("hosts:\n  gpu1:\n    host: -oProxyCommand=x\n    work_dir: /w\n", "invalid host name");
    expect("hosts: 3\n", "bad_hosts.yaml:1: hosts: expected a mapping");
    // The README's key is remote_dir; work_dir (its older name) is an alias, not both at once.
    expect("hosts:\n  g:\n    host: h\n    remote_dir: /a\n    work_dir: /b\n",
           "bad_hosts.yaml:5: hosts.g.work_dir: give remote_dir or its old name work_dir");
    write_text(bad, "hosts:\n  g:\n    host: h\n    remote_dir: /scratch/q\n");
    QCOMPARE(load_hosts_config(bad.toStdString(), "/home/q").get("g").remote_dir,
             std::string("/scratch/q"));
    write_text(bad, "hosts:\n  g:\n    host: h\n    work_dir: /old/q\n");
    QCOMPARE(load_hosts_config(bad.toStdString(), "/home/q").get("g").remote_dir,
             std::string("/old/q"));
    write_text(bad,
               "known_hosts: kh\nhosts:\n  g:\n    host: h\n    work_dir: /w\n"
               "    identity_file: keys/id\n");
    auto cfg = load_hosts_config(bad.toStdString(), "/home/q");
    QCOMPARE(cfg.get("g").known_hosts, dir_.filePath("kh").toStdString());
    QCOMPARE(cfg.get("g").identity_file, dir_.filePath("keys/id").toStdString());
    QCOMPARE(cfg.get("g").port, 22);
  }
};

QTEST_GUILESS_MAIN(TestJobsSsh)
#include "tst_jobs_ssh.moc"
