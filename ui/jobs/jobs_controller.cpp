#include "ui/jobs/jobs_controller.h"

#include <QMetaType>
#include <map>
#include <memory>

#include "core/jobs/job_manager.h"
#include "core/project/project_yaml.h"
#include "core/run/run_dir.h"
#include "ui/widgets/qatwb_binary.h"

namespace qatwb::ui {

namespace {

class JobsWorker : public QObject {
  Q_OBJECT

 public:
  JobsWorker(QString db_path, QString qatwb_path)
      : db_path_(std::move(db_path)), qatwb_path_(std::move(qatwb_path)) {}

  void poll() {
    try {
      const std::vector<jobs::Job> jobs = manager().poll_active();
      std::vector<JobRow> rows;
      const double now = jobs::unix_now();
      for (const auto& j : jobs) rows.push_back({j, total_steps(j.project), now});
      Q_EMIT polled(rows);
    } catch (const std::exception& e) {
      Q_EMIT failed(QString::fromUtf8(e.what()));
      Q_EMIT polled_failed();
    }
  }

  void submit(const jobs::SubmitRequest& request) {
    try {
      const jobs::Job job = manager().submit(request);
      Q_EMIT submitted(job.id);
    } catch (const std::exception& e) {
      Q_EMIT failed(QString::fromUtf8(e.what()));
    }
  }

  void cancel(int64_t id) {
    try {
      manager().request_cancel(id);
    } catch (const std::exception& e) {
      Q_EMIT failed(QString::fromUtf8(e.what()));
    }
  }

  void resume(int64_t id) {
    try {
      manager().resume(id);
    } catch (const std::exception& e) {
      Q_EMIT failed(QString::fromUtf8(e.what()));
    }
  }

 Q_SIGNALS:
  void polled(const std::vector<qatwb::ui::JobRow>& rows);
  void polled_failed();
  void submitted(qint64 id);
  void failed(const QString& message);

 private:
  jobs::JobManager& manager() {
    if (!manager_) {
      jobs::JobsConfig config;
      config.db_path = db_path_.toStdString();
      config.qatwb_path = qatwb_path_.toStdString();
      config.hosts_file = hosts_file().toStdString();
      config.home = home_dir().toStdString();
      manager_ = std::make_unique<jobs::JobManager>(config);
    }
    return *manager_;
  }

  // train.steps of a project, read once per file (0 when it does not load).
  int64_t total_steps(const std::string& project) {
    auto it = steps_.find(project);
    if (it != steps_.end()) return it->second;
    int64_t steps = 0;
    try {
      steps = project::load_project(project).train.steps;
    } catch (const std::exception&) {
    }
    steps_[project] = steps;
    return steps;
  }

  QString db_path_, qatwb_path_;
  std::unique_ptr<jobs::JobManager> manager_;
  std::map<std::string, int64_t> steps_;
};

}  // namespace

JobsController::JobsController(const QString& db_path, const QString& qatwb_path, QObject* parent)
    : QObject(parent) {
  qRegisterMetaType<std::vector<JobRow>>();
  auto* worker = new JobsWorker(db_path, qatwb_path);
  worker->moveToThread(&thread_);
  connect(&thread_, &QThread::finished, worker, &QObject::deleteLater);
  worker_ = worker;
  connect(worker, &JobsWorker::polled, this, [this](const std::vector<JobRow>& rows) {
    busy_ = false;
    Q_EMIT jobs_ready(rows);
  });
  connect(worker, &JobsWorker::polled_failed, this, [this] { busy_ = false; });
  connect(worker, &JobsWorker::submitted, this, [this](qint64 id) {
    Q_EMIT submitted(id);
    poll_now();
  });
  connect(worker, &JobsWorker::failed, this, &JobsController::action_failed);
  connect(&timer_, &QTimer::timeout, this, &JobsController::poll_now);
  thread_.start();
}

JobsController::~JobsController() {
  timer_.stop();
  thread_.quit();
  thread_.wait();
}

void JobsController::start_polling(int interval_ms) {
  timer_.start(interval_ms);
  poll_now();
}

void JobsController::stop_polling() { timer_.stop(); }

void JobsController::poll_now() {
  if (busy_) return;  // the next tick asks again
  busy_ = true;
  auto* w = static_cast<JobsWorker*>(worker_);
  QMetaObject::invokeMethod(
      w, [w] { w->poll(); }, Qt::QueuedConnection);
}

void JobsController::submit(const QString& project, const QString& launcher,
                            const QStringList& worker_cmd) {
  jobs::SubmitRequest request;
  request.project = project.toStdString();
  request.launcher = launcher.toStdString();
  for (const QString& a : worker_cmd) request.worker_cmd.push_back(a.toStdString());
  auto* w = static_cast<JobsWorker*>(worker_);
  QMetaObject::invokeMethod(
      w, [w, request] { w->submit(request); }, Qt::QueuedConnection);
}

void JobsController::cancel(qint64 id) {
  auto* w = static_cast<JobsWorker*>(worker_);
  QMetaObject::invokeMethod(
      w, [w, id] { w->cancel(id); }, Qt::QueuedConnection);
  poll_now();
}

void JobsController::resume(qint64 id) {
  auto* w = static_cast<JobsWorker*>(worker_);
  QMetaObject::invokeMethod(
      w, [w, id] { w->resume(id); }, Qt::QueuedConnection);
  poll_now();
}

QString JobsController::log_path(const jobs::Job& job) {
  return QString::fromStdString(run::RunDir(job.run_dir).log_path());
}

}  // namespace qatwb::ui

#include "jobs_controller.moc"
