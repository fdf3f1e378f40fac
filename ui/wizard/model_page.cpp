// Wizard page 1: project name and file, and the model (an HF folder checked on the spot with
// `qatwb model info DIR --json`, or a preset with random init).
#include <QButtonGroup>
#include <QComboBox>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLineEdit>
#include <QPushButton>
#include <QRadioButton>
#include <QSpinBox>

#include "core/model/llama_config.h"
#include "core/project/field_patterns.h"
#include "ui/widgets/child_process.h"
#include "ui/widgets/field_message.h"
#include "ui/widgets/qatwb_binary.h"
#include "ui/wizard/project_wizard.h"

namespace qatwb::ui {

namespace {

// The input widths of a preset's Linear layers (core/model/llama_config.cpp, torch-free), for
// the group-size check; nullopt for a name core does not know.
std::optional<ModelShape> preset_shape(const QString& name) {
  try {
    const auto c = model::preset(name.toStdString(), 0);
    return ModelShape{c.hidden_size, c.intermediate_size, c.num_attention_heads * c.head_dim};
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

QWidget* with_button(QLineEdit* edit, QPushButton* button) {
  auto* row = new QWidget;
  auto* h = new QHBoxLayout(row);
  h->setContentsMargins(0, 0, 0, 0);
  h->addWidget(edit, 1);
  h->addWidget(button);
  return row;
}

}  // namespace

ModelPage::ModelPage(QWidget* parent) : QWizardPage(parent) {
  setTitle(tr("Project and model"));
  setSubTitle(tr("Name the project, choose where its YAML goes, and pick the model to quantize."));
  process_ = new ChildProcess(this);
  connect(process_, &ChildProcess::finished, this, &ModelPage::on_info_finished);
  auto* form = new QFormLayout(this);
  name_ = new QLineEdit;
  name_->setObjectName("name");
  name_->setPlaceholderText(tr("e.g. llama-w2-stableqat"));
  name_msg_ = new FieldMessage;
  form->addRow(tr("Name"), name_);
  form->addRow(QString(), name_msg_);

  file_ = new QLineEdit;
  file_->setObjectName("file");
  auto* browse_file = new QPushButton(tr("Browse..."));
  connect(browse_file, &QPushButton::clicked, this, [this] {
    const QString f = QFileDialog::getSaveFileName(this, tr("Project file"), output_path(),
                                                   tr("YAML (*.yaml *.yml)"));
    if (!f.isEmpty()) file_->setText(f);
  });
  file_msg_ = new FieldMessage;
  form->addRow(tr("Project file"), with_button(file_, browse_file));
  form->addRow(QString(), file_msg_);

  use_path_ = new QRadioButton(tr("Hugging Face folder"));
  use_path_->setObjectName("use_model_path");
  use_preset_ = new QRadioButton(tr("Preset (random init)"));
  use_preset_->setObjectName("use_preset");
  auto* group = new QButtonGroup(this);
  group->addButton(use_path_);
  group->addButton(use_preset_);
  use_path_->setChecked(true);

  path_ = new QLineEdit;
  path_->setObjectName("model_path");
  path_->setPlaceholderText(tr("folder with config.json, *.safetensors, tokenizer.json"));
  auto* browse_dir = new QPushButton(tr("Browse..."));
  connect(browse_dir, &QPushButton::clicked, this, [this] {
    const QString d = QFileDialog::getExistingDirectory(this, tr("HF model folder"), path_->text());
    if (!d.isEmpty()) path_->setText(d);
  });
  path_msg_ = new FieldMessage;
  path_msg_->setObjectName("model_path_message");
  form->addRow(use_path_, with_button(path_, browse_dir));
  form->addRow(QString(), path_msg_);

  preset_ = new QComboBox;
  preset_->setObjectName("preset");
  for (const auto& p : model::preset_names()) preset_->addItem(QString::fromStdString(p));
  preset_->setCurrentText("llama-tiny");
  seed_ = new QSpinBox;
  seed_->setObjectName("model_seed");
  seed_->setRange(0, 1 << 30);
  form->addRow(use_preset_, preset_);
  form->addRow(tr("Init seed"), seed_);

  auto revalidate = [this] { validate(); };
  connect(name_, &QLineEdit::textChanged, this, revalidate);
  connect(file_, &QLineEdit::textChanged, this, revalidate);
  connect(preset_, &QComboBox::currentTextChanged, this, revalidate);
  connect(use_path_, &QRadioButton::toggled, this, [this](bool on) {
    if (on)
      check_folder();
    else
      validate();
  });
  connect(path_, &QLineEdit::textChanged, this, [this] { check_folder(); });
  validate();
}

bool ModelPage::checking() const { return process_->running(); }

QString ModelPage::output_path() const {
  if (!file_->text().trimmed().isEmpty())
    return QFileInfo(file_->text().trimmed()).absoluteFilePath();
  const QString name = name_->text().trimmed().isEmpty() ? "project" : name_->text().trimmed();
  return QDir::current().absoluteFilePath(name + ".yaml");
}

void ModelPage::check_folder() {
  folder_ok_ = false;
  checked_folder_.clear();
  process_->stop(0);  // an older check, not reported
  const QString dir = path_->text().trimmed();
  if (dir.isEmpty()) {
    path_msg_->show_error(use_path_->isChecked() ? tr("Choose a model folder.") : QString());
  } else if (!QFileInfo(dir).isDir()) {
    path_msg_->show_error(tr("%1: no such folder").arg(dir));
  } else if (!QFileInfo(dir + "/config.json").isFile()) {
    path_msg_->show_error(tr("%1: no config.json (not a Hugging Face model folder)").arg(dir));
  } else {
    path_msg_->show_info(tr("Checking %1 ...").arg(dir));
    checking_folder_ = dir;
    process_->start(qatwb_binary(), {"model", "info", dir, "--json"});
  }
  validate();
}

void ModelPage::on_info_finished() {
  const QString dir = checking_folder_;
  const QByteArray out = process_->standard_output();
  const QString err = QString::fromUtf8(process_->standard_error()).trimmed();
  if (dir != path_->text().trimmed()) return;  // an older check
  checked_folder_ = dir;
  auto* w = static_cast<ProjectWizard*>(wizard());
  if (!process_->ok()) {
    path_msg_->show_error(
        err.isEmpty() ? tr("%1: `qatwb model info` failed (%2)").arg(dir, process_->error_string())
                      : err);
    if (w) w->set_model_shape(std::nullopt);
    validate();
    return;
  }
  const QJsonObject info = QJsonDocument::fromJson(out).object();
  const QJsonObject c = info.value("config").toObject();
  ModelShape shape;
  shape.hidden = c.value("hidden_size").toInteger();
  shape.intermediate = c.value("intermediate_size").toInteger();
  const int64_t heads = c.value("num_attention_heads").toInteger();
  const int64_t head_dim =
      c.contains("head_dim") ? c.value("head_dim").toInteger() : (heads ? shape.hidden / heads : 0);
  shape.attention = heads * head_dim;
  if (w) w->set_model_shape(shape);
  const bool tokenizer = QFileInfo(dir + "/tokenizer.json").isFile();
  folder_ok_ = true;
  path_msg_->show_info(
      tr("%1: %2 layers, hidden %3, intermediate %4, vocab %5; %6 tensors, %7 parameters; %8")
          .arg(c.value("model_type").toString("llama"))
          .arg(c.value("num_hidden_layers").toInteger())
          .arg(shape.hidden)
          .arg(shape.intermediate)
          .arg(c.value("vocab_size").toInteger())
          .arg(info.value("tensors").toArray().size())
          .arg(info.value("parameters").toInteger())
          .arg(tokenizer ? tr("tokenizer.json found")
                         : tr("no tokenizer.json (choose one on the Tokenization page)")));
  validate();
}

void ModelPage::validate() {
  const QString name = name_->text().trimmed();
  name_msg_->show_error(
      name.isEmpty() ? tr("A project needs a name.")
      : !project::is_plain_name(name.toStdString())
          ? tr("Letters, digits, '.', '_' and '-' only (it names the run folder).")
          : QString());
  const QString out = output_path();
  QString file_error;
  if (!out.endsWith(".yaml") && !out.endsWith(".yml"))
    file_error = tr("The project file must end in .yaml");
  else if (QFileInfo::exists(out))
    file_error = tr("%1 already exists (choose another file)").arg(out);
  file_msg_->show_error(file_error);
  if (file_error.isEmpty() && file_->text().trimmed().isEmpty())
    file_msg_->show_info(tr("Will be written to %1").arg(out));
  path_->setEnabled(use_path_->isChecked());
  preset_->setEnabled(use_preset_->isChecked());
  seed_->setEnabled(use_preset_->isChecked());
  auto* w = static_cast<ProjectWizard*>(wizard());
  if (w && use_preset_->isChecked()) {
    if (const auto shape = preset_shape(preset_->currentText())) w->set_model_shape(shape);
  }
  if (use_path_->isChecked() && path_->text().trimmed().isEmpty())
    path_msg_->show_error(tr("Choose a model folder."));
  else if (use_preset_->isChecked() && path_msg_->has_error())
    path_msg_->show_error({});
  Q_EMIT completeChanged();
}

bool ModelPage::isComplete() const {
  if (name_msg_->has_error() || file_msg_->has_error()) return false;
  if (use_preset_->isChecked()) return true;
  return folder_ok_ && checked_folder_ == path_->text().trimmed();
}

void ModelPage::fill(project::ProjectConfig& c) const {
  c.name = name_->text().trimmed().toStdString();
  if (use_path_->isChecked()) {
    c.model.path = QFileInfo(path_->text().trimmed()).absoluteFilePath().toStdString();
  } else {
    c.model.preset = preset_->currentText().toStdString();
    c.model.seed = seed_->value();
  }
}

}  // namespace qatwb::ui
