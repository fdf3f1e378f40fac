#include "ui/widgets/log_tail_view.h"

#include <QFile>
#include <QFontDatabase>
#include <QScrollBar>

namespace qatwb::ui {

LogTailView::LogTailView(QWidget* parent) : QPlainTextEdit(parent) {
  setReadOnly(true);
  setLineWrapMode(QPlainTextEdit::NoWrap);
  setMaximumBlockCount(5000);
  setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
  timer_.setInterval(1000);
  connect(&timer_, &QTimer::timeout, this, &LogTailView::refresh);
}

void LogTailView::set_file(const QString& path) {
  if (path == path_) return;
  path_ = path;
  offset_ = 0;
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
    if (offset_ == 0 && toPlainText().isEmpty())
      setPlaceholderText(tr("%1: no log yet").arg(path_));
    return;
  }
  const qint64 size = f.size();
  if (size < offset_) {  // truncated or replaced
    offset_ = 0;
    clear();
  }
  if (size == offset_) return;
  qint64 from = offset_;
  if (offset_ == 0 && size > max_bytes) from = size - max_bytes;
  f.seek(from);
  QByteArray bytes = f.read(size - from);
  offset_ = from + bytes.size();
  const bool at_end = verticalScrollBar()->value() == verticalScrollBar()->maximum();
  moveCursor(QTextCursor::End);
  insertPlainText(QString::fromUtf8(bytes));
  if (at_end) verticalScrollBar()->setValue(verticalScrollBar()->maximum());
}

}  // namespace qatwb::ui
