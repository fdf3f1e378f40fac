#include "ui/main/main_window.h"

#include <QAction>
#include <QCloseEvent>
#include <QDir>
#include <QDockWidget>
#include <QFileDialog>
#include <QFileInfo>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QPushButton>
#include <QSettings>
#include <QSplitter>
#include <QStatusBar>
#include <QTabWidget>
#include <QTableView>
#include <QToolBar>
#include <QVBoxLayout>
#include <functional>

#include "core/jobs/job_manager.h"
#include "core/project/project_yaml.h"
#include "core/quant/scheme.h"
#include "core/run/run_dir.h"
#include "core/store/store.h"
#include "ui/compare/compare_view.h"
#include "ui/dashboard/dashboard_view.h"
#include "ui/dashboard/metric_browser.h"
#include "ui/export/export_dialog.h"
#include "ui/jobs/jobs_view.h"
#include "ui/models/run_list_poller.h"
#include "ui/models/run_table_model.h"
#include "ui/widgets/log_tail_view.h"
#include "ui/widgets/run_notes_dialog.h"
#include "ui/wizard/project_wizard.h"

namespace qatwb::ui {

namespace {

QSettings settings() {
  return QSettings(QSettings::IniFormat, QSettings::UserScope, "qatwb", "qatwb-gui");
}

constexpr int kPathRole = Qt::UserRole;
constexpr int kNameRole = Qt::UserRole + 1;

}  // namespace

MainWindow::MainWindow(const QString& db_path, QWidget* parent)
    : QMainWindow(parent), db_path_(db_path) {
  // Create the database (schema) once here, before the worker threads open it side by side.
  try {
    store::Store::open(db_path_.toStdString());
  } catch (const std::exception& e) {
    statusBar()->showMessage(QString::fromUtf8(e.what()));
  }
  setWindowTitle(tr("qatwb - %1").arg(QFileInfo(db_path).fileName()));
  run_model_ = new RunTableModel(this);
  proxy_ = new RunFilterProxy(this);
  proxy_->setSourceModel(run_model_);

  projects_ = new QListWidget;
  projects_->setObjectName("projects");
  auto* all = new QListWidgetItem(tr("All runs"));
  projects_->addItem(all);
  filter_ = new QLineEdit;
  filter_->setObjectName("run_filter");
  filter_->setPlaceholderText(tr("Filter runs by name, project, surrogate, tag"));
  filter_->setClearButtonEnabled(true);
  runs_view_ = new QTableView;
  runs_view_->setObjectName("runs");
  runs_view_->setModel(proxy_);
  runs_view_->setSortingEnabled(true);
  runs_view_->sortByColumn(-1, Qt::AscendingOrder);
  runs_view_->setSelectionBehavior(QAbstractItemView::SelectRows);
  runs_view_->setSelectionMode(QAbstractItemView::ExtendedSelection);
  runs_view_->verticalHeader()->hide();
  runs_view_->horizontalHeader()->setStretchLastSection(true);
  runs_view_->verticalHeader()->setDefaultSectionSize(runs_view_->fontMetrics().height() + 6);
  runs_view_->setWordWrap(false);
  // What a researcher looks for first comes first: name, status, progress, best perplexity
  // (visible at the default width); the rest after them.
  {
    QHeaderView* h = runs_view_->horizontalHeader();
    const int order[] = {RunTableModel::Name,     RunTableModel::Status,  RunTableModel::Progress,
                         RunTableModel::BestPpl,  RunTableModel::Bits,    RunTableModel::Surrogate,
                         RunTableModel::LastLoss, RunTableModel::Project, RunTableModel::Tags,
                         RunTableModel::Folder};
    for (int visual = 0; visual < RunTableModel::ColumnCount; ++visual)
      h->moveSection(h->visualIndex(order[visual]), visual);
  }
  // Columns fit the first runs listed (unless a saved layout was restored), a long name or
  // project elided rather than pushing the other columns out of view.
  connect(run_model_, &QAbstractItemModel::rowsInserted, this, [this] {
    if (columns_sized_) return;
    columns_sized_ = true;
    runs_view_->resizeColumnsToContents();
    QHeaderView* h = runs_view_->horizontalHeader();
    for (int c = 0; c < RunTableModel::ColumnCount; ++c)
      h->resizeSection(c, std::min(h->sectionSize(c), c == RunTableModel::Name     ? 120
                                                      : c == RunTableModel::Folder ? 260
                                                                                   : 110));
  });
  runs_view_->setTextElideMode(Qt::ElideMiddle);
  // Right-click: tags and note of the run under the pointer.
  runs_view_->setContextMenuPolicy(Qt::CustomContextMenu);
  connect(runs_view_, &QWidget::customContextMenuRequested, this, [this](const QPoint& pos) {
    const QModelIndex i = runs_view_->indexAt(pos);
    if (!i.isValid()) return;
    const qint64 id = i.data(RunTableModel::RunIdRole).value<qint64>();
    QMenu menu(this);
    menu.addAction(tr("Tags and note..."), this, [this, id] { edit_tags_and_note(id); });
    menu.exec(runs_view_->viewport()->mapToGlobal(pos));
  });

  auto* runs_panel = new QWidget;
  auto* runs_layout = new QVBoxLayout(runs_panel);
  runs_layout->setContentsMargins(0, 0, 0, 0);
  runs_layout->addWidget(filter_);
  runs_layout->addWidget(runs_view_, 1);
  side_splitter_ = new QSplitter(Qt::Vertical);
  side_splitter_->setObjectName("side_splitter");
  side_splitter_->addWidget(projects_);
  side_splitter_->addWidget(runs_panel);
  side_splitter_->setStretchFactor(1, 3);
  side_splitter_->setSizes({130, 600});

  tabs_ = new QTabWidget;
  tabs_->setObjectName("tabs");
  dashboard_ = new DashboardView;
  dashboard_->set_database(db_path_);
  compare_ = new CompareView;
  compare_->set_database(db_path_);
  jobs_ = new JobsView(db_path_);
  tabs_->addTab(dashboard_, tr("Dashboard"));
  tabs_->addTab(compare_, tr("Compare"));
  tabs_->addTab(jobs_, tr("Jobs"));
  metrics_ = new MetricBrowser;
  metrics_->set_database(db_path_);
  tabs_->addTab(metrics_, tr("Metrics"));

  main_splitter_ = new QSplitter(Qt::Horizontal);
  main_splitter_->setObjectName("main_splitter");
  main_splitter_->addWidget(side_splitter_);
  main_splitter_->addWidget(tabs_);
  main_splitter_->setStretchFactor(1, 3);
  main_splitter_->setSizes({420, 940});
  setCentralWidget(main_splitter_);

  log_ = new LogTailView;
  log_->setObjectName("run_log");
  auto* dock = log_dock_ = new QDockWidget(tr("Log"), this);
  dock->setObjectName("log_dock");
  dock->setWidget(log_);
  addDockWidget(Qt::BottomDockWidgetArea, dock);

  build_actions();
  menuBar()->addMenu(tr("&View"))->addAction(dock->toggleViewAction());

  connect(filter_, &QLineEdit::textChanged, proxy_, &RunFilterProxy::set_filter_text);
  connect(projects_, &QListWidget::currentRowChanged, this, &MainWindow::on_project_changed);
  connect(runs_view_->selectionModel(), &QItemSelectionModel::selectionChanged, this,
          &MainWindow::on_selection_changed);
  connect(jobs_, &JobsView::start_requested, this, &MainWindow::run_project);
  connect(jobs_, &JobsView::job_submitted, this, [this] { poller_->refresh_now(); });

  poller_ = new RunListPoller(this);
  connect(poller_, &RunListPoller::rows_ready, this,
          [this](const std::vector<RunRow>& rows) { run_model_->apply(rows); });
  connect(poller_, &RunListPoller::failed, this,
          [this](const QString& m) { statusBar()->showMessage(m, 10000); });
  poller_->set_database(db_path_);
  poller_->start(1000);
  // Projects on disk beside the runs (a repository's projects/), and the store's own.
  scan_projects(QDir::current().filePath("projects"));
  scan_projects(QFileInfo(db_path_).absoluteDir().filePath("../projects"));
  add_store_projects();
  projects_->setCurrentRow(0);
  resize(1360, 860);
}

MainWindow::~MainWindow() = default;

void MainWindow::build_actions() {
  auto* file = menuBar()->addMenu(tr("&File"));
  auto* toolbar = addToolBar(tr("Main"));
  toolbar->setObjectName("main_toolbar");
  auto add = [&](const QString& text, const char* name, QKeySequence key, auto slot) {
    auto* a = new QAction(text, this);
    a->setObjectName(name);
    a->setShortcut(key);
    connect(a, &QAction::triggered, this, slot);
    file->addAction(a);
    toolbar->addAction(a);
    return a;
  };
  add(tr("New project..."), "action_new_project", QKeySequence::New, &MainWindow::new_project);
  add(tr("Open project..."), "action_open_project", QKeySequence::Open,
      &MainWindow::open_project_dialog);
  add(tr("Run project"), "action_run_project", QKeySequence(Qt::CTRL | Qt::Key_R),
      &MainWindow::run_project);
  add(tr("Export..."), "action_export", QKeySequence(Qt::CTRL | Qt::Key_E),
      &MainWindow::export_selected);
  file->addSeparator();
  auto* quit = new QAction(tr("Quit"), this);
  quit->setObjectName("action_quit");
  quit->setShortcut(QKeySequence::Quit);
  connect(quit, &QAction::triggered, this, &QWidget::close);
  file->addAction(quit);
}

bool MainWindow::open_project(const QString& yaml, bool quiet) {
  const QString path = QFileInfo(yaml).absoluteFilePath();
  QString name;
  try {
    name = QString::fromStdString(jobs::project_name(path.toStdString()));
  } catch (const std::exception& e) {
    if (!quiet) QMessageBox::warning(this, tr("Open project"), QString::fromUtf8(e.what()));
    statusBar()->showMessage(QString::fromUtf8(e.what()), 10000);
    return false;
  }
  if (!QFileInfo(path).isFile()) {
    if (!quiet) QMessageBox::warning(this, tr("Open project"), tr("%1: no such file").arg(path));
    return false;
  }
  for (int i = 1; i < projects_->count(); ++i) {
    if (projects_->item(i)->data(kPathRole).toString() == path) {
      projects_->setCurrentRow(i);
      return true;
    }
  }
  // The store-only entry of this project (listed by name from its runs) becomes the file.
  QListWidgetItem* item = nullptr;
  for (int i = 1; i < projects_->count(); ++i)
    if (projects_->item(i)->data(kPathRole).toString().isEmpty() &&
        projects_->item(i)->data(kNameRole).toString() == name)
      item = projects_->item(i);
  if (!item) item = new QListWidgetItem(projects_);
  item->setText(name);
  item->setData(kPathRole, path);
  item->setData(kNameRole, name);
  item->setToolTip(path);
  item->setFont(projects_->font());
  projects_->setCurrentItem(item);
  return true;
}

void MainWindow::scan_projects(const QString& dir) {
  const QString root = QDir(dir).canonicalPath();
  if (root.isEmpty()) return;
  QStringList files;
  std::function<void(const QString&, int)> walk = [&](const QString& d, int depth) {
    const QDir q(d);
    for (const QFileInfo& f :
         q.entryInfoList({"*.yaml", "*.yml"}, QDir::Files | QDir::Readable, QDir::Name))
      files << f.absoluteFilePath();
    if (depth > 0)
      for (const QFileInfo& sub : q.entryInfoList(QDir::Dirs | QDir::NoDotAndDotDot, QDir::Name))
        walk(sub.absoluteFilePath(), depth - 1);
  };
  walk(root, 2);
  QListWidgetItem* keep = projects_->currentItem();
  for (const QString& f : files) {
    bool listed = false;
    for (int i = 1; i < projects_->count(); ++i)
      listed |= projects_->item(i)->data(kPathRole).toString() == f;
    if (listed) continue;
    QString name;
    try {
      name = QString::fromStdString(jobs::project_name(f.toStdString()));
    } catch (const std::exception&) {
      continue;  // not a project (a sweep, a hosts file, a broken file)
    }
    // A store-only entry of the same name becomes this file.
    QListWidgetItem* item = nullptr;
    for (int i = 1; i < projects_->count(); ++i)
      if (projects_->item(i)->data(kPathRole).toString().isEmpty() &&
          projects_->item(i)->data(kNameRole).toString() == name)
        item = projects_->item(i);
    if (!item) item = new QListWidgetItem(projects_);
    item->setText(name);
    item->setData(kPathRole, f);
    item->setData(kNameRole, name);
    item->setToolTip(f);
    item->setFont(projects_->font());
  }
  if (keep) projects_->setCurrentItem(keep);
}

void MainWindow::add_store_projects() {
  std::vector<store::RunInfo> runs;
  try {
    runs = store::Store::open_existing(db_path_.toStdString()).list_runs();
  } catch (const std::exception&) {
    return;
  }
  for (const auto& r : runs) {
    const QString name = QString::fromStdString(r.project);
    if (name.isEmpty() || project_names().contains(name)) continue;
    auto* item = new QListWidgetItem(name, projects_);
    item->setData(kNameRole, name);
    item->setToolTip(
        tr("Runs of project %1 (no project file found; Open project... adds it)").arg(name));
    QFont italic = projects_->font();
    italic.setItalic(true);
    item->setFont(italic);
  }
}

QStringList MainWindow::project_names() const {
  QStringList out;
  for (int i = 1; i < projects_->count(); ++i)
    out << projects_->item(i)->data(kNameRole).toString();
  return out;
}

QString MainWindow::current_project() const {
  const QListWidgetItem* item = projects_->currentItem();
  return item ? item->data(kPathRole).toString() : QString();
}

QStringList MainWindow::projects() const {
  QStringList out;
  for (int i = 1; i < projects_->count(); ++i)
    if (!projects_->item(i)->data(kPathRole).toString().isEmpty())
      out << projects_->item(i)->data(kPathRole).toString();
  return out;
}

void MainWindow::on_project_changed() {
  const QListWidgetItem* item = projects_->currentItem();
  proxy_->set_project(item ? item->data(kNameRole).toString() : QString());
  jobs_->set_default_project(item ? item->data(kPathRole).toString() : QString());
}

void MainWindow::refresh_runs_now() {
  try {
    run_model_->refresh_from(db_path_);
  } catch (const std::exception& e) {
    statusBar()->showMessage(QString::fromUtf8(e.what()), 10000);
  }
}

bool MainWindow::edit_tags_and_note(qint64 run_id) {
  const int row = run_model_->row_of(run_id);
  const RunRow* r = run_model_->row_at(row);
  if (!r) return false;
  RunNotesDialog dialog(QString::fromStdString(r->name), r->tags, QString::fromStdString(r->note),
                        this);
  if (dialog.exec() != QDialog::Accepted) return false;
  QString error;
  if (!set_tags_and_note(run_id, dialog.tags(), dialog.note(), &error)) {
    QMessageBox::critical(this, tr("Tags and note"), error);
    return false;
  }
  return true;
}

bool MainWindow::set_tags_and_note(qint64 run_id, const std::vector<std::string>& tags,
                                   const QString& note, QString* error) {
  try {
    store::Store store = store::Store::open_existing(db_path_.toStdString());
    store.set_tags(run_id, tags);
    store.set_note(run_id, note.toStdString());
  } catch (const std::exception& e) {
    if (error) *error = QString::fromUtf8(e.what());
    return false;
  }
  refresh_runs_now();
  return true;
}

void MainWindow::select_runs(const QList<qint64>& run_ids) {
  QItemSelection selection;
  for (int r = 0; r < proxy_->rowCount(); ++r) {
    const QModelIndex i = proxy_->index(r, 0);
    if (run_ids.contains(i.data(RunTableModel::RunIdRole).value<qint64>()))
      selection.select(i, proxy_->index(r, RunTableModel::ColumnCount - 1));
  }
  runs_view_->selectionModel()->select(selection, QItemSelectionModel::ClearAndSelect);
}

void MainWindow::select_all_runs() { runs_view_->selectAll(); }

QList<qint64> MainWindow::selected_runs() const {
  QList<qint64> ids;
  for (const QModelIndex& i : runs_view_->selectionModel()->selectedRows())
    ids << i.data(RunTableModel::RunIdRole).value<qint64>();
  std::sort(ids.begin(), ids.end());
  return ids;
}

void MainWindow::on_selection_changed() {
  const QList<qint64> ids = selected_runs();
  shown_runs_ = ids;
  dashboard_->set_runs(ids);
  compare_->set_runs(ids);
  metrics_->set_runs(ids);
  // The first selected run's worker.log; a run started in a terminal has none: its events.
  const QModelIndexList rows = runs_view_->selectionModel()->selectedRows();
  const QString dir =
      rows.isEmpty() ? QString() : rows.first().data(RunTableModel::RunDirRole).toString();
  const run::RunDir run(dir.toStdString());
  if (dir.isEmpty())
    log_->set_file({});
  else if (QFileInfo::exists(QString::fromStdString(run.log_path())))
    log_->set_file(QString::fromStdString(run.log_path()));
  else
    log_->set_events_file(QString::fromStdString(run.events_path()));
  statusBar()->showMessage(tr("%n run(s) selected", nullptr, int(ids.size())));
}

void MainWindow::show_tab(Tab tab) { tabs_->setCurrentIndex(int(tab)); }

bool MainWindow::show_tab(const QString& name) {
  if (name == "dashboard")
    show_tab(DashboardTab);
  else if (name == "compare")
    show_tab(CompareTab);
  else if (name == "jobs")
    show_tab(JobsTab);
  else if (name == "metrics")
    show_tab(MetricsTab);
  else
    return false;
  return true;
}

void MainWindow::new_project() {
  ProjectWizard wizard(this);
  if (wizard.exec() == QDialog::Accepted && !wizard.written_path().isEmpty())
    open_project(wizard.written_path());
}

void MainWindow::open_project_dialog() {
  const QString f =
      QFileDialog::getOpenFileName(this, tr("Open project"), {}, tr("Project (*.yaml *.yml)"));
  if (!f.isEmpty()) open_project(f);
}

void MainWindow::run_project() {
  QString project = current_project();
  if (project.isEmpty()) {
    project =
        QFileDialog::getOpenFileName(this, tr("Project to run"), {}, tr("Project (*.yaml *.yml)"));
    if (project.isEmpty() || !open_project(project)) return;
  }
  // Nothing is submitted without saying where and what.
  QMessageBox box(QMessageBox::Question, tr("Run project"), run_confirmation_text(project),
                  QMessageBox::Yes | QMessageBox::Cancel, this);
  box.setObjectName("run_confirmation");
  box.button(QMessageBox::Yes)->setText(tr("Run"));
  box.setDefaultButton(QMessageBox::Yes);
  if (box.exec() != QMessageBox::Yes) {
    statusBar()->showMessage(tr("Run cancelled"), 5000);
    return;
  }
  jobs_->start_project(project);
  show_tab(JobsTab);
}

QString MainWindow::run_confirmation_text(const QString& yaml) const {
  QString where = jobs_->launcher_text();
  QString what;
  try {
    const auto c = project::load_project(yaml.toStdString());
    if (jobs_->launcher().isEmpty()) {
      const auto& r = c.runner;
      switch (r.kind) {
        case jobs::LauncherKind::Local:
          where = tr("local (this machine)");
          break;
        case jobs::LauncherKind::Ssh:
          where = tr("ssh %1, folder %2")
                      .arg(QString::fromStdString(r.host), QString::fromStdString(r.remote_dir));
          break;
        case jobs::LauncherKind::Slurm:
          // Ranks follow GPUs unless runner.tasks_per_node says otherwise (core/jobs).
          where =
              tr("Slurm%1%2, %3 node(s) x %4 rank(s), %5 GPU(s) per node%6, time limit %7")
                  .arg(r.host.empty() ? QString() : " via " + QString::fromStdString(r.host))
                  .arg(r.partition.empty() ? QString()
                                           : ", partition " + QString::fromStdString(r.partition))
                  .arg(r.nodes)
                  .arg(r.ranks_per_node())
                  .arg(r.gpus)
                  .arg(r.account.empty() ? QString()
                                         : ", account " + QString::fromStdString(r.account))
                  .arg(r.time_limit.empty() ? tr("none") : QString::fromStdString(r.time_limit));
          break;
      }
    }
    what = tr("%1 steps of %2 x %3 tokens, %4")
               .arg(c.train.steps)
               .arg(c.train.batch_size)
               .arg(c.tokenize.seq_len)
               .arg(c.quant.enabled ? QString::fromStdString(quant::describe_module_scheme(c.quant))
                                    : tr("full precision"));
    if (c.easgd.enabled)
      what += tr(", EASGD %1").arg(QString::fromUtf8(project::to_string(c.easgd.mode)));
    if (!c.model.path.empty())
      what += tr("\nModel: %1").arg(QString::fromStdString(c.model.path));
    else if (!c.model.preset.empty())
      what += tr("\nModel: preset %1").arg(QString::fromStdString(c.model.preset));
  } catch (const std::exception& e) {
    what = tr("(the project does not load: %1)").arg(QString::fromUtf8(e.what()));
  }
  return tr("Run %1?\n\nProject: %2\nWhere: %3\nWhat: %4")
      .arg(QFileInfo(yaml).completeBaseName(), yaml, where, what);
}

void MainWindow::export_selected() {
  const QModelIndexList rows = runs_view_->selectionModel()->selectedRows();
  auto* dialog = new ExportDialog(
      rows.isEmpty() ? QString() : rows.first().data(RunTableModel::RunDirRole).toString(), this);
  dialog->setAttribute(Qt::WA_DeleteOnClose);
  dialog->show();
}

void MainWindow::restore_settings() {
  if (!persistent_) return;
  QSettings s = settings();
  restoreGeometry(s.value("main/geometry").toByteArray());
  if (restoreState(s.value("main/state").toByteArray())) docks_sized_ = true;
  main_splitter_->restoreState(s.value("main/splitter").toByteArray());
  side_splitter_->restoreState(s.value("main/side_splitter").toByteArray());
  if (runs_view_->horizontalHeader()->restoreState(s.value("main/runs_header").toByteArray()))
    columns_sized_ = true;
  for (const QString& p : s.value("projects/list").toStringList())
    if (QFileInfo(p).isFile()) open_project(p, true);
  const QString last = s.value("projects/last").toString();
  projects_->setCurrentRow(0);
  for (int i = 1; i < projects_->count(); ++i)
    if (projects_->item(i)->data(kPathRole).toString() == last) projects_->setCurrentRow(i);
  tabs_->setCurrentIndex(s.value("main/tab", 0).toInt());
}

void MainWindow::save_settings() const {
  if (!persistent_) return;
  QSettings s = settings();
  s.setValue("main/geometry", saveGeometry());
  s.setValue("main/state", saveState());
  s.setValue("main/splitter", main_splitter_->saveState());
  s.setValue("main/side_splitter", side_splitter_->saveState());
  s.setValue("main/runs_header", runs_view_->horizontalHeader()->saveState());
  s.setValue("main/tab", tabs_->currentIndex());
  s.setValue("projects/list", projects());
  s.setValue("projects/last", current_project());
  s.sync();
}

void MainWindow::showEvent(QShowEvent* event) {
  QMainWindow::showEvent(event);
  if (docks_sized_) return;
  docks_sized_ = true;
  resizeDocks({log_dock_}, {std::max(100, height() / 6)}, Qt::Vertical);
}

void MainWindow::closeEvent(QCloseEvent* event) {
  save_settings();
  event->accept();
}

}  // namespace qatwb::ui
