// A read-only text pane that follows a log file (worker.log): shows its last `max_bytes` when the
// file is set, then appends what is written, polled by a timer (the file may be on a shared FS
// or mirrored from an ssh host; no file watcher is reliable there). A shrunk file is re-read.
// A run without a worker.log (started with `qatwb run` in a terminal) is followed through its
// events.jsonl instead, each event as a log line (event_line_text.h).
#pragma once
#include <QPlainTextEdit>
#include <QTimer>

namespace qatwb::ui {

class LogTailView : public QPlainTextEdit {
  Q_OBJECT

 public:
  explicit LogTailView(QWidget* parent = nullptr);
  void set_file(const QString& path);  // "" clears
  // Follows an events.jsonl, one log line per complete event line.
  void set_events_file(const QString& path);
  bool following_events() const { return events_; }
  QString file() const { return path_; }
  void refresh();  // reads what is new now (also called every interval)
  void set_interval(int ms) { timer_.setInterval(ms); }
  QSize sizeHint() const override { return {480, 120}; }  // a log pane, not the main view

 private:
  void follow(const QString& path, bool events);
  QString path_;
  qint64 offset_ = 0;
  bool events_ = false;
  QByteArray partial_;  // events: the incomplete last line read so far
  QTimer timer_;
  static constexpr qint64 max_bytes = 64 * 1024;
};

}  // namespace qatwb::ui
