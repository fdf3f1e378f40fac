// Wizard pages 2 and 3: dataset sampling (files, text field, token budget, seed, held-out) and
// tokenization (tokenizer, sequence length, BOS/EOS policy).
#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLineEdit>
#include <QListWidget>
#include <QPushButton>
#include <QSpinBox>
#include <QVBoxLayout>

#include "ui/widgets/field_message.h"
#include "ui/wizard/core_names.h"
#include "ui/wizard/project_wizard.h"

namespace qatwb::ui {

DataPage::DataPage(QWidget* parent) : QWizardPage(parent) {
  setTitle(tr("Dataset sampling"));
  setSubTitle(
      tr("Text sources (.jsonl, .jsonl.zst, .jsonl.gz, .txt or folders of those) are "
         "sampled with a seed; a fraction is held out for perplexity."));
  auto* form = new QFormLayout(this);
  sources_ = new QListWidget;
  sources_->setObjectName("sources");
  auto* add = new QPushButton(tr("Add files..."));
  auto* add_dir = new QPushButton(tr("Add folder..."));
  auto* remove = new QPushButton(tr("Remove"));
  connect(add, &QPushButton::clicked, this, [this] {
    for (const QString& f : QFileDialog::getOpenFileNames(
             this, tr("Text sources"), {}, tr("Text (*.jsonl *.zst *.gz *.txt);;All files (*)")))
      add_source(f);
  });
  connect(add_dir, &QPushButton::clicked, this, [this] {
    const QString d = QFileDialog::getExistingDirectory(this, tr("Folder of text sources"));
    if (!d.isEmpty()) add_source(d);
  });
  connect(remove, &QPushButton::clicked, this, [this] {
    qDeleteAll(sources_->selectedItems());
    validate();
  });
  auto* buttons = new QVBoxLayout;
  buttons->addWidget(add);
  buttons->addWidget(add_dir);
  buttons->addWidget(remove);
  buttons->addStretch();
  auto* row = new QHBoxLayout;
  row->addWidget(sources_, 1);
  row->addLayout(buttons);
  sources_msg_ = new FieldMessage;
  form->addRow(tr("Sources"), row);
  form->addRow(QString(), sources_msg_);

  text_field_ = new QLineEdit("text");
  text_field_->setObjectName("text_field");
  text_field_msg_ = new FieldMessage;
  form->addRow(tr("JSONL text field"), text_field_);
  form->addRow(QString(), text_field_msg_);
  max_tokens_ = new QSpinBox;
  max_tokens_->setObjectName("max_tokens");
  max_tokens_->setRange(0, 2000000000);
  max_tokens_->setSpecialValueText(tr("no limit"));
  max_tokens_->setToolTip(tr("Approximate token budget of the sample; 0: no limit"));
  form->addRow(tr("Token budget"), max_tokens_);
  seed_ = new QSpinBox;
  seed_->setObjectName("data_seed");
  seed_->setRange(0, 1 << 30);
  form->addRow(tr("Sampling seed"), seed_);
  heldout_ = new QDoubleSpinBox;
  heldout_->setObjectName("heldout_fraction");
  heldout_->setDecimals(3);
  heldout_->setRange(0.001, 0.5);
  heldout_->setSingleStep(0.01);
  heldout_->setValue(0.1);
  form->addRow(tr("Held-out fraction"), heldout_);
  connect(text_field_, &QLineEdit::textChanged, this, [this] { validate(); });
  validate();
}

void DataPage::add_source(const QString& path) {
  sources_->addItem(QFileInfo(path).absoluteFilePath());
  validate();
}

void DataPage::validate() {
  QStringList missing;
  for (int i = 0; i < sources_->count(); ++i)
    if (!QFileInfo::exists(sources_->item(i)->text())) missing << sources_->item(i)->text();
  sources_msg_->show_error(sources_->count() == 0 ? tr("Add at least one text source.")
                           : missing.isEmpty()    ? QString()
                                                  : tr("Not found: %1").arg(missing.join(", ")));
  text_field_msg_->show_error(text_field_->text().trimmed().isEmpty()
                                  ? tr("The JSON field holding the text (usually \"text\").")
                                  : QString());
  Q_EMIT completeChanged();
}

bool DataPage::isComplete() const {
  return !sources_msg_->has_error() && !text_field_msg_->has_error();
}

void DataPage::fill(project::ProjectConfig& c) const {
  c.data.sources.clear();
  for (int i = 0; i < sources_->count(); ++i) {
    project::DataSource s;
    s.path = sources_->item(i)->text().toStdString();
    s.text_field = text_field_->text().trimmed().toStdString();
    c.data.sources.push_back(s);
  }
  c.data.max_tokens = max_tokens_->value();
  c.data.seed = seed_->value();
  c.data.heldout_fraction = heldout_->value();
}

TokenizePage::TokenizePage(QWidget* parent) : QWizardPage(parent) {
  setTitle(tr("Tokenization"));
  setSubTitle(tr("Documents are tokenized and cut into training windows of a fixed length."));
  auto* form = new QFormLayout(this);
  tokenizer_ = new QLineEdit;
  tokenizer_->setObjectName("tokenizer");
  auto* browse = new QPushButton(tr("Browse..."));
  connect(browse, &QPushButton::clicked, this, [this] {
    const QString f = QFileDialog::getOpenFileName(this, tr("tokenizer.json"), tokenizer_->text(),
                                                   tr("Tokenizer (tokenizer.json *.json)"));
    if (!f.isEmpty()) tokenizer_->setText(f);
  });
  auto* row = new QHBoxLayout;
  row->addWidget(tokenizer_, 1);
  row->addWidget(browse);
  tokenizer_msg_ = new FieldMessage;
  form->addRow(tr("Tokenizer"), row);
  form->addRow(QString(), tokenizer_msg_);
  seq_len_ = new QSpinBox;
  seq_len_->setObjectName("seq_len");
  seq_len_->setRange(8, 1 << 20);
  seq_len_->setValue(256);
  form->addRow(tr("Sequence length"), seq_len_);
  bos_ = new QComboBox;
  bos_->setObjectName("bos");
  add_enum_items(bos_, project::TokenizeSection{}.bos, /*described=*/true);
  form->addRow(tr("BOS"), bos_);
  eos_ = new QCheckBox(tr("EOS between documents"));
  eos_->setObjectName("eos_between_documents");
  eos_->setChecked(true);
  form->addRow(QString(), eos_);
  connect(tokenizer_, &QLineEdit::textChanged, this, [this] { validate(); });
}

void TokenizePage::initializePage() {
  // Default: the model folder's tokenizer.json.
  project::ProjectConfig c;
  auto* model = static_cast<ModelPage*>(wizard()->page(ProjectWizard::ModelPageId));
  model->fill(c);
  if (tokenizer_->text().isEmpty() && !c.model.path.empty()) {
    const QString guess = QString::fromStdString(c.model.path) + "/tokenizer.json";
    if (QFileInfo(guess).isFile()) tokenizer_->setText(guess);
  }
  validate();
}

void TokenizePage::validate() {
  const QString t = tokenizer_->text().trimmed();
  tokenizer_msg_->show_error(t.isEmpty()              ? tr("Choose the model's tokenizer.json.")
                             : !QFileInfo(t).isFile() ? tr("%1: no such file").arg(t)
                                                      : QString());
  Q_EMIT completeChanged();
}

bool TokenizePage::isComplete() const { return !tokenizer_msg_->has_error(); }

void TokenizePage::fill(project::ProjectConfig& c) const {
  const QString t = tokenizer_->text().trimmed();
  if (!t.isEmpty()) c.model.tokenizer = QFileInfo(t).absoluteFilePath().toStdString();
  c.tokenize.seq_len = seq_len_->value();
  c.tokenize.bos = current_enum(bos_, c.tokenize.bos);
  c.tokenize.eos_between_documents = eos_->isChecked();
}

}  // namespace qatwb::ui
