// What a researcher sees at the default sizes: legends beside the data, never over it; the run and
// compare tables show Status / Progress / Best PPL / recovery without scrolling; the wizard's
// fields stay where they are when a message appears under one; the learning rate and throughput
// are never smoothed; a right click opens the chart menu (a popup, no window manager needed).
#include <QApplication>
#include <QDir>
#include <QHeaderView>
#include <QLineEdit>
#include <QMenu>
#include <QRadioButton>
#include <QSettings>
#include <QTableView>
#include <QTemporaryDir>
#include <QtTest>

#include "core/report/summary_table.h"
#include "core/run/event_log.h"
#include "core/store/store.h"
#include "ui/compare/compare_view.h"
#include "ui/dashboard/dashboard_view.h"
#include "ui/main/main_window.h"
#include "ui/models/run_table_model.h"
#include "ui/plot/metric_chart_widget.h"
#include "ui/plot/qcustomplot_include.h"
#include "ui/widgets/field_message.h"
#include "ui/wizard/project_wizard.h"

using namespace qatwb;

namespace {

// lr: linear warm-up to 1e-3 at step 20, then linear decay to 0 at step 99.
double lr_at(int s) { return s <= 20 ? 1e-3 * s / 20.0 : 1e-3 * (99 - s) / 79.0; }

QString make_run(const QString& root, const QString& name, const std::string& surrogate) {
  const QString dir = root + "/" + name;
  QDir().mkpath(dir);
  run::EventWriter w((dir + "/events.jsonl").toStdString());
  run::StartInfo s;
  s.run = name.toStdString();
  s.project = "a-project-with-a-rather-long-name";
  s.config_json = R"({"quant":{"enabled":true,"bits":2,"surrogate":")" + surrogate +
                  R"("},"train":{"steps":100}})";
  w.start(s);
  w.eval(0, {{"ppl_fp", 20.0}, {"ppl_rtn", 90.0}});
  for (int step = 0; step < 100; ++step)
    w.metric(step, {{"loss", 3.0 + 0.5 * std::sin(step * 0.3)},
                    {"lr", lr_at(step)},
                    {"tokens_per_s", step % 10 == 0 ? 100.0 : 1000.0},
                    {"grad_norm", 1.0}});
  w.eval(99, {{"ppl_postquant", 30.0}});
  w.end("finished", "done");
  return dir;
}

// The column's cell lies inside the table's viewport (no horizontal scrolling needed).
bool column_visible(QTableView* t, int column) {
  QHeaderView* h = t->horizontalHeader();
  return !h->isSectionHidden(column) && h->sectionViewportPosition(column) >= 0 &&
         h->sectionViewportPosition(column) + h->sectionSize(column) <= t->viewport()->width();
}

}  // namespace

class TestReadability : public QObject {
  Q_OBJECT

 private:
  QTemporaryDir tmp_;
  QString db_;
  QList<qint64> ids_;

 private Q_SLOTS:
  void initTestCase() {
    QSettings::setPath(QSettings::IniFormat, QSettings::UserScope, tmp_.path() + "/settings");
    db_ = tmp_.filePath("runs.sqlite");
    auto store = store::Store::open(db_.toStdString());
    const char* names[] = {"w2-ste-per-tensor-learned-scales", "w2-stableqat-per-tensor-learned",
                           "w2-dsq-per-tensor-learned-scales"};
    const char* surrogates[] = {"ste", "stableqat", "dsq"};
    for (int i = 0; i < 3; ++i) {
      const QString d = make_run(tmp_.path(), names[i], surrogates[i]);
      store.ingest_run_dir(d.toStdString());
      ids_ << store.find_run(d.toStdString());
    }
  }

  void legends_outside_the_data() {
    ui::DashboardView view;
    view.resize(1000, 700);
    view.set_database(db_);
    view.set_runs(ids_);
    view.refresh_now();
    view.show();
    QVERIFY(QTest::qWaitForWindowExposed(&view));
    for (int i = 0; i < view.chart_count(); ++i) {
      QCustomPlot* p = view.chart(i)->plot();
      p->replot(QCustomPlot::rpImmediateRefresh);
      QVERIFY(p->legend->visible());
      QCOMPARE(p->legend->itemCount(), 3);
      const QRect legend = p->legend->outerRect(), data = p->axisRect()->rect();
      QVERIFY2(!legend.intersects(data),
               qPrintable(QString("chart %1: legend %2,%3 %4x%5 over data %6,%7 %8x%9")
                              .arg(i)
                              .arg(legend.x())
                              .arg(legend.y())
                              .arg(legend.width())
                              .arg(legend.height())
                              .arg(data.x())
                              .arg(data.y())
                              .arg(data.width())
                              .arg(data.height())));
      QVERIFY(legend.top() >= data.bottom());  // under the axis rect
    }
  }

