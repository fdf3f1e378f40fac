// The live dashboard: a real fake_trainer child process writes events; the dashboard's worker
// thread ingests them and the loss chart shows each new point within 2 s, without stalling the
// GUI thread. Also: controls (smoothing, x axis, log scale) reach the charts.
#include <QCheckBox>
#include <QComboBox>
#include <QElapsedTimer>
#include <QFile>
#include <QProcess>
#include <QSlider>
#include <QTemporaryDir>
#include <QTimer>
#include <QtTest>

#include "core/store/store.h"
#include "tests/common/test_env.h"
#include "ui/dashboard/dashboard_loader.h"
#include "ui/dashboard/dashboard_view.h"
#include "ui/plot/metric_chart_widget.h"
#include "ui/plot/qcustomplot_include.h"

using namespace qatwb;

namespace {

int metric_lines(const QString& events) {
  QFile f(events);
  if (!f.open(QIODevice::ReadOnly)) return 0;
  int n = 0;
  for (const QByteArray& line : f.readAll().split('\n'))
    if (line.contains("\"type\":\"metric\"")) ++n;
  return n;
}

QString fake_trainer() { return qEnvironmentVariable("QATWB_FAKE_TRAINER"); }

}  // namespace

class TestDashboard : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void live_points_within_two_seconds() {
    if (!QFile::exists(fake_trainer())) QSKIP("fake_trainer not built");
    QTemporaryDir tmp;
    const QString db = tmp.filePath("runs.sqlite");
    const QString run_dir = tmp.filePath("live-run");
    QDir().mkpath(run_dir);
    int64_t id = 0;
    {
      auto store = store::Store::open(db.toStdString());
      store.ingest_run_dir(run_dir.toStdString());  // registered, no events yet
      id = store.find_run(run_dir.toStdString());
    }
    ui::DashboardView view;
    view.resize(1000, 700);
    view.show();
    view.set_refresh_interval_ms(300);
    view.set_database(db);
    view.set_runs({id});
    QCOMPARE(view.chart_count(), 5);
    plot::MetricChartWidget* loss = view.chart_for("loss");
    QVERIFY(loss);
    QVERIFY(view.chart_for("grad_norm")->grad_norm_view());

    // The GUI thread must keep turning while the worker ingests.
    QElapsedTimer gap;
    gap.start();
    qint64 worst_gap = 0;
    QTimer ticker;
    QObject::connect(&ticker, &QTimer::timeout,
                     [&] { worst_gap = std::max(worst_gap, gap.restart()); });

