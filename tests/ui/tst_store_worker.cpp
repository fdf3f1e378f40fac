// StoreWorker over a real SQLite store in a temporary folder: jobs run on the worker thread in
// the order posted and their results arrive on the GUI thread; the connection is opened, used and
// closed on the worker thread only; a bad path or a throwing job reports its message, the next job
// opens the store again after an open failure, and after a throw when the worker reopens; results
// for a receiver that is gone are dropped; destroying the worker with jobs queued behind a slow
// one neither hangs nor runs them nor delivers anything.
#include <QDir>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>
#include <atomic>
#include <mutex>
#include <set>
#include <stdexcept>

#include "core/store/store.h"
#include "ui/widgets/store_worker.h"

using qatwb::ui::StoreWorker;

namespace {

// Which threads touched the connections of one worker.
struct ThreadLog {
  std::mutex mutex;
  std::set<QThread*> opened_on, used_on, closed_on;
  std::atomic<int> opened{0}, closed{0};
  void note(std::set<QThread*>& where) {
    std::lock_guard<std::mutex> lock(mutex);
    where.insert(QThread::currentThread());
  }
};

// A store connection that records the thread it is opened, used and closed on.
struct TracedStore {
  TracedStore(const std::string& path, std::shared_ptr<ThreadLog> log)
      : store(qatwb::store::Store::open(path)), log(std::move(log)) {
    this->log->note(this->log->opened_on);
    ++this->log->opened;
  }
  ~TracedStore() {
    log->note(log->closed_on);
    ++log->closed;
  }
  qatwb::store::Store& use() {
    log->note(log->used_on);
    return store;
  }
  qatwb::store::Store store;
  std::shared_ptr<ThreadLog> log;
};

using TracedWorker = StoreWorker<TracedStore>;

TracedWorker::Opener traced(std::shared_ptr<ThreadLog> log) {
  return [log](const std::string& path) { return std::make_unique<TracedStore>(path, log); };
}

// An empty run directory (ingesting it registers the run).
std::string make_run_dir(const QString& root, const QString& name) {
  const QString dir = root + "/" + name;
  QDir().mkpath(dir);
  return dir.toStdString();
}

}  // namespace

class TestStoreWorker : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void results_arrive_on_the_gui_thread_in_order();
  void connection_stays_on_the_worker_thread();
  void failures_report_and_reopen_or_keep_data();
  void failures_report_and_reopen_or_keep();
  void switching_database_reopens();
  void results_for_a_gone_receiver_are_dropped();
  void destruction_with_jobs_queued_is_prompt();

 private:
  QTemporaryDir tmp_;
};

void TestStoreWorker::results_arrive_on_the_gui_thread_in_order() {
  const QString db = tmp_.path() + "/order.sqlite";
  const std::string run_a = make_run_dir(tmp_.path() + "/runs", "run-a");
  const std::string run_b = make_run_dir(tmp_.path() + "/runs", "run-b");
  StoreWorker<qatwb::store::Store> worker("test-store-worker", qatwb::ui::open_store, db);
  QObject receiver;
  std::vector<QString> order;
  std::vector<QThread*> delivered_on;
  std::atomic<QThread*> job_thread{nullptr};
  for (const std::string& run : {run_a, run_b})
    worker.post(
        &receiver,
        [run, &job_thread](qatwb::store::Store& s) {
          job_thread = QThread::currentThread();
          s.ingest_run_dir(run);
          return QString::fromStdString(run);
        },
        [&](const QString& r) {
          order.push_back(r);
          delivered_on.push_back(QThread::currentThread());
        });
  bool void_done = false;
  worker.post(
      &receiver, [](qatwb::store::Store&) {}, [&] { void_done = true; });
  int runs = -1;
  worker.post(
      &receiver, [](qatwb::store::Store& s) { return int(s.list_runs().size()); },
      [&](int n) { runs = n; });
  QTRY_COMPARE_WITH_TIMEOUT(runs, 2, 10000);
  QVERIFY(void_done);
  QCOMPARE(order,
           (std::vector<QString>{QString::fromStdString(run_a), QString::fromStdString(run_b)}));
  for (QThread* t : delivered_on) QCOMPARE(t, QThread::currentThread());
  QVERIFY(job_thread.load() != nullptr);
  QVERIFY(job_thread.load() != QThread::currentThread());
  QCOMPARE(job_thread.load(), worker.thread());
  // The work is in the file: another connection sees it.
  QCOMPARE(int(qatwb::store::Store::open_existing(db.toStdString()).list_runs().size()), 2);
}

