#include "ui/jobs/jobs_view.h"

#include <QComboBox>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QMetaMethod>
#include <QPushButton>
#include <QSplitter>
#include <QTableView>
#include <QVBoxLayout>

#include "core/jobs/hosts_config.h"
#include "ui/jobs/job_table_model.h"
#include "ui/jobs/jobs_controller.h"
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
  try {
    for (const auto& [name, host] : jobs::load_hosts_config(jobs::default_hosts_path()).hosts)
      launcher_->addItem(tr("ssh: %1").arg(QString::fromStdString(name)),
                         QString("ssh:%1").arg(QString::fromStdString(name)));
  } catch (const std::exception&) {
    // No hosts file (or a broken one): local and Slurm only; `qatwb jobs` reports the details.
  }
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
  auto* split = new QSplitter(Qt::Vertical);
  split->setObjectName("jobs_splitter");
  split->addWidget(top);
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

void JobsView::start_project(const QString& yaml, const QString& launcher) {
  message_->setStyleSheet({});
  message_->setText(tr("Submitting %1 ...").arg(yaml));
  controller_->submit(yaml, launcher.isEmpty() ? launcher_->currentData().toString() : launcher,
                      worker_cmd_);
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
