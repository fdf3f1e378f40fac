// A small label under a form field that shows why the value is refused (red) or what was found
// (grey); empty and hidden when there is nothing to say. Its height is reserved whether it is
// shown or not (two lines; the whole text in its tooltip), so the fields below never move when a
// message appears: a click aimed at a field lands in that field.
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
  // Lines of height kept for the message (default 2); 0: as tall as the text, not reserved (for
  // a message under everything else, e.g. a page's list of errors).
  void set_reserved_lines(int lines);

 private:
  void show_text(const QString& text);
  bool error_ = false;
  int lines_ = 2;
};

}  // namespace qatwb::ui
