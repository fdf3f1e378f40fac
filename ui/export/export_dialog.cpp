#include "ui/export/export_dialog.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QFileDialog>
#include <QFontDatabase>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QVBoxLayout>

#include "ui/widgets/child_process.h"
#include "ui/widgets/qatwb_binary.h"

namespace qatwb::ui {

ExportDialog::ExportDialog(const QString& source, QWidget* parent) : QDialog(parent) {
  setWindowTitle(tr("Export model"));
  auto* form = new QFormLayout;
  source_ = new QLineEdit(source);
  source_->setObjectName("source");
  source_->setPlaceholderText(tr("run directory, <run>/checkpoints/step-N, or a model folder"));
  auto* browse_source = new QPushButton(tr("Browse..."));
  connect(browse_source, &QPushButton::clicked, this, [this] {
    const QString d =
        QFileDialog::getExistingDirectory(this, tr("Run, checkpoint or model"), source_->text());
    if (!d.isEmpty()) source_->setText(d);
  });
  auto* source_row = new QHBoxLayout;
  source_row->addWidget(source_, 1);
  source_row->addWidget(browse_source);
  form->addRow(tr("Source"), source_row);
  format_ = new QComboBox;
  format_->setObjectName("format");
  for (const auto& row : enum_rows_of<exporter::ExportFormat>())  // `qatwb export --format`
    format_->addItem(QString::fromUtf8(row.help), QString::fromUtf8(row.name));
  form->addRow(tr("Format"), format_);
  out_ = new QLineEdit;
  out_->setObjectName("out");
  out_->setPlaceholderText(tr("default: <run>/exports/<format> (GGUF: a .gguf file)"));
  auto* browse_out = new QPushButton(tr("Browse..."));
  connect(browse_out, &QPushButton::clicked, this, [this] {
    const QString d =
        current_format() == exporter::ExportFormat::Gguf
            ? QFileDialog::getSaveFileName(this, tr("GGUF file"), out_->text(), tr("GGUF (*.gguf)"))
            : QFileDialog::getExistingDirectory(this, tr("Output folder"));
    if (!d.isEmpty()) out_->setText(d);
  });
  auto* out_row = new QHBoxLayout;
  out_row->addWidget(out_, 1);
  out_row->addWidget(browse_out);
  form->addRow(tr("Output"), out_row);
  dtype_ = new QComboBox;
  dtype_->setObjectName("dtype");
  dtype_->addItem(tr("the model's own"), QString());
  for (const char* d : {"float32", "bfloat16", "float16"}) dtype_->addItem(d, QString(d));
  dtype_->setToolTip(
      tr("--dtype: the dtype of float tensors (norms, embeddings, unquantized "
         "Linears; HF: every tensor)"));
  form->addRow(tr("Float dtype"), dtype_);
  scale_dtype_ = new QComboBox;
  scale_dtype_->setObjectName("scale_dtype");
  scale_dtype_->addItem(tr("float16 (vLLM, ExLlama)"), QString("float16"));
  scale_dtype_->addItem(QString("float32"), QString("float32"));
  scale_dtype_->setToolTip(tr("--scale-dtype: the dtype of GPTQ scales"));
  form->addRow(tr("GPTQ scale dtype"), scale_dtype_);
  gguf_float_ = new QComboBox;
  gguf_float_->setObjectName("gguf_float");
  gguf_float_->addItem(tr("default (f32 for a float32 model)"), QString());
  gguf_float_->addItem(QString("f32"), QString("f32"));
  gguf_float_->addItem(QString("f16"), QString("f16"));
  gguf_float_->setToolTip(tr("--gguf-float: the GGUF type of float tensors"));
  form->addRow(tr("GGUF float type"), gguf_float_);
  // Each control is live only for the formats its option applies to.
  auto sync_controls = [this] {
    const auto f = current_format();
    dtype_->setEnabled(f != exporter::ExportFormat::Gguf);
    scale_dtype_->setEnabled(f == exporter::ExportFormat::Gptq);
    gguf_float_->setEnabled(f == exporter::ExportFormat::Gguf);
  };
  connect(format_, qOverload<int>(&QComboBox::currentIndexChanged), this, sync_controls);
  sync_controls();

  log_ = new QPlainTextEdit;
  log_->setObjectName("export_log");
  log_->setReadOnly(true);
  log_->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
  status_ = new QLabel;
  status_->setObjectName("export_status");
  status_->setWordWrap(true);
  status_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  auto* buttons = new QDialogButtonBox;
  run_ = buttons->addButton(tr("Export"), QDialogButtonBox::ActionRole);
  run_->setObjectName("export_run");
  close_ = buttons->addButton(QDialogButtonBox::Close);
  connect(run_, &QPushButton::clicked, this, &ExportDialog::start_export);
  connect(close_, &QPushButton::clicked, this, &QDialog::reject);

  auto* layout = new QVBoxLayout(this);
  layout->addLayout(form);
  layout->addWidget(log_, 1);
  layout->addWidget(status_);
  layout->addWidget(buttons);
  resize(640, 420);

  process_ = new ChildProcess(this);
  connect(process_, &ChildProcess::output, this, [this](const QByteArray& b) { append(b); });
  connect(process_, &ChildProcess::finished, this, &ExportDialog::on_finished);
}

ExportDialog::~ExportDialog() = default;  // process_ kills a running export

void ExportDialog::set_source(const QString& source) { source_->setText(source); }
void ExportDialog::set_output(const QString& out) { out_->setText(out); }
exporter::ExportFormat ExportDialog::current_format() const {
  return parse_enum<exporter::ExportFormat>(format_->currentData().toString().toStdString())
      .value_or(exporter::ExportFormat::Hf);
}

void ExportDialog::set_format(const QString& format) {
  const int i = format_->findData(format);
  if (i >= 0) format_->setCurrentIndex(i);
}

QStringList ExportDialog::arguments() const {
  QStringList args{"export", source_->text().trimmed(), "--format",
                   format_->currentData().toString()};
  if (!out_->text().trimmed().isEmpty()) args << "--out" << out_->text().trimmed();
  if (dtype_->isEnabled() && !dtype_->currentData().toString().isEmpty())
    args << "--dtype" << dtype_->currentData().toString();
  if (scale_dtype_->isEnabled() && scale_dtype_->currentData().toString() != "float16")
    args << "--scale-dtype" << scale_dtype_->currentData().toString();
  if (gguf_float_->isEnabled() && !gguf_float_->currentData().toString().isEmpty())
    args << "--gguf-float" << gguf_float_->currentData().toString();
  return args;
}

bool ExportDialog::running() const { return process_->running(); }

QString ExportDialog::status_text() const { return status_->text(); }
QString ExportDialog::log_text() const { return log_->toPlainText(); }

void ExportDialog::start_export() {
  if (running()) return;
  if (source_->text().trimmed().isEmpty()) {
    status_->setStyleSheet("color: #c0392b;");
    status_->setText(tr("Choose what to export (a run directory, checkpoint or model folder)."));
    return;
  }
  log_->clear();
  exit_code_ = -1;
  const QString program = qatwb_binary();
  append(QString("$ %1 %2\n").arg(program, arguments().join(' ')).toUtf8());
  status_->setStyleSheet({});
  status_->setText(tr("Exporting..."));
  run_->setEnabled(false);
  process_->start(program, arguments());
}

void ExportDialog::append(const QByteArray& bytes) {
  log_->moveCursor(QTextCursor::End);
  log_->insertPlainText(QString::fromUtf8(bytes));
  log_->moveCursor(QTextCursor::End);
}

void ExportDialog::on_finished() {
  run_->setEnabled(true);
  const bool ok = process_->ok();
  const bool exited = process_->end() == ChildProcess::End::exited;
  exit_code_ = exited ? process_->exit_code() : -2;
  if (ok) {
    const QStringList lines = QString::fromUtf8(process_->standard_output()).trimmed().split('\n');
    status_->setStyleSheet("color: #27ae60;");
    status_->setText(tr("Exported to %1").arg(lines.isEmpty() ? QString() : lines.last()));
  } else {
    // The CLI's last stderr line is its one clear message.
    QStringList lines = log_->toPlainText().trimmed().split('\n');
    const QString why = process_->end() == ChildProcess::End::failed_to_start
                            ? process_->message()  // cannot start <qatwb>: <why>
                            : lines.last();
    status_->setStyleSheet("color: #c0392b;");
    status_->setText(exited ? tr("Export failed (exit %1): %2").arg(exit_code_).arg(why)
                            : tr("Export crashed: %1").arg(why));
  }
  Q_EMIT export_finished(ok);
}

}  // namespace qatwb::ui
