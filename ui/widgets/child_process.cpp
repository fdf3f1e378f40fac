#include "ui/widgets/child_process.h"

#include <QDeadlineTimer>

namespace qatwb::ui {

ChildProcess::ChildProcess(QObject* parent) : QObject(parent) {}

ChildProcess::~ChildProcess() { stop(0); }

void ChildProcess::start(const QString& program, const QStringList& args) {
  stop(0);
  // Deferred: start() may be called from a slot of the old process's own signal.
  if (process_) process_->deleteLater();
  program_ = program;
  args_ = args;
  out_.clear();
  err_.clear();
  end_ = End::none;
  exit_code_ = -1;
  cancelling_ = false;
  started_ = true;
  process_ = new QProcess(this);
  process_->setProcessChannelMode(merged_ ? QProcess::MergedChannels : QProcess::SeparateChannels);
  connect(process_, &QProcess::readyReadStandardOutput, this, [this] { read(Channel::out); });
  connect(process_, &QProcess::readyReadStandardError, this, [this] { read(Channel::err); });
  connect(process_, &QProcess::finished, this, &ChildProcess::on_exit);
  connect(process_, &QProcess::errorOccurred, this, [this](QProcess::ProcessError e) {
    if (e == QProcess::FailedToStart) report(End::failed_to_start, -1);
  });
  process_->start(program, args);
}

bool ChildProcess::wait(int ms) {
  if (!running()) return true;
  const QDeadlineTimer deadline(ms);
  if (process_->state() == QProcess::Starting) process_->waitForStarted(ms);
  if (process_->state() != QProcess::NotRunning)
    process_->waitForFinished(int(deadline.remainingTime()));
  if (running() && process_->state() == QProcess::NotRunning) {
    // Ended without its signal having reached us yet (a start failure reported later).
    if (process_->error() == QProcess::FailedToStart)
      report(End::failed_to_start, -1);
    else
      on_exit(process_->exitCode(), process_->exitStatus());
  }
  return !running();
}

void ChildProcess::cancel() {
  if (!running()) return;
  cancelling_ = true;
  if (process_->state() != QProcess::NotRunning)
    process_->kill();  // finished() follows from on_exit
  else
    report(End::cancelled, -1);
}

void ChildProcess::stop(int grace_ms) {
  if (!process_) return;
  process_->disconnect(this);  // nothing about this child is reported from here on
  if (process_->state() != QProcess::NotRunning && grace_ms > 0) {
    process_->terminate();
    process_->waitForFinished(grace_ms);
  }
  if (process_->state() != QProcess::NotRunning) {
    process_->kill();
    process_->waitForFinished(3000);
  }
  if (running()) end_ = End::cancelled;
}

QString ChildProcess::error_string() const {
  return process_ ? process_->errorString() : QString();
}

QString ChildProcess::last_error_line() const {
  const QList<QByteArray> lines = (merged_ ? out_ : err_).split('\n');
  for (auto it = lines.crbegin(); it != lines.crend(); ++it) {
    const QString l = QString::fromUtf8(*it).trimmed();
    if (!l.isEmpty()) return l;
  }
  return {};
}

QString ChildProcess::message() const {
  const QString why = last_error_line();
  const QString tail = why.isEmpty() ? QString() : ": " + why;
  switch (end_) {
    case End::none:
      return {};
    case End::exited:
      return exit_code_ == 0 ? QString() : tr("exit %1").arg(exit_code_) + tail;
    case End::crashed:
      return tr("crashed") + tail;
    case End::failed_to_start:
      return tr("cannot start %1: %2").arg(program_, error_string());
    case End::cancelled:
      return tr("cancelled");
  }
  return {};
}

void ChildProcess::read(Channel channel) {
  const QByteArray bytes = channel == Channel::out ? process_->readAllStandardOutput()
                                                   : process_->readAllStandardError();
  if (bytes.isEmpty()) return;
  (channel == Channel::out ? out_ : err_) += bytes;
  Q_EMIT output(bytes, channel);
}

void ChildProcess::on_exit(int exit_code, QProcess::ExitStatus status) {
  const QProcess* child = process_;
  read(Channel::out);
  if (!merged_) read(Channel::err);
  if (process_ != child) return;  // a slot of output() started another child
  if (status == QProcess::NormalExit)
    report(End::exited, exit_code);
  else
    report(cancelling_ ? End::cancelled : End::crashed, -1);
}

void ChildProcess::report(End end, int exit_code) {
  if (!running()) return;
  end_ = end;
  exit_code_ = exit_code;
  Q_EMIT finished(ok());
}

}  // namespace qatwb::ui
