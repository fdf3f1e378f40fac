#include "ui/jobs/jobs_controller.h"

#include <QMetaType>
#include <map>
#include <memory>

#include "core/jobs/job_manager.h"
#include "core/project/project_yaml.h"
#include "core/run/run_dir.h"
#include "ui/widgets/qatwb_binary.h"

namespace qatwb::ui {

// The worker thread's JobManager, and train.steps of each project it polled (read once per file,
// 0 when it does not load).
struct JobsConnection {
  explicit JobsConnection(jobs::JobsConfig config) : manager(std::move(config)) {}

  int64_t total_steps(const std::string& project) {
    auto it = steps.find(project);
    if (it != steps.end()) return it->second;
    int64_t n = 0;
    try {
      n = project::load_project(project).train.steps;
    } catch (const std::exception&) {
    }
    steps[project] = n;
    return n;
  }

  jobs::JobManager manager;
  std::map<std::string, int64_t> steps;
};

JobsController::JobsController(const QString& db_path, const QString& qatwb_path, QObject* parent)
    : QObject(parent),
      worker_(
          "qatwb-jobs",
          [qatwb = qatwb_path.toStdString(), hosts = hosts_file().toStdString(),
           home = home_dir().toStdString()](const std::string& db) {
            jobs::JobsConfig config;
            config.db_path = db;
            config.qatwb_path = qatwb;
            config.hosts_file = hosts;
            config.home = home;
            return std::make_unique<JobsConnection>(config);
          },
          db_path, AfterFailure::keep) {
  qRegisterMetaType<std::vector<JobRow>>();
  connect(&timer_, &QTimer::timeout, this, &JobsController::poll_now);
}

JobsController::~JobsController() { timer_.stop(); }

void JobsController::start_polling(int interval_ms) {
  timer_.start(interval_ms);
  poll_now();
}

void JobsController::stop_polling() { timer_.stop(); }

void JobsController::poll_now() {
  if (busy_) return;  // the next tick asks again
  busy_ = true;
  worker_.post(
      this,
      [](JobsConnection& c) {
        std::vector<JobRow> rows;
        const double now = jobs::unix_now();
        for (const auto& j : c.manager.poll_active())
          rows.push_back({j, c.total_steps(j.project), now});
        return rows;
      },
      [this](const std::vector<JobRow>& rows) {
        busy_ = false;
        Q_EMIT jobs_ready(rows);
      },
      [this](const QString& message) {
        Q_EMIT action_failed(message);
        busy_ = false;
      });
}

void JobsController::submit(const QString& project, const QString& launcher,
                            const QStringList& worker_cmd) {
  jobs::SubmitRequest request;
  request.project = project.toStdString();
  request.launcher = launcher.toStdString();
  for (const QString& a : worker_cmd) request.worker_cmd.push_back(a.toStdString());
  worker_.post(
      this, [request](JobsConnection& c) { return qint64(c.manager.submit(request).id); },
      [this](qint64 id) {
        Q_EMIT submitted(id);
        poll_now();
      },
      [this](const QString& message) { Q_EMIT action_failed(message); });
}

void JobsController::cancel(qint64 id) {
  worker_.post(
      this, [id](JobsConnection& c) { c.manager.request_cancel(id); }, [] {},
      [this](const QString& message) { Q_EMIT action_failed(message); });
  poll_now();
}

void JobsController::resume(qint64 id) {
  worker_.post(
      this, [id](JobsConnection& c) { c.manager.resume(id); }, [] {},
      [this](const QString& message) { Q_EMIT action_failed(message); });
  poll_now();
}

QString JobsController::log_path(const jobs::Job& job) {
  return QString::fromStdString(run::RunDir(job.run_dir).log_path());
}

}  // namespace qatwb::ui
