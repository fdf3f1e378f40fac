// A read-only text pane that follows a log file (worker.log): shows its last `max_bytes` when the
// file is set, then appends what is written, polled by a timer (the file may be on a shared FS
// or mirrored from an ssh host; no file watcher is reliable there). A shrunk file is re-read.
#pragma once
#include <QPlainTextEdit>
#include <QTimer>

namespace qatwb::ui {

class LogTailView : public QPlainTextEdit {
  Q_OBJECT

 public:
  explicit LogTailView(QWidget* parent = nullptr);
  void set_file(const QString& path);  // "" clears
  QString file() const { return path_; }
  void refresh();  // reads what is new now (also called every interval)
  void set_interval(int ms) { timer_.setInterval(ms); }
  QSize sizeHint() const override { return {480, 120}; }  // a log pane, not the main view

 private:
  QString path_;
  qint64 offset_ = 0;
  QTimer timer_;
  static constexpr qint64 max_bytes = 64 * 1024;
};

}  // namespace qatwb::ui
