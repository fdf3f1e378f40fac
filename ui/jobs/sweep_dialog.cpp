#include "ui/jobs/sweep_dialog.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QDir>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QFontDatabase>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QRegularExpression>
#include <QSpinBox>
#include <QVBoxLayout>

#include "core/jobs/hosts_config.h"
#include "ui/widgets/child_process.h"
#include "ui/widgets/qatwb_binary.h"

namespace qatwb::ui {

namespace {

// A YAML scalar as written: numbers and plain words bare, anything else double-quoted.
QString yaml_scalar(const QString& v) {
  static const QRegularExpression plain("^[A-Za-z0-9_.+/-]+$");
  if (plain.match(v).hasMatch()) return v;
  QString q = v;
  q.replace("\\", "\\\\").replace("\"", "\\\"");
  return "\"" + q + "\"";
}

QString yaml_list(const QStringList& items) {
  QStringList out;
  for (const QString& i : items) out << yaml_scalar(i);
  return "[" + out.join(", ") + "]";
}

const QRegularExpression kKey("^[A-Za-z_][A-Za-z0-9_.\\[\\]]*$");

}  // namespace

SweepDialog::SweepDialog(const QString& db_path, const QString& base_project, QWidget* parent)
    : QDialog(parent), db_path_(db_path) {
  setWindowTitle(tr("New sweep"));
  auto* form = new QFormLayout;
  name_ = new QLineEdit;
  name_->setObjectName("sweep_name");
  name_->setPlaceholderText(tr("e.g. w2-surrogates"));
  form->addRow(tr("Name"), name_);
  base_ = new QLineEdit(base_project);
  base_->setObjectName("sweep_base");
  auto* browse = new QPushButton(tr("Browse..."));
  connect(browse, &QPushButton::clicked, this, [this] {
    const QString f = QFileDialog::getOpenFileName(this, tr("Base project"), base_->text(),
                                                   tr("Project (*.yaml *.yml)"));
    if (!f.isEmpty()) base_->setText(f);
  });
  auto* base_row = new QHBoxLayout;
  base_row->addWidget(base_, 1);
  base_row->addWidget(browse);
  form->addRow(tr("Base project"), base_row);
  grid_ = new QPlainTextEdit;
  grid_->setObjectName("sweep_grid");
  grid_->setPlaceholderText(
      "quant.surrogate: ste, stableqat, dsq\nquant.bits: 2, 3\ntrain.seed: 0, 1");
  grid_->setToolTip(tr("One project key a line with its values: every combination is a point"));
  grid_->setMaximumHeight(110);
  form->addRow(tr("Grid"), grid_);
  set_ = new QPlainTextEdit;
  set_->setObjectName("sweep_set");
  set_->setPlaceholderText("train.steps = 50");
  set_->setToolTip(tr("key = value overrides applied to every point"));
  set_->setMaximumHeight(70);
  form->addRow(tr("For every point"), set_);
  launcher_ = new QComboBox;
  launcher_->setObjectName("sweep_launcher");
  launcher_->addItem(tr("local"), "local");
  try {
    for (const auto& [name, host] : load_hosts().hosts)
      launcher_->addItem(tr("ssh: %1").arg(QString::fromStdString(name)),
                         "ssh:" + QString::fromStdString(name));
  } catch (const std::exception&) {
    // No hosts file: local and Slurm.
  }
  launcher_->addItem(tr("slurm"), "slurm");
  form->addRow(tr("Launcher"), launcher_);
  concurrency_ = new QSpinBox;
  concurrency_->setObjectName("sweep_concurrency");
  concurrency_->setRange(0, 1000);
  concurrency_->setValue(1);
  concurrency_->setToolTip(tr("Points in flight at once (0: no limit); on a laptop 1"));
  form->addRow(tr("Concurrency"), concurrency_);
  group_by_ = new QLineEdit;
  group_by_->setObjectName("sweep_group_by");
  group_by_->setPlaceholderText("quant.bits");
  group_by_->setToolTip(tr("Report plots per value of these keys (comma-separated)"));
  form->addRow(tr("Report groups"), group_by_);
  file_ = new QLineEdit;
  file_->setObjectName("sweep_file");
  file_->setPlaceholderText(tr("default: <base project folder>/<name>.sweep.yaml"));
  form->addRow(tr("Sweep file"), file_);

  output_ = new QPlainTextEdit;
  output_->setObjectName("sweep_check_output");
  output_->setReadOnly(true);
  output_->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
  message_ = new QLabel;
  message_->setObjectName("sweep_message");
  message_->setWordWrap(true);
  auto* buttons = new QDialogButtonBox;
  auto* check_button = buttons->addButton(tr("Check (dry run)"), QDialogButtonBox::ActionRole);
  check_button->setObjectName("sweep_check");
  auto* start = buttons->addButton(tr("Start sweep"), QDialogButtonBox::AcceptRole);
  start->setObjectName("sweep_start");
  buttons->addButton(QDialogButtonBox::Cancel);
  connect(check_button, &QPushButton::clicked, this, [this] { check(); });
  connect(buttons, &QDialogButtonBox::accepted, this, &SweepDialog::accept_if_written);
  connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);

  auto* layout = new QVBoxLayout(this);
  layout->addLayout(form);
  layout->addWidget(output_, 1);
  layout->addWidget(message_);
  layout->addWidget(buttons);
  resize(640, 620);
}

