// "New sweep": a base project, a grid of values per project key, overrides for every point, the
// launcher, concurrency and the report's grouping, written as a sweep YAML (core/sweep's format,
// output under <database folder>/sweeps/<name>) that `qatwb batch` runs. "Check" runs
// `qatwb batch FILE --dry-run` and shows the points it would run (or the file:line errors).
#pragma once
#include <QDialog>
#include <QStringList>

class QComboBox;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QSpinBox;

namespace qatwb::ui {

class SweepDialog : public QDialog {
  Q_OBJECT

 public:
  SweepDialog(const QString& db_path, const QString& base_project, QWidget* parent = nullptr);
  ~SweepDialog() override;

  // The sweep YAML the fields describe; "" with `error` set when a field is wrong.
  QString sweep_yaml(QString* error = nullptr) const;
  QString sweep_file() const;  // where it is written (default <base folder>/<name>.sweep.yaml)
  QString output_dir() const;  // <database folder>/sweeps/<name>
  // Writes sweep_file(); false with `error` set when it cannot.
  bool write(QString* error);
  // Runs the dry run now and waits for it; its output is shown in the dialog and returned.
  QString check();
  // Worker command prefix for the sweep's points (tests: a fake trainer); empty: qatwb run.
  void set_worker_command(const QStringList& cmd) { worker_ = cmd; }

 private:
  void accept_if_written();
  QString db_path_;
  QLineEdit *name_, *base_, *file_, *group_by_;
  QPlainTextEdit *grid_, *set_, *output_;
  QComboBox* launcher_;
  QSpinBox* concurrency_;
  QLabel* message_;
  QStringList worker_;
};

}  // namespace qatwb::ui
