// The main window over a temporary database with two ingested runs: both are listed, the filter
// box and project list narrow them, selecting runs hands them to the dashboard and compare views
// and follows the first one's worker.log; settings (projects, splitter, geometry) survive a
// restart; `qatwb-gui --screenshot` (the real binary) writes a PNG of the requested size.
#include <QDir>
#include <QFile>
#include <QImage>
#include <QLineEdit>
#include <QSettings>
#include <QSplitter>
#include <QTabWidget>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>

#include "core/report/run_style.h"
#include "core/run/event_log.h"
#include "core/store/store.h"
#include "tests/common/test_env.h"
#include "ui/dashboard/dashboard_view.h"
#include "ui/main/main_window.h"
#include "ui/models/run_table_model.h"
#include "ui/plot/chart_render.h"
#include "ui/plot/metric_chart_widget.h"
#include "ui/widgets/log_tail_view.h"

using qatwb::ui::MainWindow;
using qatwb::ui::RunTableModel;

class TestMainWindow : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase();
  void lists_filters_and_selects_runs();
  void remembers_settings();
  void screenshot_process();

 private:
  QString make_run(const QString& name, const std::string& project, const std::string& surrogate);
  QTemporaryDir tmp_;
  QString db_, project_;
  qint64 id_a_ = 0, id_b_ = 0;
};

QString TestMainWindow::make_run(const QString& name, const std::string& project,
                                 const std::string& surrogate) {
  const QString dir = tmp_.path() + "/runs/" + name;
  QDir().mkpath(dir);
  {
    qatwb::run::EventWriter w((dir + "/events.jsonl").toStdString());
    qatwb::run::StartInfo s;
    s.run = name.toStdString();
    s.project = project;
    s.config_json = R"({"quant":{"enabled":true,"bits":2,"surrogate":")" + surrogate +
                    R"("},"train":{"steps":20}})";
    w.start(s);
    for (int step = 1; step <= 20; ++step)
      w.metric(step, {{"loss", 5.0 / step}, {"grad_norm", 1.0 + step % 3}, {"lr", 1e-4}});
    w.eval(20, {{"ppl_postquant", 30.0}, {"ppl_fp", 20.0}, {"ppl_rtn", 90.0}});
    w.end("finished", "done");
  }
  QFile log(dir + "/worker.log");
  log.open(QIODevice::WriteOnly);
  log.write(("worker log of " + name + "\n").toUtf8());
  return dir;
}

void TestMainWindow::initTestCase() {
  QSettings::setPath(QSettings::IniFormat, QSettings::UserScope, tmp_.path() + "/settings");
  db_ = tmp_.path() + "/runs.sqlite";
  auto store = qatwb::store::Store::open(db_.toStdString());
  store.ingest_run_dir(make_run("run-ste", "alpha", "ste").toStdString());
  id_a_ = store.find_run(tmp_.path().toStdString() + "/runs/run-ste");
  store.ingest_run_dir(make_run("run-dsq", "beta", "dsq").toStdString());
  id_b_ = store.find_run(tmp_.path().toStdString() + "/runs/run-dsq");
  project_ = tmp_.path() + "/alpha.yaml";
  QFile p(project_);
  QVERIFY(p.open(QIODevice::WriteOnly));
  p.write("name: alpha\n");
}

void TestMainWindow::lists_filters_and_selects_runs() {
  MainWindow w(db_);
  w.set_persistent(false);
  w.show();
  QTRY_COMPARE_WITH_TIMEOUT(w.run_model()->rowCount(), 2, 10000);  // the background poller
  auto* view = w.runs_view();
  QCOMPARE(view->model()->rowCount(), 2);
  QStringList names;
  for (int r = 0; r < 2; ++r)
    names << view->model()->index(r, RunTableModel::Name).data().toString();
  names.sort();
  QCOMPARE(names, QStringList({"run-dsq", "run-ste"}));

  // Filter box.
  auto* filter = w.findChild<QLineEdit*>("run_filter");
  filter->setText("dsq");
  QCOMPARE(view->model()->rowCount(), 1);
  filter->clear();
  QCOMPARE(view->model()->rowCount(), 2);

  // Selecting runs shows them in the dashboard (and compare view), and the log dock follows.
  w.select_runs({id_a_, id_b_});
  QCOMPARE(w.selected_runs(), QList<qint64>({std::min(id_a_, id_b_), std::max(id_a_, id_b_)}));
  QCOMPARE(w.shown_runs(), w.selected_runs());
  // The dashboard draws the selected runs: a loss chart with one series per run, 20 points each.
  w.dashboard()->refresh_now();
  QTRY_VERIFY_WITH_TIMEOUT(w.dashboard()->chart_for("loss") != nullptr, 10000);
  QCOMPARE(int(w.dashboard()->chart_for("loss")->spec().series.size()), 2);
  QCOMPARE(w.dashboard()->chart_for("loss")->point_count(), 40);
  w.select_runs({id_b_});
  QCOMPARE(w.shown_runs(), QList<qint64>({id_b_}));
  QTRY_VERIFY(w.log_view()->toPlainText().contains("worker log of run-dsq"));

  // A project narrows the list to its runs; the selection survives a refresh tick.
  QVERIFY(w.open_project(project_, true));
  QCOMPARE(w.current_project(), project_);
  QCOMPARE(view->model()->rowCount(), 1);
  QCOMPARE(view->model()->index(0, RunTableModel::Name).data().toString(), QString("run-ste"));
  w.select_runs({id_a_});
  w.refresh_runs_now();
  QTest::qWait(1200);
  QCOMPARE(w.selected_runs(), QList<qint64>({id_a_}));
  QVERIFY(!w.open_project(tmp_.path() + "/nope.yaml", true));

  QVERIFY(w.show_tab("jobs"));
  QCOMPARE(w.tabs()->currentIndex(), int(MainWindow::JobsTab));
  QVERIFY(!w.show_tab("nothing"));
}

