#include "ui/widgets/field_message.h"

namespace qatwb::ui {

FieldMessage::FieldMessage(QWidget* parent) : QLabel(parent) {
  setWordWrap(true);
  setTextInteractionFlags(Qt::TextSelectableByMouse);
  setVisible(false);
}

void FieldMessage::show_error(const QString& text) {
  error_ = !text.isEmpty();
  setStyleSheet(QStringLiteral("color: #c0392b;"));
  setText(text);
  setVisible(!text.isEmpty());
}

void FieldMessage::show_info(const QString& text) {
  error_ = false;
  setStyleSheet(QStringLiteral("color: #555555;"));
  setText(text);
  setVisible(!text.isEmpty());
}

}  // namespace qatwb::ui
