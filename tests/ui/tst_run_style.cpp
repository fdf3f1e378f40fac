// One colour per run everywhere and one line style per surrogate (core/report/run_style.h): the
// palette is Okabe-Ito's, a run has the same colour in two stores that ingested its folder in a
// different order, and the GUI chart pens, the run table's swatches and a report PNG (drawn by
// the renderer `qatwb report` uses) all show that colour.
#include <QImage>
#include <QTemporaryDir>
#include <QtTest>
#include <cmath>
#include <set>

#include "core/report/chart_spec.h"
#include "core/report/run_style.h"
#include "core/run/event_log.h"
#include "core/run/run_dir.h"
#include "core/store/store.h"
#include "ui/models/run_table_model.h"
#include "ui/plot/chart_render.h"
#include "ui/plot/metric_chart_widget.h"
#include "ui/plot/qcustomplot_include.h"

using namespace qatwb;

namespace {

// A run started at `t0` with surrogate `surrogate` and 60 loss points.
std::string write_run(const QString& root, const std::string& name, const std::string& surrogate,
                      double t0, double offset) {
  run::RunDir dir((root + "/" + QString::fromStdString(name)).toStdString());
  dir.create();
  run::EventWriter w(dir.events_path(), run::FsyncPolicy::Never);
  run::Event s;
  s.type = run::EventType::Start;
  s.time = t0;
  s.start.run = name;
  s.start.project = "style";
  s.start.config_json = R"({"quant":{"bits":2,"surrogate":")" + surrogate + R"("}})";
  w.write(s);
  for (int step = 0; step < 60; ++step) {
    run::Event m;
    m.type = run::EventType::Metric;
    m.time = t0 + step;
    m.step = step;
    m.values = {{"loss", 3.0 + offset + 0.3 * std::sin(step * 0.2)}};
    w.write(m);
  }
  return dir.path();
}

QColor solid_pen_colour(plot::MetricChartWidget* c, int series, QPen* pen = nullptr) {
  QCPGraph* found = nullptr;
  for (int i = 0; i < c->plot()->graphCount(); ++i) {
    QCPGraph* g = c->plot()->graph(i);
    if (g->property("qatwb_series").toInt() != series) continue;
    const QString role = g->property("qatwb_role").toString();
    if (role == "smoothed" || (role == "raw" && !found)) found = g;
  }
  if (!found) return {};
  if (pen) *pen = found->pen();
  return found->pen().color();
}

}  // namespace

