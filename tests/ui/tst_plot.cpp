// ui/plot: PNG rendering without a display, the run palette, the interactive chart widget
// (smoothed + raw graphs, band, log scale, gradient-norm view, robust autoscale, zoom -> step
// range for rebucketing) and its PNG / PDF / CSV exports.
#include <QFile>
#include <QImage>
#include <QProcess>
#include <QSet>
#include <QTemporaryDir>
#include <QtTest>
#include <cmath>
#include <cstdio>
#include <string>

#include "core/report/chart_spec.h"
#include "ui/plot/chart_render.h"
#include "ui/plot/metric_chart_widget.h"
#include "ui/plot/qcustomplot_include.h"

using namespace qatwb;

namespace {

report::ChartSpec make_spec(int runs, int points, double outlier = NAN) {
  report::ChartSpec spec;
  spec.title = "Training loss";
  spec.metric_key = "loss";
  spec.x_label = "step";
  spec.y_label = "loss";
  for (int r = 0; r < runs; ++r) {
    report::ChartSeries s;
    s.label = "run" + std::to_string(r);
    s.run_id = r + 1;
    s.colour_index = r;  // the slot report::colour_indices gives the r-th run
    for (int i = 0; i < points; ++i) {
      s.x.push_back(i * 10);
      s.step.push_back(i * 10);
      s.time.push_back(1700000000.0 + i);
      const double y = 3.0 + r * 0.1 + std::sin(i * 0.3);
      s.y.push_back(y);
      s.y_min.push_back(y - 0.2);
      s.y_max.push_back(y + 0.2);
    }
    if (std::isfinite(outlier)) s.y[static_cast<size_t>(points / 2)] = outlier;
    spec.series.push_back(s);
  }
  spec.reference_lines = {{"FP", 2.5}};
  return spec;
}

}  // namespace

