// The compare view over a real store: table cells equal report::summary_rows of the store, the
// sort proxy orders numerically, CSV / Markdown export, overlaid panels vs small multiples, and
// checking a run in the list adds it.
#include <QListWidget>
#include <QSortFilterProxyModel>
#include <QTableView>
#include <QTemporaryDir>
#include <QtTest>

#include <algorithm>
#include <functional>

#include "core/report/summary_table.h"
#include "core/run/event_log.h"
#include "core/run/run_dir.h"
#include "core/store/store.h"
#include "ui/compare/compare_view.h"
#include "ui/plot/metric_chart_widget.h"

using namespace qatwb;

namespace {

std::string write_run(const QString& root, const std::string& name, double bits, double ppl_final,
                      double step_s) {
  run::RunDir dir((root + "/" + QString::fromStdString(name)).toStdString());
  dir.create();
  run::EventWriter w(dir.events_path(), run::FsyncPolicy::Never);
  run::StartInfo s;
  s.run = name;
  s.project = "cmp";
  s.config_json = std::isfinite(bits) ? R"({"quant":{"enabled":true,"format":"int","bits":)" +
                                            std::to_string(bits) +
                                            R"(,"granularity":"per_channel","surrogate":"ste"}})"
                                      : std::string("{}");
  w.start(s);
  if (std::isfinite(bits)) w.eval(0, {{"ppl_fp", 20.0}, {"ppl_rtn", 100.0}});
  for (int step = 1; step <= 50; ++step)
    w.metric(step - 1,  // metric steps are 0-based (the trainer's): 50 steps

             {{"loss", 5.0 / step}, {"grad_norm", 1.0 + (step % 3)}, {"step_time_s", step_s}});
  w.eval(50, {{std::isfinite(bits) ? "ppl_postquant" : "ppl", ppl_final}});
  w.end("finished", "");
  return dir.path();
}

}  // namespace

class TestCompareView : public QObject {
  Q_OBJECT

 private:
  QTemporaryDir tmp_;
  QString db_;
  std::vector<int64_t> ids_;

 private Q_SLOTS:
  void initTestCase() {
    db_ = tmp_.filePath("db.sqlite");
    auto store = store::Store::open(db_.toStdString());
    for (const auto& d :
         {write_run(tmp_.path(), "fp", NAN, 21, 0.1), write_run(tmp_.path(), "w2", 2, 60, 0.25),
          write_run(tmp_.path(), "w4", 4, 30, 0.2)}) {
      store.ingest_run_dir(d);
      ids_.push_back(store.find_run(d));
    }
  }

  void table_equals_store() {
    ui::CompareView view;
    view.set_database(db_);
    view.set_runs({ids_[0], ids_[1], ids_[2]});
    auto store = store::Store::open_existing(db_.toStdString());
    const auto rows = report::summary_rows(store, ids_);
    QAbstractItemModel* m = view.summary_model();
    QVERIFY(m);
    QCOMPARE(m->rowCount(), 3);
    QCOMPARE(m->columnCount(), static_cast<int>(report::summary_columns().size()));
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < m->columnCount(); ++c)
        QCOMPARE(m->index(r, c).data().toString(),
                 QString::fromStdString(
                     report::summary_cell(rows[static_cast<size_t>(r)], static_cast<size_t>(c))));
    // Spot checks against hand-computed values: recovery (100-60)/80, overhead 250/100 ms.
    // Columns by title, so that a new column does not shift the checks.
    const auto cols = report::summary_columns();
    auto col = [&](const char* title) {
      return static_cast<int>(std::find(cols.begin(), cols.end(), title) - cols.begin());
    };
    const int recovery = col("recovery"), overhead = col("overhead");
    QCOMPARE(m->index(1, recovery).data().toString(), QString("50.0%"));
    QCOMPARE(m->index(2, recovery).data().toString(), QString("87.5%"));
    QCOMPARE(m->index(1, overhead).data().toString(), QString("2.50x"));
    QCOMPARE(m->index(0, recovery).data().toString(), QString("\u2013"));

    // Sorting by recovery is numeric, with the missing value last.
    auto* table = view.findChild<QTableView*>();
    QVERIFY(table);
    table->sortByColumn(recovery, Qt::DescendingOrder);
    auto* proxy = table->model();
    QCOMPARE(proxy->index(0, 0).data().toString(), QString("fp"));  // NaN sorts as largest
    table->sortByColumn(recovery, Qt::AscendingOrder);
    QCOMPARE(proxy->index(0, 0).data().toString(), QString("w2"));
    QCOMPARE(proxy->index(1, 0).data().toString(), QString("w4"));