void TestStoreWorker::connection_stays_on_the_worker_thread() {
  auto log = std::make_shared<ThreadLog>();
  QThread* worker_thread = nullptr;
  {
    TracedWorker worker("test-traced", traced(log), tmp_.path() + "/traced.sqlite");
    worker_thread = worker.thread();
    QObject receiver;
    int done = 0;
    for (int i = 0; i < 5; ++i)
      worker.post(
          &receiver, [](TracedStore& c) { return c.use().table_counts().size(); },
          [&](size_t tables) {
            QVERIFY(tables > 0);
            ++done;
          });
    QTRY_COMPARE_WITH_TIMEOUT(done, 5, 10000);
    QCOMPARE(log->opened.load(), 1);  // kept open between jobs
    QCOMPARE(log->closed.load(), 0);
  }
  QCOMPARE(log->closed.load(), 1);  // closed by the destructor...
  const std::set<QThread*> only_worker{worker_thread};
  QCOMPARE(log->opened_on, only_worker);  // ...and opened, used, closed on the worker thread
  QCOMPARE(log->used_on, only_worker);
  QCOMPARE(log->closed_on, only_worker);
  QVERIFY(worker_thread != QThread::currentThread());
}

void TestStoreWorker::failures_report_and_reopen_or_keep_data() {
  QTest::addColumn<bool>("keep");
  QTest::addColumn<int>("opened");  // connections opened by the end
  QTest::addColumn<int>("closed");
  QTest::newRow("reopen") << false << 2 << 1;
  QTest::newRow("keep") << true << 1 << 0;
}

void TestStoreWorker::failures_report_and_reopen_or_keep() {
  QFETCH(bool, keep);
  QFETCH(int, opened);
  QFETCH(int, closed);
  const QString name = QTest::currentDataTag();
  auto log = std::make_shared<ThreadLog>();
  // A folder where the database file should be: it cannot be opened.
  const QString bad = tmp_.path() + "/not-a-db-" + name + ".sqlite";
  QDir().mkpath(bad);
  TracedWorker worker("test-failures", traced(log), bad,
                      keep ? qatwb::ui::AfterFailure::keep : qatwb::ui::AfterFailure::reopen);
  QObject receiver;
  QStringList failures;
  QThread* failed_on = nullptr;
  bool ran = false;
  worker.post(
      &receiver, [&ran](TracedStore&) { ran = true; }, [] { QFAIL("no store, no result"); },
      [&](const QString& m) {
        failures << m;
        failed_on = QThread::currentThread();
      });
  QTRY_COMPARE_WITH_TIMEOUT(failures.size(), 1, 10000);
  QVERIFY(!ran);
  QVERIFY2(failures[0].contains("not-a-db-" + name + ".sqlite"), qPrintable(failures[0]));
  QCOMPARE(failed_on, QThread::currentThread());
  QCOMPARE(log->opened.load(), 0);

  // Opening is tried again either way; a job that throws closes the connection (reopen: the next
  // job opens it again) or leaves it open (keep).
  worker.set_database(tmp_.path() + "/failures-" + name + ".sqlite");
  worker.post(
      &receiver, [](TracedStore&) -> int { throw std::runtime_error("job broke"); },
      [](int) { QFAIL("the job threw"); }, [&](const QString& m) { failures << m; });
  int tables = 0;
  worker.post(
      &receiver, [](TracedStore& c) { return int(c.use().table_counts().size()); },
      [&](int n) { tables = n; });
  QTRY_VERIFY_WITH_TIMEOUT(tables > 0, 10000);
  QCOMPARE(failures.size(), 2);
  QCOMPARE(failures[1], QString("job broke"));
  QCOMPARE(log->opened.load(), opened);
  QCOMPARE(log->closed.load(), closed);
}

