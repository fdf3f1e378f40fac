#include "tests/common/test_env.h"

#include <QProcess>
#include <QtTest>

namespace qatwb::test {

static QString env_or_fail(const char* name) {
  QString v = qEnvironmentVariable(name);
  if (v.isEmpty()) qFatal("environment variable %s is not set (run the test through ctest)", name);
  return v;
}

QString source_dir() { return env_or_fail("QATWB_SOURCE_DIR"); }
QString binary_dir() { return env_or_fail("QATWB_BINARY_DIR"); }
QString qatwb_bin() { return env_or_fail("QATWB_BIN"); }
QString npm_dir() { return source_dir() + "/tests/fixtures/npm/node_modules"; }
QString fixture(const QString& rel) { return source_dir() + "/tests/fixtures/" + rel; }

ProcessResult run_process(const QString& program, const QStringList& args,
                          const QByteArray& stdin_data, int timeout_ms,
                          const QString& working_dir) {
  QProcess p;
  if (!working_dir.isEmpty()) p.setWorkingDirectory(working_dir);
  p.start(program, args);
  if (!p.waitForStarted(10000)) {
    qWarning("could not start %s", qPrintable(program));
    return {};
  }
  if (!stdin_data.isEmpty()) p.write(stdin_data);
  p.closeWriteChannel();
  if (!p.waitForFinished(timeout_ms)) {
    p.kill();
    p.waitForFinished();
    qWarning("%s timed out", qPrintable(program));
    return {};
  }
  ProcessResult r;
  r.exit_code = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
  r.out = p.readAllStandardOutput();
  r.err = p.readAllStandardError();
  return r;
}

ProcessResult run_qatwb(const QStringList& args, const QByteArray& stdin_data, int timeout_ms) {
  return run_process(qatwb_bin(), args, stdin_data, timeout_ms);
}

ProcessResult run_qatwb_env(const QStringList& args, const QMap<QString, QString>& env,
                            int timeout_ms) {
  QProcess p;
  auto e = QProcessEnvironment::systemEnvironment();
  for (auto it = env.begin(); it != env.end(); ++it) e.insert(it.key(), it.value());
  p.setProcessEnvironment(e);
  p.start(qatwb_bin(), args);
  p.closeWriteChannel();
  if (!p.waitForFinished(timeout_ms)) {
    p.kill();
    p.waitForFinished();
    qWarning("qatwb %s timed out", qPrintable(args.join(' ')));
    return {};
  }
  ProcessResult r;
  r.exit_code = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
  r.out = p.readAllStandardOutput();
  r.err = p.readAllStandardError();
  if (r.exit_code != 0) qInfo("qatwb %s: %s", qPrintable(args.join(' ')), r.err.constData());
  return r;
}

}  // namespace qatwb::test
