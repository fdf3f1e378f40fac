#include <QtTest>

#include "core/util/error.h"

class TestError : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void location_format() {
    QCOMPARE(QString::fromStdString(qatwb::at_location("a.yaml", 3, "bad")),
             QString("a.yaml:3: bad"));
    QCOMPARE(QString::fromStdString(qatwb::at_location("a.yaml", 0, "bad")),
             QString("a.yaml: bad"));
    qatwb::Error e("x", 3);
    QCOMPARE(e.exit_code(), 3);
  }
};

QTEST_GUILESS_MAIN(TestError)
#include "tst_error.moc"