class TestPlot : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void palette_stable_and_distinct() {
    QSet<QRgb> seen;
    for (int i = 0; i < 8; ++i) seen.insert(plot::run_colour(i).rgb());
    QCOMPARE(seen.size(), 8);
    QCOMPARE(plot::run_colour(3), plot::run_colour(3));
    QVERIFY(plot::run_colour(-1).isValid());
  }

  void save_png() {
    QTemporaryDir tmp;
    const QString path = tmp.filePath("loss.png");
    plot::save_chart_png(make_spec(3, 200), path.toStdString(), 640, 360);
    QVERIFY(QFileInfo(path).size() > 0);
    QImage img(path);
    QVERIFY(!img.isNull());
    QCOMPARE(img.size(), QSize(640, 360));
    // Not one colour: lines in each run's colour are there.
    QSet<QRgb> colours;
    for (int y = 0; y < img.height(); y += 2)
      for (int x = 0; x < img.width(); x += 2) colours.insert(img.pixel(x, y) & 0xFFFFFF);
    QVERIFY(colours.size() > 10);
    const QColor c = plot::run_colour(0);
    bool found = false;
    for (QRgb p : colours)
      if (std::abs(qRed(p) - c.red()) < 8 && std::abs(qGreen(p) - c.green()) < 8 &&
          std::abs(qBlue(p) - c.blue()) < 8)
        found = true;
    QVERIFY2(found, "the first run's colour is not in the image");
    // Unwritable target: a clear error naming the file.
    try {
      plot::save_chart_png(make_spec(1, 10), "/nonexistent-dir/x.png");
      QFAIL("no error");
    } catch (const std::exception& e) {
      QVERIFY(QString(e.what()).contains("/nonexistent-dir/x.png"));
    }
  }

  void widget_graphs_and_smoothing() {
    plot::MetricChartWidget w;
    w.resize(600, 400);
    w.set_spec(make_spec(2, 100));
    QCOMPARE(w.point_count(), 200);
    QCOMPARE(w.point_count(1), 100);
    // raw + smoothed graphs and a band curve per run
    QCOMPARE(w.plot()->graphCount(), 4);
    QCOMPARE(w.plot()->plottableCount(), 6);
    w.set_smoothing(0);
    QCOMPARE(w.plot()->graphCount(), 2);
    QCOMPARE(w.plot()->plottableCount(), 4);
    w.set_show_band(false);
    QCOMPARE(w.plot()->plottableCount(), 2);
    QCOMPARE(w.plot()->graph(0)->pen().color(), plot::run_colour(0));
    w.set_smoothing(0.9);
    // The smoothed graph follows smooth_ema.
    QCPGraph* sm = w.plot()->graph(1);
    QCOMPARE(sm->property("qatwb_role").toString(), QString("smoothed"));
    const auto expect = report::smooth_ema(make_spec(2, 100).series[0].y, 0.9);
    QVERIFY(std::abs(sm->data()->at(50)->value - expect[50]) < 1e-12);
    w.set_log_y(true);
    QCOMPARE(w.plot()->yAxis->scaleType(), QCPAxis::stLogarithmic);
    QVERIFY(w.replot_now() >= 0);
  }

  void robust_autoscale_ignores_outlier() {
    plot::MetricChartWidget w;
    w.set_spec(make_spec(1, 200, 1e6));
    const QCPRange r = w.plot()->yAxis->range();
    QVERIFY2(r.upper < 10, qPrintable(QString::number(r.upper)));
    QVERIFY(r.lower > 1);
    QCOMPARE(w.plot()->xAxis->range().lower, 0.0);
    QCOMPARE(w.plot()->xAxis->range().upper, 1990.0);
  }

  void grad_norm_view_marks_spikes() {
    report::ChartSpec spec = make_spec(1, 60);
    auto& s = spec.series[0];
    for (size_t i = 0; i < s.y.size(); ++i) s.y[i] = 1.0 + 0.01 * static_cast<double>(i % 3);
    s.y[30] = 50;
    s.y[45] = 40;
    plot::MetricChartWidget w;
    w.set_grad_norm_view(true, 20, 3.0);
    w.set_spec(spec);
    QCOMPARE(w.spike_count(), 2);
    int spike_graphs = 0;
    for (int i = 0; i < w.plot()->graphCount(); ++i)
      if (w.plot()->graph(i)->property("qatwb_role").toString() == "spikes") {
        ++spike_graphs;
        QCOMPARE(w.plot()->graph(i)->data()->size(), 2);
        QCOMPARE(w.plot()->graph(i)->data()->at(0)->key, 300.0);
      }
    QCOMPARE(spike_graphs, 1);
  }

  void zoom_asks_for_step_range() {
    plot::MetricChartWidget w;
    w.set_spec(make_spec(1, 100));
    QSignalSpy spy(&w, &plot::MetricChartWidget::step_range_changed);
    w.plot()->xAxis->setRange(200, 400);
    QTRY_COMPARE(spy.count(), 1);
    QVERIFY(w.zoom_step_min().has_value());
    QCOMPARE(*w.zoom_step_min(), int64_t{190});
    QCOMPARE(*w.zoom_step_max(), int64_t{410});
    // New, finer buckets keep the zoomed x range.
    w.set_spec(make_spec(1, 100));
    QCOMPARE(w.plot()->xAxis->range().lower, 200.0);
    w.autoscale();
    QVERIFY(!w.zoom_step_min().has_value());
    QCOMPARE(w.plot()->xAxis->range().upper, 990.0);
  }

  void exports() {
    QTemporaryDir tmp;
    plot::MetricChartWidget w;
    w.resize(500, 300);
    report::ChartSpec spec = make_spec(2, 3);
    spec.series[1].label = "b,\"q\"";
    spec.series[0].y[1] = NAN;
    w.set_spec(spec);
    const QString csv = w.csv();
    QCOMPARE(csv, QString("run,step,wall_time,value\n"
                          "run0,0,1700000000,3\n"
                          "run0,10,1700000001,\n"
                          "run0,20,1700000002,%1\n"
                          "\"b,\"\"q\"\"\",0,1700000000,3.1\n"
                          "\"b,\"\"q\"\"\",10,1700000001,%2\n"
                          "\"b,\"\"q\"\"\",20,1700000002,%3\n")
                      .arg(QString::number(3.0 + std::sin(0.6), 'g', 12),
                           QString::number(3.1 + std::sin(0.3), 'g', 12),
                           QString::number(3.1 + std::sin(0.6), 'g', 12)));
    w.export_csv(tmp.filePath("a.csv"));
    QFile f(tmp.filePath("a.csv"));
    QVERIFY(f.open(QIODevice::ReadOnly));
    QCOMPARE(QString::fromUtf8(f.readAll()), csv);
    w.export_png(tmp.filePath("a.png"), 400, 300);
    QCOMPARE(QImage(tmp.filePath("a.png")).size(), QSize(400, 300));
    w.export_pdf(tmp.filePath("a.pdf"));
    QFile pdf(tmp.filePath("a.pdf"));
    QVERIFY(pdf.open(QIODevice::ReadOnly));
    QVERIFY(pdf.read(5) == "%PDF-");
    QVERIFY_THROWS_EXCEPTION(std::exception, w.export_csv("/nonexistent-dir/a.csv"));
  }

  void save_png_without_application() {
    QTemporaryDir tmp;
    const QString path = tmp.filePath("headless.png");
    QProcess child;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.remove("QT_QPA_PLATFORM");  // it must pick offscreen by itself
    child.setProcessEnvironment(env);
    child.start(QCoreApplication::applicationFilePath(), {"--png-without-app", path});
    QVERIFY(child.waitForFinished(30000));
    QVERIFY2(child.exitCode() == 0, child.readAllStandardError().constData());
    QCOMPARE(QImage(path).size(), QSize(320, 200));
  }

  void empty_spec_draws() {
    plot::MetricChartWidget w;
    w.set_spec(report::ChartSpec{});
    QCOMPARE(w.point_count(), 0);
    QTemporaryDir tmp;
    plot::save_chart_png(report::ChartSpec{}, tmp.filePath("e.png").toStdString(), 100, 80);
    QCOMPARE(QImage(tmp.filePath("e.png")).size(), QSize(100, 80));
  }
};

// `tst_plot --png-without-app FILE` renders a chart before any QApplication exists (the path
// `qatwb report` takes); the test below runs it as a child process.
int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--png-without-app") {
    try {
      plot::save_chart_png(make_spec(2, 50), argv[2], 320, 200);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s\n", e.what());
      return 1;
    }
    return QCoreApplication::instance() ? 3 : 0;  // the temporary application is gone again
  }
  QApplication app(argc, argv);
  TestPlot test;
  QTEST_SET_MAIN_SOURCE_PATH
  return QTest::qExec(&test, argc, argv);
}

#include "tst_plot.moc"
