// Where tests find things: the source tree, the build tree, the qatwb binary and the npm
// fixtures. Set by CTest (tests/CMakeLists.txt); a test run by hand needs the same variables.
#pragma once
#include <QMap>
#include <QString>
#include <QStringList>

namespace qatwb::test {

QString source_dir();                 // $QATWB_SOURCE_DIR
QString binary_dir();                 // $QATWB_BINARY_DIR
QString qatwb_bin();                  // $QATWB_BIN (the built qatwb CLI)
QString npm_dir();                    // <source>/tests/fixtures/npm/node_modules
QString fixture(const QString& rel);  // <source>/tests/fixtures/<rel>

struct ProcessResult {
  int exit_code = -1;
  QByteArray out;
  QByteArray err;
};
// Runs a real child process (no shell) with optional stdin; fails the test on timeout.
ProcessResult run_process(const QString& program, const QStringList& args,
                          const QByteArray& stdin_data = {}, int timeout_ms = 600000,
                          const QString& working_dir = {});
ProcessResult run_qatwb(const QStringList& args, const QByteArray& stdin_data = {},
                        int timeout_ms = 600000);
// The qatwb CLI with extra environment variables; stderr is printed when it fails.
ProcessResult run_qatwb_env(const QStringList& args, const QMap<QString, QString>& env = {},
                            int timeout_ms = 600000);

}  // namespace qatwb::test
