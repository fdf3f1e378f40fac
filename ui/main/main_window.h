// The application window: projects (YAML files opened or created, remembered) and their runs
// (RunTableModel behind a filter box) on the left; Dashboard, Compare and Jobs tabs in the
// middle, then the metric browser; the selected run's worker.log in a dock. Geometry, dock state,
// splitter sizes, the project list and the last project are kept in QSettings (INI format, user
// scope: tests point QSettings::setPath at a temporary folder).
#pragma once
#include <QList>
#include <QMainWindow>
#include <string>
#include <vector>

class QDockWidget;
class QLineEdit;
class QListWidget;
class QSplitter;
class QTabWidget;
class QTableView;

namespace qatwb::ui {

class CompareView;
class DashboardView;
class JobsView;
class LogTailView;
class MetricBrowser;
class RunFilterProxy;
class RunListPoller;
class RunTableModel;

class MainWindow : public QMainWindow {
  Q_OBJECT

 public:
  enum Tab { DashboardTab, CompareTab, JobsTab, MetricsTab };
  explicit MainWindow(const QString& db_path, QWidget* parent = nullptr);
  ~MainWindow() override;

  // Adds a project file to the list (remembered) and selects it. Returns false (with a message
  // box unless quiet) when the file is not a readable project.
  bool open_project(const QString& yaml, bool quiet = false);
  QString current_project() const;    // "" : "All runs"
  QStringList projects() const;       // the listed project files
  QStringList project_names() const;  // every listed project (files and store-only names)
  // Lists the project YAML files found in `dir` and its subfolders (two levels), quietly
  // skipping files that are not projects. At start: ./projects and <database folder>/../projects.
  void scan_projects(const QString& dir);
  // Lists by name the projects of the store's runs that have no file listed (filter only).
  void add_store_projects();

  // Reads the run list now on this thread (the background poller keeps it fresh afterwards).
  void refresh_runs_now();
  // Tags and note of a run: the dialog (right-click on a run), and the write to the store behind
  // it (false with the store's error, e.g. a bad tag, in `error`).
  bool edit_tags_and_note(qint64 run_id);
  bool set_tags_and_note(qint64 run_id, const std::vector<std::string>& tags, const QString& note,
                         QString* error = nullptr);
  void select_runs(const QList<qint64>& run_ids);
  void select_all_runs();
  QList<qint64> selected_runs() const;
  // The runs last handed to the dashboard and compare views.
  QList<qint64> shown_runs() const { return shown_runs_; }
  void show_tab(Tab tab);
  // What "Run project" asks before submitting: the project, where it runs (the launcher chosen
  // in Jobs, or the project's runner section) and what it trains.
  QString run_confirmation_text(const QString& yaml) const;
  // "dashboard" | "compare" | "jobs" | "metrics"; false for another name.
  bool show_tab(const QString& name);

  // Off: nothing is read from or written to QSettings (screenshots).
  void set_persistent(bool on) { persistent_ = on; }
  void restore_settings();
  void save_settings() const;

  const QString& database() const { return db_path_; }
  RunTableModel* run_model() const { return run_model_; }
  RunFilterProxy* run_proxy() const { return proxy_; }
  QTableView* runs_view() const { return runs_view_; }
  DashboardView* dashboard() const { return dashboard_; }
  CompareView* compare() const { return compare_; }
  JobsView* jobs() const { return jobs_; }
  MetricBrowser* metrics() const { return metrics_; }
  LogTailView* log_view() const { return log_; }
  QTabWidget* tabs() const { return tabs_; }
  QSplitter* main_splitter() const { return main_splitter_; }

 public Q_SLOTS:
  void new_project();
  void open_project_dialog();
  void run_project();
  void export_selected();

 protected:
  void closeEvent(QCloseEvent* event) override;
  void showEvent(QShowEvent* event) override;

 private:
  void build_actions();
  void on_selection_changed();
  void on_project_changed();
  QString db_path_;
  RunTableModel* run_model_;
  RunFilterProxy* proxy_;
  RunListPoller* poller_;
  QListWidget* projects_;
  QLineEdit* filter_;
  QTableView* runs_view_;
  QSplitter *main_splitter_, *side_splitter_;
  QTabWidget* tabs_;
  DashboardView* dashboard_;
  CompareView* compare_;
  JobsView* jobs_;
  MetricBrowser* metrics_;
  LogTailView* log_;
  QDockWidget* log_dock_;
  bool docks_sized_ = false;
  bool persistent_ = true;
  bool columns_sized_ = false;
  QList<qint64> shown_runs_;
};

}  // namespace qatwb::ui
