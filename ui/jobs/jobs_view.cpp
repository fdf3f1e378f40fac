#include "ui/jobs/jobs_view.h"

#include <QComboBox>
#include <QDesktopServices>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QMetaMethod>
#include <QPushButton>
#include <QSplitter>
#include <QTableView>
#include <QUrl>
#include <QVBoxLayout>

#include "core/jobs/hosts_config.h"
#include "ui/jobs/job_table_model.h"
#include "ui/jobs/jobs_controller.h"
#include "ui/jobs/sweep_dialog.h"
#include "ui/jobs/sweep_list_model.h"
#include "ui/widgets/log_tail_view.h"
#include "ui/widgets/qatwb_binary.h"

namespace qatwb::ui {

JobsView::JobsView(const QString& db_path, QWidget* parent) : QWidget(parent), db_path_(db_path) {
  controller_ = new JobsController(db_path, qatwb_binary(), this);
  model_ = new JobTableModel(this);

  start_ = new QPushButton(tr("Start..."));
  start_->setObjectName("job_start");
  cancel_ = new QPushButton(tr("Cancel"));
  cancel_->setObjectName("job_cancel");
  resume_ = new QPushButton(tr("Resume"));
  resume_->setObjectName("job_resume");
  reattach_ = new QPushButton(tr("Re-attach"));
  reattach_->setObjectName("job_reattach");
  reattach_->setToolTip(tr("Re-read the jobs registry and poll every unfinished job"));
  launcher_ = new QComboBox;
  launcher_->setObjectName("job_launcher");
  launcher_->addItem(tr("as the project says"), QString());  // its runner section, else local
  launcher_->addItem(tr("local"), "local");
  add_ssh_launchers();
  launcher_->addItem(tr("slurm"), "slurm");
  auto* buttons = new QHBoxLayout;
  buttons->addWidget(launcher_);
  for (QPushButton* b : {start_, cancel_, resume_, reattach_}) buttons->addWidget(b);
  buttons->addStretch();

  table_ = new QTableView;
  table_->setObjectName("jobs_table");
  table_->setModel(model_);
  table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  table_->setSelectionMode(QAbstractItemView::SingleSelection);
  table_->verticalHeader()->hide();
  table_->horizontalHeader()->setStretchLastSection(true);
  message_ = new QLabel;
  message_->setObjectName("jobs_message");
  message_->setWordWrap(true);
  message_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  log_ = new LogTailView;
  log_->setObjectName("job_log");

  auto* top = new QWidget;
  auto* top_layout = new QVBoxLayout(top);
  top_layout->setContentsMargins(0, 0, 0, 0);
  top_layout->addLayout(buttons);
  top_layout->addWidget(table_, 1);
  top_layout->addWidget(message_);
  // Sweeps: started here (New sweep...) or found beside the database.
  sweeps_ = new SweepListModel(this);
  sweeps_->scan(db_path_);
  auto* sweep_panel = new QWidget;
  auto* sweep_layout = new QVBoxLayout(sweep_panel);
  sweep_layout->setContentsMargins(0, 0, 0, 0);
  auto* sweep_bar = new QHBoxLayout;
  auto* new_sweep_button = new QPushButton(tr("New sweep..."));
  new_sweep_button->setObjectName("sweep_new");
  open_report_ = new QPushButton(tr("Open report"));
  open_report_->setObjectName("sweep_open_report");
  open_report_->setEnabled(false);
  sweep_bar->addWidget(new QLabel(tr("Sweeps")));
  sweep_bar->addWidget(new_sweep_button);
  sweep_bar->addWidget(open_report_);
  sweep_bar->addStretch();
  sweep_layout->addLayout(sweep_bar);
  sweeps_table_ = new QTableView;
  sweeps_table_->setObjectName("sweeps_table");
  sweeps_table_->setModel(sweeps_);
  sweeps_table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  sweeps_table_->setSelectionMode(QAbstractItemView::SingleSelection);
  sweeps_table_->verticalHeader()->hide();
  sweeps_table_->horizontalHeader()->setStretchLastSection(true);
  sweep_layout->addWidget(sweeps_table_, 1);
  auto sync_report_button = [this] {
    const QModelIndexList rows = sweeps_table_->selectionModel()->selectedRows();
    open_report_->setEnabled(!rows.isEmpty() &&
                             !sweeps_->report_html(rows.first().row()).isEmpty());
  };
  connect(sweeps_table_->selectionModel(), &QItemSelectionModel::selectionChanged, this,
          sync_report_button);
  connect(sweeps_, &QAbstractItemModel::dataChanged, this, sync_report_button);
  connect(new_sweep_button, &QPushButton::clicked, this, &JobsView::new_sweep);
  connect(open_report_, &QPushButton::clicked, this, [this] { open_selected_report(); });
  connect(sweeps_, &SweepListModel::sweep_finished, this, [this](int row, bool ok) {
    message_->setStyleSheet(ok ? QString() : QString("color: #c0392b;"));
    message_->setText(
        ok ? tr("Sweep %1 finished.").arg(sweeps_->index(row, 0).data().toString())
           : tr("Sweep %1: %2").arg(sweeps_->index(row, 0).data().toString(), sweeps_->state(row)));
  });

  auto* split = new QSplitter(Qt::Vertical);
  split->setObjectName("jobs_splitter");
  split->addWidget(top);
  split->addWidget(sweep_panel);
  split->addWidget(log_);
  split->setStretchFactor(0, 3);
  split->setStretchFactor(1, 2);
  auto* layout = new QVBoxLayout(this);
  layout->addWidget(split);

  connect(start_, &QPushButton::clicked, this, [this] {
    if (isSignalConnected(QMetaMethod::fromSignal(&JobsView::start_requested))) {
      Q_EMIT start_requested();
      return;
    }
    const QString f =
        QFileDialog::getOpenFileName(this, tr("Project to run"), {}, tr("Project (*.yaml *.yml)"));
    if (!f.isEmpty()) start_project(f);
  });
  connect(cancel_, &QPushButton::clicked, this, &JobsView::cancel_selected);
  connect(resume_, &QPushButton::clicked, this, &JobsView::resume_selected);
  connect(reattach_, &QPushButton::clicked, this, &JobsView::reattach);
  connect(controller_, &JobsController::jobs_ready, this, [this](const std::vector<JobRow>& rows) {
    model_->apply(rows);
    update_buttons();
    update_log();
  });
  connect(controller_, &JobsController::submitted, this, [this](qint64 id) {
    message_->setStyleSheet({});
    message_->setText(tr("Job %1 submitted.").arg(id));
    pending_select_ = id;
    Q_EMIT job_submitted(id);
  });
  connect(controller_, &JobsController::action_failed, this, [this](const QString& m) {
    message_->setStyleSheet("color: #c0392b;");
    message_->setText(m);
  });
  connect(model_, &QAbstractItemModel::rowsInserted, this, [this] {
    if (pending_select_ >= 0 && model_->find(pending_select_)) {
      select_job(pending_select_);
      pending_select_ = -1;
    }
  });
  connect(table_->selectionModel(), &QItemSelectionModel::selectionChanged, this, [this] {
    update_buttons();
    update_log();
  });
  update_buttons();
  controller_->start_polling(1000);
}

JobsView::~JobsView() = default;

void JobsView::add_ssh_launchers() {
  const QString file = hosts_file();
  QString problem;
  try {
    const auto hosts = load_hosts().hosts;
    for (const auto& [name, host] : hosts)
      launcher_->addItem(tr("ssh: %1").arg(QString::fromStdString(name)),
                         QString("ssh:%1").arg(QString::fromStdString(name)));
    if (!hosts.empty()) return;
    problem = tr("%1 names no hosts").arg(file);
  } catch (const std::exception& e) {
    problem = QString::fromUtf8(e.what());
  }
  // Offered all the same, saying what it needs: picking it and pressing Start explains.
  ssh_problem_ =
      tr("ssh needs a host in %1 (%2). Add one:\n  hosts:\n    gpu1:\n      host: 10.0.0.5\n"
         "      user: alice\n      remote_dir: /scratch/alice/qatwb\n"
         "(QATWB_HOSTS names another file.)")
          .arg(file, problem);
  launcher_->addItem(tr("ssh (no hosts: set up hosts.yaml)"), QString("ssh:"));
  launcher_->setItemData(launcher_->count() - 1, ssh_problem_, Qt::ToolTipRole);
}

void JobsView::start_project(const QString& yaml, const QString& launcher) {
  const QString chosen = launcher.isEmpty() ? launcher_->currentData().toString() : launcher;
  if (chosen == "ssh:") {
    message_->setStyleSheet("color: #c0392b;");
    message_->setText(ssh_problem_);
    return;
  }
  message_->setStyleSheet({});
  message_->setText(tr("Submitting %1 ...").arg(yaml));
  controller_->submit(yaml, launcher.isEmpty() ? launcher_->currentData().toString() : launcher,
                      worker_cmd_);
}

void JobsView::new_sweep() {
  SweepDialog dialog(db_path_, default_project_, this);
  if (dialog.exec() != QDialog::Accepted) return;
  start_sweep(dialog.findChild<QLineEdit*>("sweep_name")->text().trimmed(), dialog.sweep_file(),
              dialog.output_dir());
}

void JobsView::start_sweep(const QString& name, const QString& sweep_file, const QString& output) {
  sweeps_->start(name, sweep_file, output, db_path_);
  message_->setStyleSheet({});
  message_->setText(tr("Sweep %1 started: qatwb batch %2").arg(name, sweep_file));
  for (int r = 0; r < sweeps_->rowCount(); ++r)
    if (sweeps_->output(r) == output) sweeps_table_->selectRow(r);
}

bool JobsView::open_selected_report() {
  const QModelIndexList rows = sweeps_table_->selectionModel()->selectedRows();
  if (rows.isEmpty()) return false;
  const QString html = sweeps_->report_html(rows.first().row());
  if (html.isEmpty()) return false;
  QDesktopServices::openUrl(QUrl::fromLocalFile(html));
  return true;
}

QString JobsView::launcher() const { return launcher_->currentData().toString(); }

QString JobsView::launcher_text() const { return launcher_->currentText(); }

void JobsView::select_job(qint64 id) {
  for (int r = 0; r < model_->rowCount(); ++r)
    if (model_->row_at(r)->job.id == id) table_->selectRow(r);
}

qint64 JobsView::selected_job() const {
  const QModelIndexList rows = table_->selectionModel()->selectedRows();
  if (rows.isEmpty()) return -1;
  const JobRow* r = model_->row_at(rows.first().row());
  return r ? r->job.id : -1;
}

void JobsView::cancel_selected() {
  const qint64 id = selected_job();
  if (id >= 0) controller_->cancel(id);
}

void JobsView::resume_selected() {
  const qint64 id = selected_job();
  if (id >= 0) controller_->resume(id);
}

void JobsView::reattach() {
  message_->setStyleSheet({});
  message_->setText(tr("Re-attached to the jobs in %1").arg(db_path_));
  controller_->poll_now();
}

QString JobsView::message() const { return message_->text(); }

void JobsView::update_buttons() {
  const JobRow* r = model_->find(selected_job());
  cancel_->setEnabled(r && !jobs::is_terminal(r->job.state));
  resume_->setEnabled(r && (r->job.state == jobs::JobState::Failed ||
                            r->job.state == jobs::JobState::Cancelled ||
                            r->job.state == jobs::JobState::Lost));
}

void JobsView::update_log() {
  const JobRow* r = model_->find(selected_job());
  log_->set_file(r ? JobsController::log_path(r->job) : QString());
  log_->refresh();
}

}  // namespace qatwb::ui
