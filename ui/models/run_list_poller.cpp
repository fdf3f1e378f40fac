#include "ui/models/run_list_poller.h"

#include <QMetaType>
#include <memory>

#include "core/store/store.h"

namespace qatwb::ui {

namespace {

// Lives on the poller's thread; keeps that thread's Store open between loads.
class RunListWorker : public QObject {
  Q_OBJECT

 public:
  void load(const QString& db_path) {
    try {
      if (!store_ || QString::fromStdString(store_->path()) != db_path)
        store_ = std::make_unique<store::Store>(store::Store::open(db_path.toStdString()));
      Q_EMIT loaded(load_run_rows(*store_));
    } catch (const std::exception& e) {
      store_.reset();
      Q_EMIT load_failed(QString::fromUtf8(e.what()));
    }
  }

 Q_SIGNALS:
  void loaded(const std::vector<qatwb::ui::RunRow>& rows);
  void load_failed(const QString& message);

 private:
  std::unique_ptr<store::Store> store_;
};

}  // namespace

RunListPoller::RunListPoller(QObject* parent) : QObject(parent) {
  qRegisterMetaType<std::vector<RunRow>>();
  auto* worker = new RunListWorker;
  worker->moveToThread(&thread_);
  connect(&thread_, &QThread::finished, worker, &QObject::deleteLater);
  worker_ = worker;
  auto done = [this] {
    busy_ = false;
    if (pending_) {
      pending_ = false;
      refresh_now();
    }
  };
  connect(worker, &RunListWorker::loaded, this, [this, done](const std::vector<RunRow>& rows) {
    Q_EMIT rows_ready(rows);
    done();
  });
  connect(worker, &RunListWorker::load_failed, this, [this, done](const QString& message) {
    Q_EMIT failed(message);
    done();
  });
  connect(&timer_, &QTimer::timeout, this, &RunListPoller::refresh_now);
  thread_.start();
}

RunListPoller::~RunListPoller() {
  timer_.stop();
  thread_.quit();
  thread_.wait();
}

void RunListPoller::set_database(const QString& db_path) {
  db_path_ = db_path;
  refresh_now();
}

void RunListPoller::start(int interval_ms) {
  timer_.start(interval_ms);
  refresh_now();
}

void RunListPoller::stop() { timer_.stop(); }

void RunListPoller::refresh_now() {
  if (db_path_.isEmpty()) return;
  if (busy_) {
    pending_ = true;
    return;
  }
  busy_ = true;
  auto* worker = static_cast<RunListWorker*>(worker_);
  const QString path = db_path_;
  QMetaObject::invokeMethod(
      worker, [worker, path] { worker->load(path); }, Qt::QueuedConnection);
}

}  // namespace qatwb::ui

#include "run_list_poller.moc"
