#include "ui/widgets/store_worker.h"

#include "core/store/store.h"

namespace qatwb::ui {

WorkerThread::WorkerThread(const QString& name)
    : context_(new QObject),
      home_(new QObject),
      stopping_(std::make_shared<std::atomic<bool>>(false)) {
  thread_.setObjectName(name);
  context_->moveToThread(&thread_);
  thread_.start();
}

WorkerThread::~WorkerThread() { stop(); }

void WorkerThread::post(std::function<void()> task) {
  if (stopped_) return;
  QMetaObject::invokeMethod(
      context_,
      [task = std::move(task), stopping = stopping_] {
        if (!*stopping) task();
      },
      Qt::QueuedConnection);
}

void WorkerThread::deliver(const QPointer<QObject>& receiver, std::function<void()> fn) {
  // home_ outlives every task (stop() joins the thread before deleting it), so posting to it from
  // the worker thread is safe; the receiver is checked on the home thread, where it is deleted.
  QMetaObject::invokeMethod(
      home_,
      [receiver, fn = std::move(fn), stopping = stopping_] {
        if (receiver && !*stopping) fn();
      },
      Qt::QueuedConnection);
}

void WorkerThread::stop(std::function<void()> last) {
  if (stopped_) return;
  stopped_ = true;
  *stopping_ = true;
  // Queued behind every task posted so far (which now return at once) and the running one.
  QMetaObject::invokeMethod(
      context_,
      [this, last = std::move(last)] {
        if (last) last();
        thread_.quit();
      },
      Qt::QueuedConnection);
  thread_.wait();
  delete context_;  // its thread has finished
  delete home_;     // with it the deliveries not yet made
}

std::unique_ptr<store::Store> open_store(const std::string& db_path) {
  return std::make_unique<store::Store>(store::Store::open(db_path));
}

}  // namespace qatwb::ui
