#include <QtTest>
#include <cmath>

#include "core/train/grad_stats.h"
#include "core/train/lr_schedule.h"

using qatwb::project::ScheduleSection;

class TestSchedule : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void warmup_then_cosine() {
    ScheduleSection s;
    s.kind = ScheduleSection::Kind::Cosine;
    s.warmup_steps = 4;
    s.min_lr_ratio = 0.1;
    QCOMPARE(qatwb::train::lr_factor(s, 0, 104), 1.0 / 5);
    QCOMPARE(qatwb::train::lr_factor(s, 3, 104), 4.0 / 5);
    QCOMPARE(qatwb::train::lr_factor(s, 4, 104), 1.0);
    // Halfway through the decay: floor + (1 - floor) / 2.
    QVERIFY(std::abs(qatwb::train::lr_factor(s, 4 + 99 / 2.0, 104) - 0.55) < 0.02);
    QCOMPARE(qatwb::train::lr_factor(s, 103, 104), 0.1);
  }
  void linear_and_constant() {
    ScheduleSection s;
    s.kind = ScheduleSection::Kind::Linear;
    QCOMPARE(qatwb::train::lr_factor(s, 0, 11), 1.0);
    QCOMPARE(qatwb::train::lr_factor(s, 5, 11), 0.5);
    QCOMPARE(qatwb::train::lr_factor(s, 10, 11), 0.0);
    s.kind = ScheduleSection::Kind::Constant;
    QCOMPARE(qatwb::train::lr_factor(s, 7, 11), 1.0);
  }
  void grad_norm_spikes() {
    qatwb::train::GradNormStats stats(20, 3.0);
    for (int i = 0; i < 10; ++i) QVERIFY(!stats.add(1.0 + 0.01 * (i % 3)));
    QVERIFY(stats.add(5.0));  // far above mean + 3 std
    QCOMPARE(stats.spikes(), int64_t{1});
    QVERIFY(!stats.add(1.01));
    auto saved = stats.state();
    qatwb::train::GradNormStats restored(20, 3.0);
    restored.load_state(saved);
    QCOMPARE(restored.mean(), stats.mean());
    QCOMPARE(restored.spikes(), stats.spikes());
  }
};

QTEST_GUILESS_MAIN(TestSchedule)
#include "tst_schedule.moc"