void TestStoreWorker::switching_database_reopens() {
  const QString a = tmp_.path() + "/switch-a.sqlite", b = tmp_.path() + "/switch-b.sqlite";
  StoreWorker<qatwb::store::Store> worker("test-switch", qatwb::ui::open_store, a);
  QObject receiver;
  QStringList paths;
  auto path_of = [](qatwb::store::Store& s) { return QString::fromStdString(s.path()); };
  worker.post(&receiver, path_of, [&](const QString& p) { paths << p; });
  worker.set_database(b);
  QCOMPARE(worker.database(), b);
  worker.post(&receiver, path_of, [&](const QString& p) { paths << p; });
  QTRY_COMPARE_WITH_TIMEOUT(paths.size(), 2, 10000);
  QVERIFY2(paths[0].endsWith("switch-a.sqlite"), qPrintable(paths[0]));
  QVERIFY2(paths[1].endsWith("switch-b.sqlite"), qPrintable(paths[1]));
  QVERIFY(QFileInfo::exists(a) && QFileInfo::exists(b));
}

void TestStoreWorker::results_for_a_gone_receiver_are_dropped() {
  StoreWorker<qatwb::store::Store> worker("test-gone", qatwb::ui::open_store,
                                          tmp_.path() + "/gone.sqlite");
  auto* gone = new QObject;
  QObject stays;
  std::atomic<bool> release{false};
  int gone_results = 0, stays_results = 0;
  worker.post(
      gone,
      [&release](qatwb::store::Store&) {
        while (!release) QThread::msleep(5);
        return 1;
      },
      [&](int) { ++gone_results; });
  worker.post(
      &stays, [](qatwb::store::Store&) { return 2; }, [&](int) { ++stays_results; });
  delete gone;
  release = true;
  QTRY_COMPARE_WITH_TIMEOUT(stays_results, 1, 10000);
  QTest::qWait(50);
  QCOMPARE(gone_results, 0);
}

void TestStoreWorker::destruction_with_jobs_queued_is_prompt() {
  auto log = std::make_shared<ThreadLog>();
  std::atomic<int> started{0};
  std::atomic<bool> slow_running{false};
  int delivered = 0;
  QObject receiver;
  QElapsedTimer clock;
  {
    TracedWorker worker("test-shutdown", traced(log), tmp_.path() + "/shutdown.sqlite");
    worker.post(
        &receiver,
        [&](TracedStore& c) {
          ++started;
          slow_running = true;
          c.use();
          QThread::msleep(300);
          return 0;
        },
        [&](int) { ++delivered; });
    for (int i = 0; i < 200; ++i)
      worker.post(
          &receiver,
          [&started, i](TracedStore& c) {
            ++started;
            c.use();
            QThread::msleep(50);  // 10 s if they all ran
            return i;
          },
          [&](int) { ++delivered; });
    QTRY_VERIFY_WITH_TIMEOUT(slow_running.load(), 10000);
    clock.start();
  }  // destroyed while the slow job runs and 200 are queued
  QVERIFY2(clock.elapsed() < 3000, qPrintable(QString::number(clock.elapsed())));
  QCOMPARE(started.load(), 1);  // the queued jobs were skipped
  QTest::qWait(100);
  QCOMPARE(delivered, 0);  // the slow job's result came after the end: dropped
  QCOMPARE(log->opened.load(), 1);
  QCOMPARE(log->closed.load(), 1);
  QCOMPARE(int(log->closed_on.size()), 1);
  QVERIFY(*log->closed_on.begin() != QThread::currentThread());
}

QTEST_MAIN(TestStoreWorker)
#include "tst_store_worker.moc"
