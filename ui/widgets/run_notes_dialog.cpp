#include "ui/widgets/run_notes_dialog.h"

#include <QDialogButtonBox>
#include <QFormLayout>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QVBoxLayout>

#include "core/store/store.h"
#include "core/util/error.h"
#include "ui/widgets/field_message.h"

namespace qatwb::ui {

RunNotesDialog::RunNotesDialog(const QString& run_name, const std::vector<std::string>& tags,
                               const QString& note, QWidget* parent)
    : QDialog(parent) {
  setObjectName("run_notes_dialog");
  setWindowTitle(tr("Tags and note: %1").arg(run_name));
  QStringList joined;
  for (const auto& t : tags) joined << QString::fromStdString(t);
  tags_ = new QLineEdit(joined.join(", "));
  tags_->setObjectName("run_tags");
  tags_->setPlaceholderText(tr("e.g. baseline, w2-final, lab-a"));
  message_ = new FieldMessage;
  message_->setObjectName("run_tags_message");
  note_ = new QPlainTextEdit(note);
  note_->setObjectName("run_note");
  note_->setPlaceholderText(tr("What this run is, what went wrong, where its copy came from"));
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel);
  ok_ = buttons->button(QDialogButtonBox::Ok);
  auto* form = new QFormLayout;
  form->addRow(tr("Tags"), tags_);
  form->addRow(QString(), message_);
  form->addRow(tr("Note"), note_);
  auto* layout = new QVBoxLayout(this);
  layout->addLayout(form);
  layout->addWidget(buttons);
  connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
  connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
  connect(tags_, &QLineEdit::textChanged, this, [this] { validate(); });
  resize(480, 300);
  validate();
}

void RunNotesDialog::validate() {
  QString error;
  try {
    for (const auto& t : tags()) store::check_tag(t);
  } catch (const Error& e) {
    error = QString::fromUtf8(e.what());
  }
  message_->show_error(error);
  ok_->setEnabled(error.isEmpty());
}

std::vector<std::string> RunNotesDialog::tags() const {
  return store::split_tags(tags_->text().toStdString());
}

QString RunNotesDialog::note() const { return note_->toPlainText(); }

}  // namespace qatwb::ui