    QProcess trainer;
    trainer.start(fake_trainer(), {"no-such-project.yaml", "--run-dir", run_dir, "--steps", "30",
                                   "--delay-ms", "100"});
    QVERIFY(trainer.waitForStarted(5000));
    gap.restart();
    ticker.start(10);
    const QString events = run_dir + "/events.jsonl";
    for (int target : {5, 15, 25}) {
      QElapsedTimer wait;
      wait.start();
      int written = 0;
      while ((written = metric_lines(events)) < target && wait.elapsed() < 20000) QTest::qWait(5);
      QVERIFY2(written >= target, "fake_trainer did not write its steps");
      QElapsedTimer shown;
      shown.start();
      QTRY_VERIFY_WITH_TIMEOUT(loss->point_count() >= written, 2000);
      qInfo() << "step" << written << "shown after" << shown.elapsed() << "ms";
    }
    ticker.stop();
    qInfo() << "worst GUI-thread gap" << worst_gap << "ms";
    QVERIFY2(worst_gap < 300, qPrintable(QString::number(worst_gap)));
    QTRY_VERIFY_WITH_TIMEOUT(trainer.state() == QProcess::NotRunning, 20000);
    QCOMPARE(trainer.exitCode(), 0);
    QTRY_VERIFY_WITH_TIMEOUT(loss->point_count() == 30, 2000);
    // The last point is loss = 10 / 30 at metric step 29 (0-based, as the trainer logs it).
    QCPGraph* raw = nullptr;
    for (int i = 0; i < loss->plot()->graphCount(); ++i)
      if (loss->plot()->graph(i)->property("qatwb_role").toString() == "raw")
        raw = loss->plot()->graph(i);
    QVERIFY(raw);
    QCOMPARE(raw->data()->at(29)->key, 29.0);
    QVERIFY(std::abs(raw->data()->at(29)->value - 10.0 / 30) < 1e-9);
    QVERIFY(view.chart_for("lr")->point_count() == 30);
  }

  void cache_follows_new_events() {
    // The loader's cache serves a run until its data changes, whoever ingested the new lines.
    QTemporaryDir tmp;
    const std::string db = tmp.filePath("c.sqlite").toStdString();
    const QString dir = tmp.filePath("c");
    QDir().mkpath(dir);
    auto write_steps = [&](int from, int to, bool end) {
      QFile f(dir + "/events.jsonl");
      QVERIFY(f.open(QIODevice::Append));
      for (int s = from; s <= to; ++s)
        f.write(QString("{\"v\":1,\"type\":\"metric\",\"time\":%1,\"step\":%1,"
                        "\"values\":{\"loss\":%2}}\n")
                    .arg(s)
                    .arg(1.0 / s)
                    .toUtf8());
      if (end) f.write("{\"v\":1,\"type\":\"end\",\"time\":99,\"status\":\"finished\"}\n");
    };
    write_steps(1, 10, false);
    auto mine = store::Store::open(db);
    auto other = store::Store::open(db);  // another process's connection
    mine.ingest_run_dir(dir.toStdString());
    ui::DashboardRequest req;
    req.db_path = QString::fromStdString(db);
    req.runs = {mine.find_run(dir.toStdString())};
    req.keys = {"loss"};
    req.ingest = false;
    ui::SeriesCache cache;
    auto r = ui::load_dashboard(mine, req, &cache);
    QCOMPARE(r.charts[0].series[0].x.size(), size_t{10});
    QVERIFY(r.live);
    write_steps(11, 15, true);
    other.ingest_run_dir(dir.toStdString());
    r = ui::load_dashboard(mine, req, &cache);
    QCOMPARE(r.charts[0].series[0].x.size(), size_t{15});
    QVERIFY(!r.live);
    r = ui::load_dashboard(mine, req, &cache);  // from the cache, same data
    QCOMPARE(r.charts[0].series[0].x.size(), size_t{15});
    QVERIFY(std::abs(r.charts[0].series[0].y.back() - 1.0 / 15) < 1e-6);
  }

  void controls_reach_charts() {
    QTemporaryDir tmp;
    const QString db = tmp.filePath("runs.sqlite");
    const QString run_dir = tmp.filePath("r");
    QDir().mkpath(run_dir);
    QFile f(run_dir + "/events.jsonl");
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(
        "{\"v\":1,\"type\":\"start\",\"time\":1000,\"run\":\"r\",\"project\":\"p\","
        "\"config\":{},\"host\":\"h\",\"pid\":1,\"device\":\"cpu\",\"threads\":1}\n");
    for (int s = 1; s <= 20; ++s)
      f.write(QString("{\"v\":1,\"type\":\"metric\",\"time\":%1,\"step\":%2,\"values\":"
                      "{\"loss\":%3,\"grad_norm\":1}}\n")
                  .arg(1000 + 2 * s)
                  .arg(s)
                  .arg(5.0 / s)
                  .toUtf8());
    f.write("{\"v\":1,\"type\":\"end\",\"time\":1100,\"status\":\"finished\",\"reason\":\"\"}\n");
    f.close();
    int64_t id = 0;
    {
      auto store = store::Store::open(db.toStdString());
      store.ingest_run_dir(run_dir.toStdString());
      id = store.find_run("r");
    }
    ui::DashboardView view;
    view.set_database(db);
    view.set_runs({id});
    view.refresh_now();
    auto* loss = view.chart_for("loss");
    QCOMPARE(loss->point_count(), 20);
    auto* slider = view.findChild<QSlider*>();
    QVERIFY(slider);
    slider->setValue(0);
    QCOMPARE(loss->smoothing(), 0.0);
    auto* log = view.findChild<QCheckBox*>();
    log->setChecked(true);
    QVERIFY(loss->log_y());
    QCOMPARE(loss->plot()->yAxis->scaleType(), QCPAxis::stLogarithmic);
    auto* combo = view.findChild<QComboBox*>();
    combo->setCurrentIndex(combo->findText("Relative time"));
    QTRY_COMPARE(loss->plot()->graph(0)->data()->at(0)->key, 2.0);  // step 1 at t = 1002
    QCOMPARE(loss->plot()->xAxis->label(), QString("time since start (s)"));
  }
};

QTEST_MAIN(TestDashboard)
#include "tst_dashboard.moc"
