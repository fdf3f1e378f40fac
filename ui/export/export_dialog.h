// Export a run (or checkpoint, or model folder) with `qatwb export` run as a child process:
// format (hf, gptq, compressed-tensors, gguf), source, output (default: the CLI's
// <run>/exports/<format>), the float dtype (--dtype), GPTQ scale dtype (--scale-dtype) and GGUF
// float type (--gguf-float), each enabled for the formats it applies to, its output streamed as
// progress text, then the exit status; errors (bad source, unwritable output) are shown as the CLI
// reports them.
#pragma once
#include <QDialog>

#include "core/export/export_format.h"

class QComboBox;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QPushButton;

namespace qatwb::ui {

class ChildProcess;

class ExportDialog : public QDialog {
  Q_OBJECT

 public:
  explicit ExportDialog(const QString& source = {}, QWidget* parent = nullptr);
  ~ExportDialog() override;  // kills a running export

  void set_source(const QString& source);
  void set_format(const QString& format);  // a name of core/export/export_format.h's table
  void set_output(const QString& out);
  // The arguments given to qatwb (for display and tests).
  QStringList arguments() const;
  void start_export();
  bool running() const;
  QString status_text() const;
  QString log_text() const;
  int exit_code() const { return exit_code_; }  // -1 until an export finished

 Q_SIGNALS:
  void export_finished(bool ok);

 private:
  exporter::ExportFormat current_format() const;
  void on_finished();
  void append(const QByteArray& bytes);
  QLineEdit *source_, *out_;
  QComboBox *format_, *dtype_, *scale_dtype_, *gguf_float_;
  QPlainTextEdit* log_;
  QLabel* status_;
  QPushButton *run_, *close_;
  ChildProcess* process_;
  int exit_code_ = -1;
};

}  // namespace qatwb::ui
