#include "ui/wizard/project_wizard.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QSaveFile>
#include <QTemporaryFile>
#include <QVBoxLayout>

#include "core/project/project_memory.h"
#include "core/project/project_yaml.h"
#include "ui/widgets/field_message.h"

namespace qatwb::ui {

ProjectWizard::ProjectWizard(QWidget* parent) : QWizard(parent) {
  setWindowTitle(tr("New QAT project"));
  setOption(QWizard::NoBackButtonOnStartPage);
  setPage(ModelPageId, new ModelPage);
  setPage(DataPageId, new DataPage);
  setPage(TokenizePageId, new TokenizePage);
  setPage(QuantPageId, new QuantPage);
  setPage(TrainPageId, new TrainPage);
  setPage(RunnerPageId, new RunnerPage);
  setPage(SummaryPageId, new SummaryPage);
  setStartId(ModelPageId);
  resize(760, 620);
}

project::ProjectConfig ProjectWizard::config() const {
  project::ProjectConfig c;
  static_cast<ModelPage*>(page(ModelPageId))->fill(c);
  static_cast<DataPage*>(page(DataPageId))->fill(c);
  static_cast<TokenizePage*>(page(TokenizePageId))->fill(c);
  static_cast<QuantPage*>(page(QuantPageId))->fill(c);
  static_cast<TrainPage*>(page(TrainPageId))->fill(c);
  static_cast<RunnerPage*>(page(RunnerPageId))->fill(c);
  return c;
}

QString ProjectWizard::output_path() const {
  return static_cast<ModelPage*>(page(ModelPageId))->output_path();
}

bool ProjectWizard::validateCurrentPage() {
  if (currentId() != SummaryPageId) return QWizard::validateCurrentPage();
  auto* summary = static_cast<SummaryPage*>(page(SummaryPageId));
  const QString target = output_path();
  const QString problems = validate_project_yaml(summary->yaml(), target);
  if (!problems.isEmpty()) return false;  // isComplete() already keeps Finish disabled
  QDir().mkpath(QFileInfo(target).absolutePath());
  QSaveFile out(target);
  if (!out.open(QIODevice::WriteOnly) || out.write(summary->yaml().toUtf8()) < 0 || !out.commit()) {
    QMessageBox::critical(this, tr("New project"),
                          tr("Cannot write %1: %2").arg(target, out.errorString()));
    return false;
  }
  written_ = target;
  return true;
}

QString validate_project_yaml(const QString& yaml, const QString& target) {
  const QString folder = QFileInfo(target).absolutePath();
  QDir().mkpath(folder);
  QTemporaryFile tmp(folder + "/.qatwb-wizard-XXXXXX.yaml");
  if (!tmp.open()) return QObject::tr("%1: cannot write a temporary file").arg(folder);
  tmp.write(yaml.toUtf8());
  tmp.close();
  try {
    project::load_project(tmp.fileName().toStdString());
    return {};
  } catch (const project::ProjectErrors& e) {
    QStringList lines;
    // Name the file that will be written, not the temporary one.
    for (const auto& d : e.diagnostics()) {
      project::Diagnostic shown = d;
      if (QString::fromStdString(shown.file) == tmp.fileName()) shown.file = target.toStdString();
      lines << QString::fromStdString(shown.to_string());
    }
    return lines.join('\n');
  } catch (const std::exception& e) {
    return QString::fromUtf8(e.what()).replace(tmp.fileName(), target);
  }
}

SummaryPage::SummaryPage(QWidget* parent) : QWizardPage(parent) {
  setTitle(tr("Summary"));
  setSubTitle(tr("This exact YAML is written when you press Finish."));
  auto* layout = new QVBoxLayout(this);
  yaml_ = new QPlainTextEdit;
  yaml_->setObjectName("yaml");
  yaml_->setReadOnly(true);
  yaml_->setLineWrapMode(QPlainTextEdit::NoWrap);
  QFont mono("monospace");
  mono.setStyleHint(QFont::TypeWriter);
  yaml_->setFont(mono);
  errors_ = new FieldMessage;
  errors_->setObjectName("summary_errors");
  errors_->set_reserved_lines(0);  // under everything else: grows with the list of errors
  // Peak training memory for the project's model, batch, seq, dtype and device (the same text
  // `qatwb project check` prints), so a run that cannot fit is seen before it is submitted.
  memory_ = new QPlainTextEdit;
  memory_->setObjectName("memory_estimate");
  memory_->setReadOnly(true);
  memory_->setLineWrapMode(QPlainTextEdit::NoWrap);
  memory_->setFont(mono);
  memory_->setMaximumHeight(150);
  layout->addWidget(yaml_, 1);
  layout->addWidget(memory_);
  layout->addWidget(errors_);
}

void SummaryPage::initializePage() {
  auto* w = static_cast<ProjectWizard*>(wizard());
  QString text;
  QString problems;
  try {
    text = QString::fromStdString(project::to_yaml(w->config()));
    problems = validate_project_yaml(text, w->output_path());
  } catch (const std::exception& e) {
    problems = QString::fromUtf8(e.what());
  }
  yaml_->setPlainText(text);
  memory_->setPlainText(QString::fromStdString(project::project_memory_estimate(w->config())));
  errors_->show_error(problems);
  valid_ = problems.isEmpty();
  Q_EMIT completeChanged();
}

bool SummaryPage::isComplete() const { return valid_; }
QString SummaryPage::yaml() const { return yaml_->toPlainText(); }
QString SummaryPage::errors() const { return errors_->text(); }

}  // namespace qatwb::ui
