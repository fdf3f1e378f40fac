// A worker QThread that owns one connection to the run database (a sqlite3 handle belongs to one
// thread): a store::Store, or anything opened from the database's path (core/jobs' JobManager,
// whose registry is a Store; a Store with a cache beside it). The connection is opened on the
// worker thread by the first job (again when the path changed, when opening failed, or, with
// AfterFailure::reopen, when a job threw), used there only, and closed there. Jobs run one at a
// time in the order posted; each result is handed to a callback run on the thread that made the
// worker (the GUI thread), unless the receiver given with the job is gone by then. The destructor
// skips the jobs not started, waits for the running one, closes the connection on the worker thread
// and joins it; nothing is delivered after it.
#pragma once
#include <QObject>
#include <QPointer>
#include <QString>
#include <QThread>
#include <atomic>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

namespace qatwb::store {
class Store;
}

namespace qatwb::ui {

// The untyped half of StoreWorker (store_worker.cpp): the thread, its queue, delivery back to the
// thread that made it, and shutdown.
class WorkerThread {
 public:
  explicit WorkerThread(const QString& name);
  ~WorkerThread();  // stop() unless done
  WorkerThread(const WorkerThread&) = delete;
  WorkerThread& operator=(const WorkerThread&) = delete;

  // Runs `task` on the worker thread after the tasks posted before it; skipped once stop() began.
  void post(std::function<void()> task);
  // From a task: runs `fn` on the thread that made this, unless `receiver` is gone by then or
  // this was stopped.
  void deliver(const QPointer<QObject>& receiver, std::function<void()> fn);
  // Skips the tasks not started, waits for the running one, runs `last` on the worker thread,
  // joins it and drops the deliveries not yet made.
  void stop(std::function<void()> last = {});
  QThread* thread() { return &thread_; }

 private:
  QThread thread_;
  QObject* context_;  // lives on thread_: tasks are queued calls to it
  QObject* home_;     // lives on the making thread: deliveries are queued calls to it
  std::shared_ptr<std::atomic<bool>> stopping_;
  bool stopped_ = false;
};

// What a job that threw leaves behind: its connection closed (the next job opens it again) or kept
// open with what it holds beside the database (a cache).
enum class AfterFailure { reopen, keep };

// Connection: store::Store (open_store below) or any type made by `open`.
template <class Connection>
class StoreWorker {
 public:
  // Called on the worker thread; throws (std::exception) when the database cannot be opened.
  using Opener = std::function<std::unique_ptr<Connection>(const std::string& db_path)>;

  StoreWorker(const QString& thread_name, Opener open, const QString& db_path = {},
              AfterFailure after_failure = AfterFailure::reopen)
      : thread_(thread_name),
        open_(std::move(open)),
        after_failure_(after_failure),
        db_path_(db_path) {}
  ~StoreWorker() {
    thread_.stop([this] { connection_.reset(); });
  }

  // Jobs posted from now on use this database (the connection is reopened on the worker thread).
  void set_database(const QString& db_path) { db_path_ = db_path; }
  const QString& database() const { return db_path_; }
  QThread* thread() { return thread_.thread(); }

  // Runs `job(Connection&)` on the worker thread, then `done(result)` (`done()` for a job that
  // returns void) on the thread that made the worker if `receiver` still exists. When the
  // connection cannot be opened or the job throws, `failed(message)` is called there instead,
  // when given (and the connection is closed or kept as AfterFailure says).
  template <class Job, class Done>
  void post(QObject* receiver, Job job, Done done,
            std::function<void(const QString&)> failed = {}) {
    using Result = std::invoke_result_t<Job&, Connection&>;
    thread_.post([this, guard = QPointer<QObject>(receiver), path = db_path_.toStdString(),
                  job = std::move(job), done = std::move(done),
                  failed = std::move(failed)]() mutable {
      try {
        if (!connection_ || opened_path_ != path) {
          connection_.reset();
          connection_ = open_(path);
          opened_path_ = path;
        }
        if constexpr (std::is_void_v<Result>) {
          job(*connection_);
          thread_.deliver(guard, [done] { done(); });
        } else {
          auto result = std::make_shared<Result>(job(*connection_));
          thread_.deliver(guard, [done, result] { done(std::move(*result)); });
        }
      } catch (const std::exception& e) {
        if (after_failure_ == AfterFailure::reopen) connection_.reset();
        if (failed)
          thread_.deliver(guard,
                          [failed, message = QString::fromUtf8(e.what())] { failed(message); });
      }
    });
  }

 private:
  WorkerThread thread_;
  const Opener open_;
  const AfterFailure after_failure_;
  QString db_path_;                         // the making thread's
  std::unique_ptr<Connection> connection_;  // the worker thread's
  std::string opened_path_;                 // the worker thread's
};

// The opener for StoreWorker<store::Store>: Store::open (creates the database).
std::unique_ptr<store::Store> open_store(const std::string& db_path);

}  // namespace qatwb::ui