void TestMainWindow::remembers_settings() {
  QList<int> sizes;
  {
    MainWindow w(db_);
    w.restore_settings();
    w.show();
    QVERIFY(w.open_project(project_, true));
    w.main_splitter()->setSizes({300, 1000});
    sizes = w.main_splitter()->sizes();
    w.show_tab(MainWindow::CompareTab);
    w.close();  // saves
  }
  QVERIFY(QFile::exists(tmp_.path() + "/settings/qatwb/qatwb-gui.ini"));
  MainWindow again(db_);
  again.restore_settings();
  again.show();
  QCOMPARE(again.projects(), QStringList({project_}));
  QCOMPARE(again.current_project(), project_);
  QCOMPARE(again.tabs()->currentIndex(), int(MainWindow::CompareTab));
  QCOMPARE(again.main_splitter()->sizes(), sizes);
}

void TestMainWindow::screenshot_process() {
  const QString gui = qatwb::test::binary_dir() + "/bin/qatwb-gui";
  const QString png = tmp_.path() + "/shot.png";
  const auto r = qatwb::test::run_process(
      gui, {"--db", db_, "--screenshot", png, "--size", "900x600", "--tab", "dashboard"}, {},
      120000);
  QVERIFY2(r.exit_code == 0, r.err.constData());
  QVERIFY(QFileInfo(png).size() > 0);
  QImage image(png);
  QVERIFY(!image.isNull());
  QCOMPARE(image.size(), QSize(900, 600));

  // --runs chooses what is drawn: only run-dsq's colour is in the dashboard's charts (the right
  // half of the window; the run list on the left shows every run's swatch).
  const auto colour_pixels = [](const QImage& img, const QColor& want) {
    int n = 0;
    for (int y = 0; y < img.height(); ++y)
      for (int x = img.width() / 2; x < img.width(); ++x) {  // the tabs, not the run list
        const QColor p = img.pixelColor(x, y);
        n += std::abs(p.red() - want.red()) < 6 && std::abs(p.green() - want.green()) < 6 &&
             std::abs(p.blue() - want.blue()) < 6;
      }
    return n;
  };
  const auto colour_slots =
      qatwb::report::colour_indices(qatwb::store::Store::open_existing(db_.toStdString()));
  const QColor ste = qatwb::plot::run_colour(colour_slots.at(id_a_)),
               dsq = qatwb::plot::run_colour(colour_slots.at(id_b_));
  const QString one = tmp_.path() + "/one.png";
  const auto chosen = qatwb::test::run_process(
      gui, {"--db", db_, "--screenshot", one, "--size", "1200x800", "--runs", "run-dsq"}, {},
      120000);
  QVERIFY2(chosen.exit_code == 0, chosen.err.constData());
  const QImage shot(one);
  const int dsq_px = colour_pixels(shot, dsq), ste_px = colour_pixels(shot, ste);
  QVERIFY2(dsq_px > 100 && ste_px < 5,
           qPrintable(QString("dsq %1 px, ste %2 px").arg(dsq_px).arg(ste_px)));
  const auto unknown = qatwb::test::run_process(
      gui, {"--db", db_, "--screenshot", one, "--runs", "no-such-run"}, {}, 120000);
  QVERIFY(unknown.exit_code != 0);
  QVERIFY2(unknown.err.contains("--runs") && unknown.err.contains("no-such-run"),
           unknown.err.constData());

  const auto bad = qatwb::test::run_process(
      gui, {"--db", db_, "--screenshot", png, "--tab", "nowhere"}, {}, 120000);
  QVERIFY(bad.exit_code != 0);
  QVERIFY(bad.err.contains("--tab"));
  const auto bad_project = qatwb::test::run_process(
      gui, {"--db", db_, "--project", tmp_.path() + "/nope.yaml", "--screenshot", png}, {}, 120000);
  QVERIFY(bad_project.exit_code != 0);
  QVERIFY(bad_project.err.contains("nope.yaml"));
  const auto unwritable = qatwb::test::run_process(
      gui, {"--db", db_, "--screenshot", tmp_.path() + "/no/such/dir/x.png"}, {}, 120000);
  QVERIFY(unwritable.exit_code != 0);
  QVERIFY(unwritable.err.contains("cannot write"));
}

QTEST_MAIN(TestMainWindow)
#include "tst_main_window.moc"