  void tables_show_the_key_columns_at_default_width() {
    ui::MainWindow w(db_);
    w.set_persistent(false);
    w.show();
    QVERIFY(QTest::qWaitForWindowExposed(&w));
    w.refresh_runs_now();
    QCOMPARE(w.run_model()->rowCount(), 3);
    QApplication::processEvents();
    for (int c : {ui::RunTableModel::Name, ui::RunTableModel::Status, ui::RunTableModel::Progress,
                  ui::RunTableModel::BestPpl})
      QVERIFY2(column_visible(w.runs_view(), c),
               qPrintable(w.run_model()->headerData(c, Qt::Horizontal).toString()));
    QCOMPARE(w.run_proxy()->index(0, ui::RunTableModel::Progress).data().toString(),
             QString("100/100 (100%)"));
    w.select_all_runs();
    w.show_tab(ui::MainWindow::CompareTab);
    QApplication::processEvents();
    auto* table = w.compare()->findChild<QTableView*>();
    QVERIFY(table);
    QCOMPARE(table->model()->rowCount(), 3);
    const auto cols = report::summary_columns();
    for (const char* title : {"run", "status", "steps", "final ppl", "best ppl", "recovery"}) {
      const int c = int(std::find(cols.begin(), cols.end(), title) - cols.begin());
      QVERIFY2(column_visible(table, c), title);
    }
    // (90 - 30) / (90 - 20)
    const int rec = int(std::find(cols.begin(), cols.end(), "recovery") - cols.begin());
    QCOMPARE(table->model()->index(0, rec).data().toString(), QString("85.7%"));
  }

  void wizard_fields_stay_put() {
    ui::ProjectWizard w;
    w.show();
    QVERIFY(QTest::qWaitForWindowExposed(&w));
    auto* path = w.findChild<QLineEdit*>("model_path");
    auto* msg = w.findChild<ui::FieldMessage*>("model_path_message");
    QVERIFY(path && msg);
    const QStringList below = {"use_preset", "preset", "model_seed"};
    auto positions = [&] {
      QApplication::processEvents();
      QList<QPoint> out;
      for (const QString& name : below) {
        QWidget* f = w.findChild<QWidget*>(name);
        out << (f ? f->mapTo(&w, QPoint(0, 0)) : QPoint(-1, -1));
      }
      return out;
    };
    const QList<QPoint> before = positions();
    QVERIFY(!before.contains(QPoint(-1, -1)));
    path->setText(tmp_.path() + "/no-such-model-folder-with-a-long-name-that-wraps-perhaps");
    QVERIFY(msg->isVisible());
    QVERIFY(msg->text().contains("no such folder"));
    QCOMPARE(positions(), before);
    path->clear();
    QCOMPARE(positions(), before);
  }

  void lr_and_throughput_never_smoothed() {
    ui::DashboardView view;
    view.set_database(db_);
    view.set_runs({ids_[0]});
    view.refresh_now();
    for (auto* c : {view.chart_for("lr"), view.chart_for("tokens_per_s"), view.chart_for("loss")})
      c->set_smoothing(0.99);
    for (const char* key : {"lr", "tokens_per_s"}) {
      plot::MetricChartWidget* c = view.chart_for(key);
      for (int i = 0; i < c->plot()->graphCount(); ++i)
        QVERIFY2(c->plot()->graph(i)->property("qatwb_role").toString() != "smoothed", key);
    }
    // The drawn lr keeps its peak (1e-3 at step 20), and the throughput its slow steps.
    QCPGraph* lr = view.chart_for("lr")->plot()->graph(0);
    double peak = 0;
    for (int i = 0; i < lr->data()->size(); ++i) peak = std::max(peak, lr->data()->at(i)->value);
    QCOMPARE(peak, lr_at(20));
    QCPGraph* tps = view.chart_for("tokens_per_s")->plot()->graph(0);
    QCOMPARE(tps->data()->at(0)->value, 100.0);
    QCOMPARE(tps->data()->at(1)->value, 1000.0);
    // The loss is still smoothed.
    bool smoothed = false;
    QCustomPlot* loss = view.chart_for("loss")->plot();
    for (int i = 0; i < loss->graphCount(); ++i)
      smoothed |= loss->graph(i)->property("qatwb_role").toString() == "smoothed";
    QVERIFY(smoothed);
  }

  void right_click_opens_the_chart_menu() {
    ui::DashboardView view;
    view.resize(1000, 700);
    view.set_database(db_);
    view.set_runs(ids_);
    view.refresh_now();
    view.show();
    QVERIFY(QTest::qWaitForWindowExposed(&view));
    plot::MetricChartWidget* c = view.chart_for("loss");
    QCustomPlot* p = c->plot();
    const QPoint at = p->axisRect()->rect().center();
    QVERIFY(!c->context_menu());
    QTest::mousePress(p, Qt::RightButton, {}, at);
    QTest::mouseRelease(p, Qt::RightButton, {}, at);
    QTRY_VERIFY(c->context_menu() && c->context_menu()->isVisible());
    QStringList actions;
    for (QAction* a : c->context_menu()->actions())
      if (!a->isSeparator()) actions << a->text();
    QCOMPARE(actions, QStringList({"Reset zoom", "Log scale", "Export PNG...", "Export PDF...",
                                   "Export CSV..."}));
    // "Log scale" acts on the chart.
    c->context_menu()->actions().at(1)->trigger();
    QCOMPARE(p->yAxis->scaleType(), QCPAxis::stLogarithmic);
    c->context_menu()->close();
    QTRY_VERIFY(!c->context_menu());
    // A right-button drag is not a click: no menu.
    QTest::mousePress(p, Qt::RightButton, {}, at);
    QTest::mouseRelease(p, Qt::RightButton, {}, at + QPoint(40, 0));
    QTest::qWait(50);
    QVERIFY(!c->context_menu());
  }
};

QTEST_MAIN(TestReadability)
#include "tst_readability.moc"
