// shell_quote / shell_join / split_command_line: quoted words reach a real /bin/sh as the exact
// bytes, and nothing inside them (quotes, $(), backticks, ;, newlines) is ever executed.
#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <QtTest>

#include "core/jobs/shell_quote.h"
#include "core/util/error.h"
#include "tests/common/test_env.h"

using namespace qatwb::jobs;

namespace {

const std::vector<std::string> kNasty = {
    "plain",
    "with space",
    "a b'$(touch PWNED);c",
    "`touch PWNED`",
    "$(touch PWNED)",
    "; touch PWNED",
    "it's",
    "''",
    "\"double\" \\ back",
    "new\nline",
    "tab\there",
    "*",
    "~",
    "$HOME",
    "-n",
    "a|b&c>d<e",
    "!bang",
    "\xc3\xa9t\xc3\xa9",
    "",
};

// Runs `sh -c script` in `cwd` and returns stdout.
QByteArray sh(const std::string& script, const QString& cwd) {
  auto r =
      qatwb::test::run_process("/bin/sh", {"-c", QString::fromStdString(script)}, {}, 20000, cwd);
  if (r.exit_code != 0) qWarning("sh failed: %s", r.err.constData());
  return r.out;
}

}  // namespace

class TestShellQuote : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void safe_words_stay_bare() {
    QCOMPARE(shell_quote("abc-1.2_x/y:z@w%+=,"), std::string("abc-1.2_x/y:z@w%+=,"));
    QCOMPARE(shell_quote(""), std::string("''"));
    QCOMPARE(shell_quote("a b"), std::string("'a b'"));
    QCOMPARE(shell_quote("it's"), std::string("'it'\\''s'"));
    QCOMPARE(shell_join({"ls", "-l", "a b"}), std::string("ls -l 'a b'"));
  }

  void quoted_words_reach_sh_verbatim_and_execute_nothing() {
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    for (const auto& s : kNasty) {
      QByteArray out = sh("printf '%s|' " + shell_quote(s), dir.path());
      QCOMPARE(out, QByteArray::fromStdString(s + "|"));
    }
    // All of them at once, as argv of one command.
    std::vector<std::string> argv = {"printf", "[%s]"};
    argv.insert(argv.end(), kNasty.begin(), kNasty.end());
    std::string expected;
    for (const auto& s : kNasty) expected += "[" + s + "]";
    QCOMPARE(sh(shell_join(argv), dir.path()), QByteArray::fromStdString(expected));
    // Used as a path: mkdir and cd into it, nothing else happens.
    const std::string evil = "a b'$(touch PWNED);c";
    sh("mkdir -p -- " + shell_quote(evil) + " && cd -- " + shell_quote(evil) + " && pwd",
       dir.path());
    QVERIFY(QDir(dir.path() + "/" + QString::fromStdString(evil)).exists());
    QVERIFY(!QFile::exists(dir.path() + "/PWNED"));
    QVERIFY(!QFile::exists(dir.path() + "/" + QString::fromStdString(evil) + "/PWNED"));
  }

  void quoting_survives_a_second_shell() {
    // ssh hands its command string to the remote login shell: quote twice for sh -c "..."
    QTemporaryDir dir;
    for (const auto& s : kNasty) {
      std::string inner = "printf '%s|' " + shell_quote(s);
      QByteArray out = sh("sh -c " + shell_quote(inner), dir.path());
      QCOMPARE(out, QByteArray::fromStdString(s + "|"));
    }
    QVERIFY(!QFile::exists(dir.path() + "/PWNED"));
  }

  void split_command_line_words() {
    using V = std::vector<std::string>;
    QCOMPARE(split_command_line("  a  b\tc "), (V{"a", "b", "c"}));
    QCOMPARE(split_command_line("a 'b c' \"d e\" f\\ g"), (V{"a", "b c", "d e", "f g"}));
    QCOMPARE(split_command_line("'it'\\''s' \"x\\\"y\""), (V{"it's", "x\"y"}));
    QCOMPARE(split_command_line("''"), (V{""}));
    QCOMPARE(split_command_line("$(x) `y`"), (V{"$(x)", "`y`"}));
    QCOMPARE(split_command_line(""), V{});
    QVERIFY_THROWS_EXCEPTION(qatwb::Error, split_command_line("a 'b"));
    QVERIFY_THROWS_EXCEPTION(qatwb::Error, split_command_line("a \"b"));
    QVERIFY_THROWS_EXCEPTION(qatwb::Error, split_command_line("a\\"));
  }

  void split_inverts_join() {
    std::vector<std::string> nonempty;
    for (const auto& s : kNasty) {
      if (!s.empty()) nonempty.push_back(s);
    }
    QCOMPARE(split_command_line(shell_join(nonempty)), nonempty);
    QCOMPARE(split_command_line(shell_join({"x", ""})), (std::vector<std::string>{"x", ""}));
  }
};

QTEST_GUILESS_MAIN(TestShellQuote)
#include "tst_shell_quote.moc"