SweepDialog::~SweepDialog() = default;

QString SweepDialog::output_dir() const {
  return QFileInfo(db_path_).absoluteDir().filePath("sweeps/" + name_->text().trimmed());
}

QString SweepDialog::sweep_file() const {
  if (!file_->text().trimmed().isEmpty())
    return QFileInfo(file_->text().trimmed()).absoluteFilePath();
  return QFileInfo(base_->text().trimmed())
      .absoluteDir()
      .filePath(name_->text().trimmed() + ".sweep.yaml");
}

QString SweepDialog::sweep_yaml(QString* error) const {
  auto fail = [&](const QString& why) {
    if (error) *error = why;
    return QString();
  };
  const QString name = name_->text().trimmed();
  static const QRegularExpression name_re("^[A-Za-z0-9][A-Za-z0-9._-]*$");
  if (!name_re.match(name).hasMatch())
    return fail(tr("Name: letters, digits, '.', '_' and '-' (it names the output folder)"));
  const QString base = base_->text().trimmed();
  if (base.isEmpty() || !QFileInfo(base).isFile())
    return fail(tr("Base project: %1: no such file").arg(base));
  QString y = "# Written by qatwb-gui (New sweep); run with: qatwb batch " + sweep_file() + "\n";
  y += "name: " + yaml_scalar(name) + "\n";
  y += "base: " + yaml_scalar(QFileInfo(base).absoluteFilePath()) + "\n";
  y += "output: " + yaml_scalar(output_dir()) + "\n";
  QStringList set_lines;
  int n = 0;
  for (const QString& raw : set_->toPlainText().split('\n')) {
    ++n;
    const QString line = raw.trimmed();
    if (line.isEmpty()) continue;
    const int eq = line.indexOf('=');
    const QString key = line.left(eq).trimmed(), value = line.mid(eq + 1).trimmed();
    if (eq <= 0 || !kKey.match(key).hasMatch() || value.isEmpty())
      return fail(tr("For every point, line %1: expected key = value").arg(n));
    set_lines << "  " + key + ": " + yaml_scalar(value);
  }
  if (!set_lines.isEmpty()) y += "set:\n" + set_lines.join('\n') + "\n";
  QStringList grid_lines;
  n = 0;
  for (const QString& raw : grid_->toPlainText().split('\n')) {
    ++n;
    const QString line = raw.trimmed();
    if (line.isEmpty()) continue;
    const int colon = line.indexOf(':');
    const QString key = line.left(colon).trimmed();
    QStringList values;
    for (const QString& v : line.mid(colon + 1).split(',', Qt::SkipEmptyParts))
      if (!v.trimmed().isEmpty()) values << v.trimmed();
    if (colon <= 0 || !kKey.match(key).hasMatch() || values.isEmpty())
      return fail(tr("Grid, line %1: expected key: value, value, ...").arg(n));
    grid_lines << "  " + key + ": " + yaml_list(values);
  }
  if (grid_lines.isEmpty()) return fail(tr("Grid: at least one key with its values"));
  y += "grid:\n" + grid_lines.join('\n') + "\n";
  y += "launcher: " + yaml_scalar(launcher_->currentData().toString()) + "\n";
  y += "concurrency: " + QString::number(concurrency_->value()) + "\n";
  if (!worker_.isEmpty()) y += "worker: " + yaml_list(worker_) + "\n";
  QStringList groups;
  for (const QString& g : group_by_->text().split(',', Qt::SkipEmptyParts))
    if (!g.trimmed().isEmpty()) groups << g.trimmed();
  y += "report:\n  title: " + yaml_scalar("Sweep " + name) + "\n";
  if (!groups.isEmpty()) y += "  group_by: " + yaml_list(groups) + "\n";
  if (error) error->clear();
  return y;
}

bool SweepDialog::write(QString* error) {
  const QString y = sweep_yaml(error);
  if (y.isEmpty()) return false;
  const QString path = sweep_file();
  QDir().mkpath(QFileInfo(path).absolutePath());
  QFile f(path);
  const QByteArray bytes = y.toUtf8();
  if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate) || f.write(bytes) != bytes.size()) {
    if (error) *error = path + ": " + f.errorString();
    return false;
  }
  return true;
}

QString SweepDialog::check() {
  QString error;
  if (!write(&error)) {
    message_->setStyleSheet("color: #c0392b;");
    message_->setText(error);
    return error;
  }
  ChildProcess p;
  p.set_merged(true);
  p.start(qatwb_binary(), {"batch", sweep_file(), "--db", db_path_, "--dry-run"});
  if (!p.wait(60000)) p.cancel();
  const QString out = QString::fromUtf8(p.standard_output());
  output_->setPlainText(out);
  const bool ok = p.ok();
  message_->setStyleSheet(ok ? QString() : QString("color: #c0392b;"));
  message_->setText(ok ? tr("%1 checked: the points above would run.").arg(sweep_file())
                       : tr("The sweep does not check (exit %1).").arg(p.exit_code()));
  return out;
}

void SweepDialog::accept_if_written() {
  QString error;
  if (!write(&error)) {
    message_->setStyleSheet("color: #c0392b;");
    message_->setText(error);
    return;
  }
  accept();
}

}  // namespace qatwb::ui
