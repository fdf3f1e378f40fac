#include "ui/widgets/log_tail_view.h"

#include <QFile>
#include <QFontDatabase>
#include <QScrollBar>

#include "ui/widgets/event_line_text.h"

namespace qatwb::ui {

LogTailView::LogTailView(QWidget* parent) : QPlainTextEdit(parent) {
  setReadOnly(true);
  setLineWrapMode(QPlainTextEdit::NoWrap);
  setMaximumBlockCount(5000);
  setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
  timer_.setInterval(1000);
  connect(&timer_, &QTimer::timeout, this, &LogTailView::refresh);
}

void LogTailView::set_file(const QString& path) { follow(path, false); }

void LogTailView::set_events_file(const QString& path) { follow(path, true); }

void LogTailView::follow(const QString& path, bool events) {
  if (path == path_ && events == events_) return;
  path_ = path;
  events_ = events;
  offset_ = 0;
  partial_.clear();
  setPlaceholderText(QString());
  clear();
  if (path_.isEmpty()) {
    timer_.stop();
    return;
  }
  timer_.start();
  refresh();
}

void LogTailView::refresh() {
  if (path_.isEmpty()) return;
  QFile f(path_);
  if (!f.open(QIODevice::ReadOnly)) {
    if (offset_ == 0 && toPlainText().isEmpty()) setPlaceholderText(tr("No log yet"));
    return;
  }
  const qint64 size = f.size();
  if (size < offset_) {  // truncated or replaced
    offset_ = 0;
    partial_.clear();
    clear();
  }
  if (size == offset_) return;
  qint64 from = offset_;
  if (offset_ == 0 && size > max_bytes) from = size - max_bytes;
  const bool mid_file = offset_ == 0 && from > 0;  // a tail that starts inside a line
  f.seek(from);
  QByteArray bytes = f.read(size - from);
  offset_ = from + bytes.size();
  if (events_) {
    // Complete lines only (the rest waits for its newline); a tail that starts mid-file starts
    // at the next line.
    if (mid_file) {
      const int nl = bytes.indexOf('\n');
      bytes = nl < 0 ? QByteArray() : bytes.mid(nl + 1);
    }
    bytes = partial_ + bytes;
    const int last = bytes.lastIndexOf('\n');
    partial_ = bytes.mid(last + 1);
    QString text;
    for (const QByteArray& line : bytes.left(last + 1).split('\n')) {
      const QString t = event_line_text(line);
      if (!t.isEmpty()) text += t + '\n';
    }
    bytes = text.toUtf8();
    if (bytes.isEmpty()) return;
  }
  const bool at_end = verticalScrollBar()->value() == verticalScrollBar()->maximum();
  moveCursor(QTextCursor::End);
  insertPlainText(QString::fromUtf8(bytes));
  if (at_end) verticalScrollBar()->setValue(verticalScrollBar()->maximum());
}

}  // namespace qatwb::ui
