#include "ui/widgets/field_message.h"

#include <algorithm>

namespace qatwb::ui {

FieldMessage::FieldMessage(QWidget* parent) : QLabel(parent) {
  setWordWrap(true);
  setTextInteractionFlags(Qt::TextSelectableByMouse);
  setAlignment(Qt::AlignLeft | Qt::AlignTop);
  set_reserved_lines(2);
  setVisible(false);
}

void FieldMessage::set_reserved_lines(int lines) {
  lines_ = std::max(0, lines);
  QSizePolicy p = sizePolicy();
  p.setRetainSizeWhenHidden(lines_ > 0);
  setSizePolicy(p);
  if (lines_ > 0) {
    setFixedHeight(lines_ * fontMetrics().lineSpacing() + 2);
  } else {
    setMinimumHeight(0);
    setMaximumHeight(QWIDGETSIZE_MAX);
  }
}

void FieldMessage::show_text(const QString& text) {
  setText(text);
  setToolTip(text);
  setVisible(!text.isEmpty());
}

void FieldMessage::show_error(const QString& text) {
  error_ = !text.isEmpty();
  setStyleSheet(QStringLiteral("color: #c0392b;"));
  show_text(text);
}

void FieldMessage::show_info(const QString& text) {
  error_ = false;
  setStyleSheet(QStringLiteral("color: #555555;"));
  show_text(text);
}

}  // namespace qatwb::ui
