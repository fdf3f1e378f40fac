// ChildProcess over real child processes (/bin/sh scripts): stdout and stderr apart and merged,
// chunks as they come, one finished() per child with its end and message for a clean
// exit, a non-zero exit, a crash (SIGSEGV), a program that does not exist and a cancel; wait(),
// restart while running, and quiet ends (stop(), the destructor) that report nothing.
#include <QElapsedTimer>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QTest>

#include "ui/widgets/child_process.h"

using qatwb::ui::ChildProcess;

namespace {

// Runs `script` with /bin/sh and waits for its end (up to 10 s).
bool run_sh(ChildProcess& p, const QString& script) {
  p.start("/bin/sh", {"-c", script});
  return p.wait(10000);
}

}  // namespace

class TestChildProcess : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void init();
  void clean_exit_collects_stdout_and_stderr_apart();
  void merged_channels_are_one_stream();
  void nonzero_exit_names_code_and_last_stderr_line();
  void crash_is_reported_as_a_crash();
  void missing_program_fails_to_start();
  void cancel_kills_a_long_child();
  void restart_forgets_the_running_child();
  void stop_and_destructor_report_nothing();
};

// No warning from QProcess either (reading stderr of merged channels, destroying a running one).
void TestChildProcess::init() { QTest::failOnWarning(QRegularExpression(".")); }

void TestChildProcess::clean_exit_collects_stdout_and_stderr_apart() {
  ChildProcess p;
  QSignalSpy finished(&p, &ChildProcess::finished);
  QSignalSpy output(&p, &ChildProcess::output);
  p.start("/bin/sh", {"-c", "echo out-1; echo err-1 >&2; echo out-2"});
  QVERIFY(p.running());
  QVERIFY(finished.wait(10000));
  QCOMPARE(finished.count(), 1);
  QCOMPARE(finished.at(0).at(0).toBool(), true);
  QVERIFY(!p.running());
  QVERIFY(p.ok());
  QCOMPARE(p.end(), ChildProcess::End::exited);
  QCOMPARE(p.exit_code(), 0);
  QCOMPARE(p.standard_output(), QByteArray("out-1\nout-2\n"));
  QCOMPARE(p.standard_error(), QByteArray("err-1\n"));
  QCOMPARE(p.message(), QString());
  QCOMPARE(p.program(), QString("/bin/sh"));
  QVERIFY(!output.isEmpty());
  QByteArray out, err;
  for (const auto& args : output)
    (args.at(1).value<ChildProcess::Channel>() == ChildProcess::Channel::out ? out : err) +=
        args.at(0).toByteArray();
  QCOMPARE(out, p.standard_output());
  QCOMPARE(err, p.standard_error());
  QTest::qWait(50);  // no second report
  QCOMPARE(finished.count(), 1);
}

void TestChildProcess::merged_channels_are_one_stream() {
  ChildProcess p;
  p.set_merged(true);
  QVERIFY(run_sh(p, "echo one; echo two >&2; exit 4"));
  QCOMPARE(p.standard_output(), QByteArray("one\ntwo\n"));
  QCOMPARE(p.standard_error(), QByteArray());
  QCOMPARE(p.last_error_line(), QString("two"));
  QCOMPARE(p.message(), QString("exit 4: two"));
}

void TestChildProcess::nonzero_exit_names_code_and_last_stderr_line() {
  ChildProcess p;
  QSignalSpy finished(&p, &ChildProcess::finished);
  QVERIFY(run_sh(p,
                 "echo progress; echo 'warning: x' >&2; echo 'error: no such run' >&2;"
                 "echo '  ' >&2; exit 3"));
  QCOMPARE(finished.count(), 1);  // wait() delivers finished() before it returns
  QCOMPARE(finished.at(0).at(0).toBool(), false);
  QVERIFY(!p.ok());
  QCOMPARE(p.end(), ChildProcess::End::exited);
  QCOMPARE(p.exit_code(), 3);
  QCOMPARE(p.last_error_line(), QString("error: no such run"));
  QCOMPARE(p.message(), QString("exit 3: error: no such run"));

  QVERIFY(run_sh(p, "exit 2"));  // nothing printed
  QCOMPARE(p.message(), QString("exit 2"));
}

