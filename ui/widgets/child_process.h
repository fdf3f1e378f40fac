// One child process run from the GUI (a `qatwb` command: export, model info, batch): started
// with a program and its arguments, its stdout and stderr collected (apart, or merged into stdout
// as a terminal shows them) and streamed as chunks while it runs, and its end reported once by
// finished(): a normal exit with its code, a crash, a program that could not start, or a cancel,
// each with one clear message(). Destroying it kills a child still running without reporting
// anything.
#pragma once
#include <QByteArray>
#include <QObject>
#include <QProcess>
#include <QString>
#include <QStringList>

namespace qatwb::ui {

class ChildProcess : public QObject {
  Q_OBJECT

 public:
  enum class Channel { out, err };
  Q_ENUM(Channel)
  // none: not started yet or still running.
  enum class End { none, exited, crashed, failed_to_start, cancelled };
  Q_ENUM(End)

  explicit ChildProcess(QObject* parent = nullptr);
  ~ChildProcess() override;  // stop(0)

  // Stderr goes into stdout (one stream, Channel::out); set before start().
  void set_merged(bool merged) { merged_ = merged; }
  // Starts `program args`. A child still running from an earlier start() is stopped first
  // without being reported; what it printed is forgotten.
  void start(const QString& program, const QStringList& args);
  // Started and not yet reported by finished().
  bool running() const { return started_ && end_ == End::none; }
  // Blocks (the GUI too) until the child ended and finished() was emitted, or `ms` passed;
  // true when it ended.
  bool wait(int ms);
  // Kills the child; finished(false) follows with end() cancelled.
  void cancel();
  // Ends the child without reporting it (nothing is emitted from here on): SIGTERM and up to
  // `grace_ms` to exit when grace_ms > 0, then SIGKILL; blocks until it is gone (at most ~3 s).
  void stop(int grace_ms);

  const QString& program() const { return program_; }
  const QStringList& arguments() const { return args_; }
  const QByteArray& standard_output() const { return out_; }  // merged: everything
  const QByteArray& standard_error() const { return err_; }   // merged: empty
  End end() const { return end_; }
  bool ok() const { return end_ == End::exited && exit_code_ == 0; }
  int exit_code() const { return exit_code_; }  // of a normal exit; -1 otherwise
  QString error_string() const;                 // QProcess's description of the last error
  // The last non-blank line of stderr (merged: of the output): a CLI's one clear message.
  QString last_error_line() const;
  // How it ended, in one line: "" when ok, "exit N: <last error line>", "crashed: <last error
  // line>" (either without ": ..." when nothing was printed), "cannot start PROGRAM: <why>",
  // "cancelled"; "" while running.
  QString message() const;

 Q_SIGNALS:
  void output(const QByteArray& bytes, qatwb::ui::ChildProcess::Channel channel);
  void finished(bool ok);

 private:
  void read(Channel channel);
  void report(End end, int exit_code);
  void on_exit(int exit_code, QProcess::ExitStatus status);
  QProcess* process_ = nullptr;
  QString program_;
  QStringList args_;
  QByteArray out_, err_;
  bool merged_ = false, started_ = false, cancelling_ = false;
  End end_ = End::none;
  int exit_code_ = -1;
};

}  // namespace qatwb::ui
