#include <QtTest>

#include "core/train/threads.h"

class TestThreads : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void sets_requested_count() {
    const std::string line = qatwb::configure_threads(1);
    QCOMPARE(torch::get_num_threads(), 1);
    QVERIFY(line.find("1 intra-op") != std::string::npos);
  }
  void zero_means_all_cores() {
    qatwb::configure_threads(0);
    QCOMPARE(torch::get_num_threads(), static_cast<int>(std::thread::hardware_concurrency()));
  }
};

QTEST_GUILESS_MAIN(TestThreads)
#include "tst_threads.moc"
