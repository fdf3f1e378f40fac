// "Tags and note" for one run: a tags field (words separated by commas or spaces, checked with
// the store's own rule as they are typed; OK stays disabled on a bad one) and a free-text note.
// objectNames: "run_tags", "run_note", "run_tags_message".
#pragma once
#include <QDialog>
#include <string>
#include <vector>

class QLineEdit;
class QPlainTextEdit;
class QPushButton;

namespace qatwb::ui {

class FieldMessage;

class RunNotesDialog : public QDialog {
  Q_OBJECT

 public:
  RunNotesDialog(const QString& run_name, const std::vector<std::string>& tags, const QString& note,
                 QWidget* parent = nullptr);
  std::vector<std::string> tags() const;
  QString note() const;

 private:
  void validate();
  QLineEdit* tags_;
  QPlainTextEdit* note_;
  FieldMessage* message_;
  QPushButton* ok_;
};

}  // namespace qatwb::ui
