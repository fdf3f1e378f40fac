// `qatwb watch` in a real pseudo-terminal: the built CLI runs inside a private tmux server at
// 80x24, the test reads the screen with capture-pane, switches the metric, resizes the window,
// follows a run that is still being written, and quits with q (the program must exit).
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QThread>
#include <QtTest>

#include "core/run/event_log.h"
#include "core/store/store.h"
#include "tests/common/test_env.h"

using qatwb::test::run_process;

class TestWatchTty : public QObject {
  Q_OBJECT

  QTemporaryDir dir_;
  QString tmux_, socket_, db_, run_dir_;

  QStringList tmux_args(const QStringList& args) const {
    return QStringList{"-u", "-S", socket_} + args;
  }
  qatwb::test::ProcessResult tmux(const QStringList& args) const {
    return run_process(tmux_, tmux_args(args), {}, 20000);
  }
  QString screen() const {
    return QString::fromUtf8(tmux({"capture-pane", "-p", "-t", "watch"}).out);
  }
  // Waits until the screen contains every string; returns the last screen.
  QString wait_for(const QStringList& needles, int timeout_ms = 15000) const {
    QElapsedTimer t;
    t.start();
    QString s;
    while (t.elapsed() < timeout_ms) {
      s = screen();
      bool all = true;
      for (const auto& n : needles) all &= s.contains(n);
      if (all) return s;
      QThread::msleep(100);
    }
    return s;
  }
  bool session_alive() const { return tmux({"has-session", "-t", "watch"}).exit_code == 0; }

 private Q_SLOTS:
  void initTestCase() {
    tmux_ = QStandardPaths::findExecutable("tmux");
    if (tmux_.isEmpty()) QSKIP("tmux is not installed");
    QVERIFY(dir_.isValid());
    socket_ = dir_.filePath("tmux.sock");
    db_ = dir_.filePath("runs/qatwb.sqlite");
    run_dir_ = dir_.filePath("runs/demo/live-run");
    QVERIFY(QDir().mkpath(run_dir_));
    // A running run: start event and 30 steps, no end event yet.
    qatwb::run::EventWriter w(run_dir_.toStdString() + "/events.jsonl");
    qatwb::run::StartInfo info;
    info.run = "live-run";
    info.project = "demo";
    w.start(info);
    w.eval(0, {{"ppl_fp", 20.0}, {"ppl_rtn", 36.0}});
    for (int s = 0; s < 30; ++s)
      w.metric(s, {{"loss", 10.0 / (s + 1)}, {"grad_norm", 1.0 + ((s + 1) % 3)}});
    auto store = qatwb::store::Store::open(db_.toStdString());
    store.ingest_run_dir(run_dir_.toStdString());
  }

  void renders_switches_resizes_and_quits() {
    const QString rc_file = dir_.filePath("watch.rc");
    const QString cmd =
        QString("LANG=C.UTF-8 TERM=screen '%1' watch --db '%2' --interval 0.3; echo $? > '%3'")
            .arg(qatwb::test::qatwb_bin(), db_, rc_file);
    auto r = tmux({"new-session", "-d", "-x", "80", "-y", "24", "-s", "watch", cmd});
    QVERIFY2(r.exit_code == 0, r.err.constData());

    QString s = wait_for({"live-run", "running", "loss of live-run", "\u2502"});
    QVERIFY2(s.contains("loss of live-run"), qPrintable(s));
    QVERIFY2(s.contains("q: quit"), qPrintable(s));
    bool braille = false;
    for (QChar c : s) braille |= c.unicode() >= 0x2801 && c.unicode() <= 0x28FF;
    QVERIFY2(braille, qPrintable(s));
    QCOMPARE(s.split('\n').first().trimmed().startsWith("qatwb watch"), true);

    // Tab to the gradient norm.
    tmux({"send-keys", "-t", "watch", "Tab"});
    s = wait_for({"grad norm of live-run"});
    QVERIFY2(s.contains("grad norm of live-run"), qPrintable(s));

    // The run goes on: new steps are ingested from its directory by watch itself.
    {
      qatwb::run::EventWriter w(run_dir_.toStdString() + "/events.jsonl");
      // Metric steps are 0-based: 30..39 take the run to 40 steps done.
      for (int s2 = 30; s2 <= 39; ++s2) w.metric(s2, {{"loss", 10.0 / s2}, {"grad_norm", 7.5}});
    }
    s = wait_for({"      40 "});
    QVERIFY2(s.contains("      40 "), qPrintable(s));

    // Resize: the layout follows (help line at the new bottom, wider lines).
    tmux({"resize-window", "-t", "watch", "-x", "100", "-y", "30"});
    QElapsedTimer t;
    t.start();
    QStringList lines;
    while (t.elapsed() < 10000) {
      lines = screen().split('\n');
      while (!lines.isEmpty() && lines.last().isEmpty()) lines.removeLast();
      if (lines.size() == 30 && lines.last().contains("q: quit")) break;
      QThread::msleep(100);
    }
    QCOMPARE(lines.size(), 30);
    QVERIFY2(lines.last().contains("q: quit"), qPrintable(lines.join('\n')));

    // q quits: the program exits with status 0 and the session ends.
    tmux({"send-keys", "-t", "watch", "q"});
    t.restart();
    QString rc;
    while (t.elapsed() < 10000) {
      QFile f(rc_file);
      if (f.open(QIODevice::ReadOnly)) rc = QString::fromUtf8(f.readAll()).trimmed();
      if (!rc.isEmpty()) break;
      QThread::msleep(100);
    }
    QCOMPARE(rc, QString("0"));
    t.restart();
    while (t.elapsed() < 5000 && session_alive()) QThread::msleep(100);
    QVERIFY(!session_alive());
  }

  void cleanupTestCase() {
    if (!tmux_.isEmpty()) tmux({"kill-server"});
  }
};

QTEST_GUILESS_MAIN(TestWatchTty)
#include "tst_watch_tty.moc"
