// A small label under a form field that shows why the value is refused (red) or what was found
// (grey); empty and hidden when there is nothing to say.
#pragma once
#include <QLabel>

namespace qatwb::ui {

class FieldMessage : public QLabel {
  Q_OBJECT

 public:
  explicit FieldMessage(QWidget* parent = nullptr);
  void show_error(const QString& text);  // "" clears
  void show_info(const QString& text);
  bool has_error() const { return error_; }

 private:
  bool error_ = false;
};

}  // namespace qatwb::ui
