// The jobs view's link to core/jobs: a JobManager that lives on a StoreWorker's thread (JobManager
// calls can block on ssh, and its registry's sqlite3 handle belongs to that thread). Requests
// are queued to it; results come back on the GUI thread as signals. A fresh controller over the
// same database sees the jobs started by others (re-attach is just list/poll).
#pragma once
#include <QObject>
#include <QStringList>
#include <QTimer>
#include <vector>

#include "ui/jobs/job_table_model.h"
#include "ui/widgets/store_worker.h"

namespace qatwb::ui {

struct JobsConnection;  // jobs_controller.cpp: the JobManager and what it read of the projects

class JobsController : public QObject {
  Q_OBJECT

 public:
  // `qatwb_path`: the CLI that local/slurm workers run ("" : core/jobs' default).
  explicit JobsController(const QString& db_path, const QString& qatwb_path = {},
                          QObject* parent = nullptr);
  ~JobsController() override;  // stops polling and joins the worker thread

  void start_polling(int interval_ms = 1000);
  void stop_polling();
  void poll_now();

  // Submits `project` (launcher "local", "ssh:HOST" or "slurm"); `worker_cmd` replaces
  // {qatwb, "run"} (tests use the fake trainer).
  void submit(const QString& project, const QString& launcher = "local",
              const QStringList& worker_cmd = {});
  void cancel(qint64 id);
  void resume(qint64 id);

  // The local worker.log of a job (the run directory's copy).
  static QString log_path(const jobs::Job& job);

 Q_SIGNALS:
  void jobs_ready(const std::vector<qatwb::ui::JobRow>& rows);
  void submitted(qint64 id);
  void action_failed(const QString& message);

 private:
  StoreWorker<JobsConnection> worker_;
  QTimer timer_;
  bool busy_ = false;
};

}  // namespace qatwb::ui

Q_DECLARE_METATYPE(std::vector<qatwb::ui::JobRow>)