class TestRunStyle : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void palette_is_okabe_ito() {
    // Okabe & Ito (2008), "Color Universal Design": blue, orange, bluish green, reddish purple,
    // sky blue, vermillion (black and yellow left out: invisible or faint on white).
    const char* published[] = {"#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00"};
    for (int i = 0; i < 6; ++i) {
      QCOMPARE(QString::fromStdString(report::hex(report::palette_colour(i))),
               QString(published[i]));
      QCOMPARE(plot::run_colour(i).name(), QString(published[i]));
    }
    QCOMPARE(report::palette_colour(-1),
             report::palette_colour(int(report::run_palette().size()) - 1));
  }

  void same_run_same_colour_everywhere() {
    QTemporaryDir tmp;
    const std::vector<std::pair<std::string, std::string>> runs = {
        {"w2-ste", "ste"}, {"w2-stableqat", "stableqat"}, {"w2-dsq", "dsq"}};
    std::vector<std::string> dirs;
    for (size_t i = 0; i < runs.size(); ++i)
      dirs.push_back(write_run(tmp.path(), runs[i].first, runs[i].second, 1000.0 + 100.0 * i,
                               0.5 * double(i)));
    // Store A ingests them in start order, store B in reverse (other run ids).
    const QString db_a = tmp.filePath("a.sqlite"), db_b = tmp.filePath("b.sqlite");
    auto a = store::Store::open(db_a.toStdString());
    auto b = store::Store::open(db_b.toStdString());
    for (const auto& d : dirs) a.ingest_run_dir(d);
    for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) b.ingest_run_dir(*it);
    QVERIFY(a.find_run(dirs[0]) != b.find_run(dirs[0]));
    const auto slots_a = report::colour_indices(a), slots_b = report::colour_indices(b);
    std::vector<QColor> expected;  // by run, from store A: started first, first colour
    for (size_t i = 0; i < dirs.size(); ++i) {
      const int slot = slots_a.at(a.find_run(dirs[i]));
      QCOMPARE(slot, int(i));
      QCOMPARE(slots_b.at(b.find_run(dirs[i])), slot);
      expected.push_back(plot::run_colour(slot));
    }

    // The GUI chart over store B: each run's line in its colour, dashed by surrogate.
    std::vector<int64_t> ids_b;
    for (const auto& d : dirs) ids_b.push_back(b.find_run(d));
    plot::MetricChartWidget chart;
    chart.resize(800, 500);
    chart.set_spec(report::metric_chart(b, ids_b, "loss"));
    const std::vector<QVector<qreal>> dashes = {{}, {6, 3}, {1, 2}};  // ste, stableqat, dsq
    for (int i = 0; i < 3; ++i) {
      QPen pen;
      QCOMPARE(solid_pen_colour(&chart, i, &pen), expected[size_t(i)]);
      if (dashes[size_t(i)].isEmpty()) {
        QCOMPARE(pen.style(), Qt::SolidLine);
      } else {
        QCOMPARE(pen.style(), Qt::CustomDashLine);
        QCOMPARE(pen.dashPattern(), dashes[size_t(i)]);
      }
    }

    // The run table (over store B): the swatch before each name.
    ui::RunTableModel model;
    model.refresh_from(db_b);
    QCOMPARE(model.rowCount(), 3);
    for (int r = 0; r < 3; ++r) {
      const QString dir = model.index(r, 0).data(ui::RunTableModel::RunDirRole).toString();
      const size_t i =
          size_t(std::find(dirs.begin(), dirs.end(), dir.toStdString()) - dirs.begin());
      QVERIFY(i < dirs.size());
      QCOMPARE(model.index(r, ui::RunTableModel::Name).data(Qt::DecorationRole).value<QColor>(),
               expected[i]);
    }

    // A report plot from store A (the renderer of `qatwb report`): every run's colour is drawn.
    std::vector<int64_t> ids_a;
    for (const auto& d : dirs) ids_a.push_back(a.find_run(d));
    const QString png = tmp.filePath("loss.png");
    plot::save_chart_png(report::metric_chart(a, ids_a, "loss"), png.toStdString(), 700, 400);
    const QImage img(png);
    QVERIFY(!img.isNull());
    for (const QColor& want : expected) {
      int hits = 0;
      for (int y = 0; y < img.height(); ++y)
        for (int x = 0; x < img.width(); ++x) {
          const QColor p = img.pixelColor(x, y);
          if (std::abs(p.red() - want.red()) < 10 && std::abs(p.green() - want.green()) < 10 &&
              std::abs(p.blue() - want.blue()) < 10)
            ++hits;
        }
      QVERIFY2(hits > 20, qPrintable(want.name() + ": " + QString::number(hits) + " pixels"));
    }
  }

  void line_style_per_surrogate() {
    QCOMPARE(report::line_style_for_surrogate("ste"), report::LineStyle::solid);
    QCOMPARE(report::line_style_for_surrogate("fp"), report::LineStyle::solid);
    // Each surrogate but AdaRound (dash-dot like LSQ) has a pattern of its own.
    std::set<report::LineStyle> seen;
    for (const char* s : {"ste", "stableqat", "dsq", "lsq", "pact", "paretoq", "ewgs"})
      QVERIFY2(seen.insert(report::line_style_for_surrogate(s)).second, s);
    for (auto style : seen) {
      const auto d = report::dash_pattern(style);
      QCOMPARE(d.empty(), style == report::LineStyle::solid);
      QCOMPARE(d.size() % 2, size_t{0});  // on/off pairs
    }
  }
};

QTEST_MAIN(TestRunStyle)
#include "tst_run_style.moc"
