// The jobs tab: every job of the run database's registry (whoever started it) with Start (submit
// a project), Cancel, Resume and Re-attach (re-read the registry and poll), and the selected
// job's worker.log. Polls JobManager::poll_active about every second off the GUI thread.
#pragma once
#include <QStringList>
#include <QWidget>

class QComboBox;
class QLabel;
class QPushButton;
class QTableView;

namespace qatwb::ui {

class JobTableModel;
class JobsController;
class LogTailView;

class JobsView : public QWidget {
  Q_OBJECT

 public:
  explicit JobsView(const QString& db_path, QWidget* parent = nullptr);
  ~JobsView() override;

  // Replaces {qatwb, "run"} for new jobs (tests run the fake trainer).
  void set_worker_command(const QStringList& cmd) { worker_cmd_ = cmd; }
  // Submits a project to a launcher ("local", "ssh:HOST", "slurm"); "" : the launcher chosen in
  // the view (local unless changed; ssh hosts come from the hosts YAML).
  void start_project(const QString& yaml, const QString& launcher = {});
  // Sweeps: "New sweep..." opens the SweepDialog over `default_project` (the project selected
  // in the main window); a written sweep starts `qatwb batch` and is followed in the sweeps
  // table below the jobs, whose report opens when written.
  void set_default_project(const QString& yaml) { default_project_ = yaml; }
  void new_sweep();
  void start_sweep(const QString& name, const QString& sweep_file, const QString& output);
  class SweepListModel* sweeps() const {
    return sweeps_;
  }
  // Opens the report of the selected sweep (QDesktopServices); false when it has none yet.
  bool open_selected_report();
  // The launcher chosen in the list: its data ("", "local", "ssh:HOST", "slurm") and text. Without
  // a usable hosts file the list still offers ssh (data "ssh:"); starting with it submits
  // nothing and says what the hosts file needs.
  QString launcher() const;
  QString launcher_text() const;
  void select_job(qint64 id);
  qint64 selected_job() const;  // -1: none
  void cancel_selected();
  void resume_selected();
  void reattach();

  JobTableModel* model() const { return model_; }
  QTableView* table() const { return table_; }
  LogTailView* log_view() const { return log_; }
  QString message() const;  // the last error or notice shown under the table

 Q_SIGNALS:
  void job_submitted(qint64 id);
  // A project to start was asked for (the Start button); the main window answers with
  // start_project. Without a listener, the view asks for a file itself.
  void start_requested();

 private:
  void update_buttons();
  void update_log();
  void add_ssh_launchers();
  QString ssh_problem_;  // why ssh has no host ("" when the hosts file names some)
  JobsController* controller_;
  JobTableModel* model_;
  QTableView* table_;
  LogTailView* log_;
  QLabel* message_;
  QPushButton *start_, *cancel_, *resume_, *reattach_;
  QComboBox* launcher_;
  class SweepListModel* sweeps_ = nullptr;
  QTableView* sweeps_table_ = nullptr;
  QPushButton* open_report_ = nullptr;
  QString default_project_;
  QStringList worker_cmd_;
  QString db_path_;
  qint64 pending_select_ = -1;
};

}  // namespace qatwb::ui