void TestChildProcess::crash_is_reported_as_a_crash() {
  ChildProcess p;
  QSignalSpy finished(&p, &ChildProcess::finished);
  p.start("/bin/sh", {"-c", "echo 'about to crash' >&2; kill -SEGV $$"});
  QVERIFY(finished.wait(10000));
  QCOMPARE(finished.count(), 1);
  QCOMPARE(finished.at(0).at(0).toBool(), false);
  QCOMPARE(p.end(), ChildProcess::End::crashed);
  QCOMPARE(p.exit_code(), -1);
  QCOMPARE(p.message(), QString("crashed: about to crash"));
}

void TestChildProcess::missing_program_fails_to_start() {
  const QString missing = "/nonexistent/qatwb-no-such-program";
  {
    ChildProcess p;
    QSignalSpy finished(&p, &ChildProcess::finished);
    p.start(missing, {"--version"});
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, 10000);
    QCOMPARE(finished.at(0).at(0).toBool(), false);
    QCOMPARE(p.end(), ChildProcess::End::failed_to_start);
    QVERIFY(!p.running());
    QVERIFY2(p.message().startsWith("cannot start " + missing + ": "), qPrintable(p.message()));
    QVERIFY(!p.error_string().isEmpty());
    QTest::qWait(50);
    QCOMPARE(finished.count(), 1);
  }
  {
    ChildProcess p;  // the same through wait()
    QSignalSpy finished(&p, &ChildProcess::finished);
    p.start(missing, {});
    QVERIFY(p.wait(10000));
    QCOMPARE(finished.count(), 1);
    QCOMPARE(p.end(), ChildProcess::End::failed_to_start);
  }
}

void TestChildProcess::cancel_kills_a_long_child() {
  ChildProcess p;
  QSignalSpy finished(&p, &ChildProcess::finished);
  QElapsedTimer clock;
  clock.start();
  p.start("sleep", {"30"});
  QVERIFY(!p.wait(200));  // still running
  QVERIFY(p.running());
  p.cancel();
  QVERIFY(finished.wait(10000));
  QVERIFY2(clock.elapsed() < 10000, qPrintable(QString::number(clock.elapsed())));
  QCOMPARE(finished.count(), 1);
  QCOMPARE(finished.at(0).at(0).toBool(), false);
  QCOMPARE(p.end(), ChildProcess::End::cancelled);
  QCOMPARE(p.message(), QString("cancelled"));
  p.cancel();  // nothing to cancel: no second report
  QTest::qWait(50);
  QCOMPARE(finished.count(), 1);
}

void TestChildProcess::restart_forgets_the_running_child() {
  ChildProcess p;
  QSignalSpy finished(&p, &ChildProcess::finished);
  p.start("/bin/sh", {"-c", "echo old; exec sleep 30"});
  QTRY_COMPARE_WITH_TIMEOUT(p.standard_output(), QByteArray("old\n"), 10000);
  QElapsedTimer clock;
  clock.start();
  QVERIFY(run_sh(p, "echo new"));
  QVERIFY(clock.elapsed() < 10000);
  QCOMPARE(finished.count(), 1);  // only the new child's end
  QVERIFY(p.ok());
  QCOMPARE(p.standard_output(), QByteArray("new\n"));
  QCOMPARE(p.arguments(), QStringList({"-c", "echo new"}));
}

void TestChildProcess::stop_and_destructor_report_nothing() {
  int reports = 0;
  QElapsedTimer clock;
  clock.start();
  {
    ChildProcess p;
    connect(&p, &ChildProcess::finished, this, [&] { ++reports; });
    p.start("/bin/sh", {"-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"});
    QTest::qWait(300);  // the trap is set
    p.stop(5000);       // SIGTERM first: the script exits by itself
    QVERIFY(!p.running());
    QCOMPARE(p.end(), ChildProcess::End::cancelled);

    p.start("sleep", {"30"});
    QTest::qWait(100);
    QVERIFY(p.running());
  }  // the destructor kills the second child
  QVERIFY2(clock.elapsed() < 10000, qPrintable(QString::number(clock.elapsed())));
  QTest::qWait(50);
  QCOMPARE(reports, 0);
}

QTEST_MAIN(TestChildProcess)
#include "tst_child_process.moc"