    // Exports are the shared renderers over the same rows.
    QCOMPARE(view.summary_csv(), QString::fromStdString(report::summary_csv(rows)));
    QCOMPARE(view.summary_markdown(), QString::fromStdString(report::summary_markdown(rows)));
    QVERIFY(view.summary_csv().contains(",w2,cmp,finished,ste,int,int W2 per_channel,2,,50,"));
  }

  void panels_overlaid_and_small_multiples() {
    ui::CompareView view;
    view.set_database(db_);
    view.set_runs({ids_[0], ids_[1]});
    QCOMPARE(view.panel_count(), 5);
    plot::MetricChartWidget* loss = nullptr;
    for (int i = 0; i < view.panel_count(); ++i)
      if (view.panel(i)->spec().metric_key == "loss") loss = view.panel(i);
    QVERIFY(loss);
    QCOMPARE(static_cast<int>(loss->spec().series.size()), 2);
    QCOMPARE(loss->point_count(), 100);
    view.set_small_multiples(true);
    QCOMPARE(view.panel_count(), 2);
    QCOMPARE(static_cast<int>(view.panel(0)->spec().series.size()), 1);
    QCOMPARE(view.panel(1)->spec().series[0].run_id, ids_[1]);
  }

  void checking_a_run_adds_it() {
    ui::CompareView view;
    view.set_database(db_);
    view.set_runs({ids_[0]});
    QCOMPARE(view.summary_model()->rowCount(), 1);
    auto* list = view.findChild<QListWidget*>();
    QVERIFY(list);
    QCOMPARE(list->count(), 3);
    for (int i = 0; i < list->count(); ++i)
      if (list->item(i)->data(Qt::UserRole).toLongLong() == ids_[2])
        list->item(i)->setCheckState(Qt::Checked);
    QCOMPARE(view.summary_model()->rowCount(), 2);
    QCOMPARE(view.summary_model()->index(1, 0).data().toString(), QString("w4"));
  }

  void follows_progress_and_new_runs() {
    // A run that is still training when the view opens: as its events reach the store (another
    // process ingests them, as `qatwb run` does), the table, the charts and the run list follow.
    QTemporaryDir tmp;
    const QString db = tmp.filePath("live.sqlite");
    run::RunDir dir(tmp.filePath("live").toStdString());
    dir.create();
    run::EventWriter w(dir.events_path(), run::FsyncPolicy::Never);
    run::StartInfo s;
    s.run = "live";
    s.project = "cmp";
    s.config_json = R"({"quant":{"enabled":true,"format":"int","bits":2,"surrogate":"ste"},)"
                    R"("train":{"steps":30}})";
    w.start(s);
    w.eval(0, {{"ppl_fp", 20.0}, {"ppl_rtn", 100.0}});
    for (int step = 0; step < 20; ++step) w.metric(step, {{"loss", 5.0 - 0.1 * step}});
    w.eval(19, {{"ppl_postquant", 80.0}});
    auto store = store::Store::open(db.toStdString());
    store.ingest_run_dir(dir.path());
    const int64_t id = store.find_run(dir.path());

    ui::CompareView view;
    view.set_refresh_interval_ms(100);
    view.show();
    view.set_database(db);
    view.set_runs({id});
    const auto cols = report::summary_columns();
    auto cell = [&](const char* title) {
      const int c = static_cast<int>(std::find(cols.begin(), cols.end(), title) - cols.begin());
      return view.summary_model()->index(0, c).data().toString();
    };
    QCOMPARE(cell("status"), QString("running"));
    QCOMPARE(cell("steps"), QString("20"));
    QCOMPARE(cell("final ppl"), QString("80.00"));
    plot::MetricChartWidget* loss = nullptr;
    for (int i = 0; i < view.panel_count(); ++i)
      if (view.panel(i)->spec().metric_key == "loss") loss = view.panel(i);
    QVERIFY(loss);
    QCOMPARE(loss->point_count(), 20);
    QVERIFY(!view.poll_now());  // nothing new

    // The run goes on and ends.
    for (int step = 20; step < 30; ++step) w.metric(step, {{"loss", 5.0 - 0.1 * step}});
    w.eval(29, {{"ppl_postquant", 70.0}});
    w.end("finished", "");
    store.ingest_run_dir(dir.path());
    QTRY_COMPARE_WITH_TIMEOUT(cell("status"), QString("finished"), 3000);  // by the timer
    QCOMPARE(cell("steps"), QString("30"));
    QCOMPARE(cell("final ppl"), QString("70.00"));
    // (100 - 70) / (100 - 20)
    QCOMPARE(cell("recovery"), QString("37.5%"));
    QCOMPARE(loss->point_count(), 30);  // the same panel, re-read
    QVERIFY(view.panel_count() > 0 && view.panel(0) != nullptr);

    // A new run appears in the list, unchecked; the compared run stays checked.
    auto* list = view.findChild<QListWidget*>();
    QCOMPARE(list->count(), 1);
    run::RunDir dir2(tmp.filePath("later").toStdString());
    dir2.create();
    run::EventWriter w2(dir2.events_path(), run::FsyncPolicy::Never);
    s.run = "later";
    w2.start(s);
    store.ingest_run_dir(dir2.path());
    QTRY_COMPARE_WITH_TIMEOUT(list->count(), 2, 3000);
    QCOMPARE(list->item(0)->checkState(), Qt::Checked);
    QCOMPARE(list->item(1)->checkState(), Qt::Unchecked);
    QCOMPARE(list->item(1)->text(), QString("cmp/later"));
    QCOMPARE(view.summary_model()->rowCount(), 1);
  }

  void noisy_overhead_is_marked() {
    // Step times taken at different times: a quantized run "faster" than the unquantized one
    // (0.082 s vs 0.1 s) and a ratio inside a run's own spread are marked, not read as speed.
    QTemporaryDir tmp;
    const QString db = tmp.filePath("noise.sqlite");
    auto store = store::Store::open(db.toStdString());
    auto add = [&](const std::string& name, double bits, std::function<double(int)> step_s) {
      run::RunDir dir((tmp.path() + "/" + QString::fromStdString(name)).toStdString());
      dir.create();
      run::EventWriter w(dir.events_path(), run::FsyncPolicy::Never);
      run::StartInfo s;
      s.run = name;
      s.project = "noise";
      s.config_json = std::isfinite(bits) ? R"({"quant":{"enabled":true,"format":"int","bits":)" +
                                                std::to_string(bits) + R"(,"surrogate":"dsq"}})"
                                          : std::string(R"({"quant":{"enabled":false}})");
      w.start(s);
      for (int step = 0; step < 50; ++step) w.metric(step, {{"step_time_s", step_s(step)}});
      w.end("finished", "");
      store.ingest_run_dir(dir.path());
      return store.find_run(dir.path());
    };
    const int64_t fp = add("fp", NAN, [](int) { return 0.1; });
    const int64_t fast = add("dsq-fast", 2, [](int) { return 0.082; });
    const int64_t jitter = add("dsq-jitter", 2, [](int s) { return s % 2 ? 0.13 : 0.1; });
    const int64_t slow = add("dsq-slow", 2, [](int) { return 0.25; });
    ui::CompareView view;
    view.set_database(db);
    view.set_runs({fp, fast, jitter, slow});
    const auto cols = report::summary_columns();
    const int c = static_cast<int>(std::find(cols.begin(), cols.end(), "overhead") - cols.begin());
    QAbstractItemModel* m = view.summary_model();
    QCOMPARE(m->index(0, c).data().toString(), QString("1.00x"));
    QCOMPARE(m->index(1, c).data().toString(), QString("0.82x?"));
    // Median 0.115 s (25 steps at 0.1, 25 at 0.13): 1.15x, inside its spread 0.03 / 0.115 = 26%.
    QCOMPARE(m->index(2, c).data().toString(), QString("1.15x?"));
    QCOMPARE(m->index(3, c).data().toString(), QString("2.50x"));
    QVERIFY(m->index(1, c).data(Qt::ToolTipRole).toString().contains("NOISY"));
    QVERIFY(m->index(2, c).data(Qt::ToolTipRole).toString().contains("26%"));
    QVERIFY(!m->index(3, c).data(Qt::ToolTipRole).toString().contains("NOISY"));
    QVERIFY(view.summary_markdown().contains("within machine-load noise"));
  }

  void bad_database_is_reported_not_fatal() {
    ui::CompareView view;
    view.set_database(tmp_.filePath("missing.sqlite"));
    view.set_runs({1});
    QCOMPARE(view.summary_model()->rowCount(), 0);
    QCOMPARE(view.panel_count(), 0);
  }
};

QTEST_MAIN(TestCompareView)
#include "tst_compare_view.moc"
