// The metric browser over a real store (runs written with core/run's EventWriter, ingested by
// core/store): every logged key listed and searchable, per-layer families as small multiples (in
// layer order) and as a layer x step heatmap, linked x zoom (browser and dashboard), markers on
// sparse evaluations (one evaluation shows a point, step 0 is drawn), the difference to a
// baseline run and runs grouped by seed into mean +- std. Values are checked against closed
// forms of what the runs logged.
#include <QImage>
#include <QListWidget>
#include <QTemporaryDir>
#include <QtTest>
#include <cmath>
#include <set>

#include "core/run/event_log.h"
#include "core/run/run_dir.h"
#include "core/store/store.h"
#include "ui/dashboard/dashboard_view.h"
#include "ui/dashboard/metric_browser.h"
#include "ui/plot/chart_render.h"
#include "ui/plot/metric_chart_widget.h"
#include "ui/plot/qcustomplot_include.h"

using namespace qatwb;

namespace {

const std::vector<int> kLayers = {0, 1, 2, 10};
std::string q_key(int layer) {
  return "grad_norm/model.layers." + std::to_string(layer) + ".self_attn.q_proj.weight";
}
std::string flip_key(int layer) {
  return "code_flip/model.layers." + std::to_string(layer) + ".mlp.down_proj.weight";
}
// What each run logs at metric step s (0-based), run number k.
double loss_of(int k, int s) { return 4.0 - 0.05 * s + 0.1 * k; }
double grad_of(int k, int layer, int s) { return (layer + 1) * 0.5 + 0.01 * s + k; }
double flip_of(int layer, int s) { return 0.001 * (layer + 1) * (s + 1); }

// A run of 20 steps with per-layer metrics, an evaluation at step 0 (FP / RTN) when `step0`, and
// `evals` post-quantization evaluations at steps 20, 10, ... .
std::string write_run(const QString& root, const std::string& name, int k, int seed, double lr,
                      bool step0, int evals) {
  run::RunDir dir((root + "/" + QString::fromStdString(name)).toStdString());
  dir.create();
  run::EventWriter w(dir.events_path(), run::FsyncPolicy::Never);
  run::StartInfo s;
  s.run = name;
  s.project = "browse";
  s.config_json = R"({"quant":{"bits":2,"surrogate":"ste"},"train":{"seed":)" +
                  std::to_string(seed) + R"(,"lr":)" + std::to_string(lr) + "}}";
  w.start(s);
  if (step0) w.eval(0, {{"ppl_fp", 20.0}, {"ppl_rtn", 100.0 + k}});
  for (int step = 0; step < 20; ++step) {
    std::map<std::string, double> v = {{"loss", loss_of(k, step)}, {"lr", 1e-3}};
    for (int l : kLayers) v[q_key(l)] = grad_of(k, l, step);
    for (int l : {0, 1}) v[flip_key(l)] = flip_of(l, step);
    w.metric(step, v);
  }
  for (int e = evals; e >= 1; --e) w.eval(20 / e, {{"ppl_postquant", 50.0 - k - e}});
  w.end("finished", "");
  return dir.path();
}

QCPGraph* raw_graph(plot::MetricChartWidget* c, int series) {
  for (int i = 0; i < c->plot()->graphCount(); ++i) {
    QCPGraph* g = c->plot()->graph(i);
    if (g->property("qatwb_role").toString() == "raw" &&
        g->property("qatwb_series").toInt() == series)
      return g;
  }
  return nullptr;
}

bool near(double a, double b) { return std::abs(a - b) <= 1e-9 * std::max(1.0, std::abs(b)); }

}  // namespace

class TestMetricBrowser : public QObject {
  Q_OBJECT

 private:
  QTemporaryDir tmp_;
  QString db_;
  std::vector<int64_t> ids_;  // r0, r1, r2 (seeds 1..3 of one recipe), r3 (other lr), once

 private Q_SLOTS:
  void initTestCase() {
    db_ = tmp_.filePath("db.sqlite");
    auto store = store::Store::open(db_.toStdString());
    const std::vector<std::string> dirs = {write_run(tmp_.path(), "r0", 0, 1, 1e-3, true, 2),
                                           write_run(tmp_.path(), "r1", 1, 2, 1e-3, true, 2),
                                           write_run(tmp_.path(), "r2", 2, 3, 1e-3, true, 2),
                                           write_run(tmp_.path(), "r3", 3, 1, 2e-3, true, 2),
                                           write_run(tmp_.path(), "once", 4, 1, 1e-3, false, 1)};
    for (const auto& d : dirs) {
      store.ingest_run_dir(d);
      ids_.push_back(store.find_run(d));
    }
  }

  void every_key_listed_and_searchable() {
    ui::MetricBrowser b;
    b.set_database(db_);
    b.set_runs({ids_[0], ids_[4]});
    auto store = store::Store::open_existing(db_.toStdString());
    std::set<QString> expected = {"grad_norm/*", "code_flip/*"};
    for (int64_t id : {ids_[0], ids_[4]})
      for (const auto& k : store.metric_keys(id)) expected.insert(QString::fromStdString(k));
    const QStringList shown = b.entries();
    QCOMPARE(std::set<QString>(shown.begin(), shown.end()), expected);
    QCOMPARE(shown.size(), static_cast<int>(expected.size()));  // no duplicates
    QVERIFY(shown.contains(QString::fromStdString(q_key(10))));
    QVERIFY(shown.contains("eval/ppl_rtn"));
    b.set_search("Q_PROJ");
    QStringList q;
    for (int l : kLayers) q << QString::fromStdString(q_key(l));
    QCOMPARE(b.entries(), q);  // families not matching, keys in name order
    b.set_search("code_flip");
    QCOMPARE(b.entries().front(), QString("code_flip/*"));
    QCOMPARE(b.entries().size(), 3);
    // Any key can be drawn: a per-layer one, here.
    QVERIFY(b.select(QString::fromStdString(flip_key(1))));
    QCOMPARE(b.chart_count(), 1);
    QCPGraph* g = raw_graph(b.chart(0), 0);
    QVERIFY(g);
    QCOMPARE(g->data()->size(), 20);
    for (int s = 0; s < 20; ++s) {
      QCOMPARE(g->data()->at(s)->key, double(s));
      QVERIFY(near(g->data()->at(s)->value, flip_of(1, s)));
    }
  }

  void family_small_multiples_in_layer_order() {
    ui::MetricBrowser b;
    b.resize(1000, 800);
    b.set_database(db_);
    b.set_runs({ids_[0], ids_[1]});
    b.set_layout(ui::MetricBrowser::Layout::small_multiples);
    QVERIFY(b.select("grad_norm/*"));
    QCOMPARE(b.chart_count(), 4);
    for (int i = 0; i < 4; ++i) {
      const int layer = kLayers[static_cast<size_t>(i)];  // 0, 1, 2, 10: not 0, 1, 10, 2
      plot::MetricChartWidget* c = b.chart(i);
      QCOMPARE(c->spec().metric_key, q_key(layer));
      QCOMPARE(QString::fromStdString(c->spec().title),
               QString("layers.%1.self_attn.q_proj").arg(layer));
      for (int k = 0; k < 2; ++k) {
        QCPGraph* g = raw_graph(c, k);
        QVERIFY(g);
        QCOMPARE(g->data()->size(), 20);
        for (int s = 0; s < 20; ++s) QVERIFY(near(g->data()->at(s)->value, grad_of(k, layer, s)));
      }
    }
    // Linked zoom: the x range set on one chart is shown by every other.
    b.show();
    b.chart(0)->plot()->xAxis->setRange(5, 15);
    for (int i = 1; i < 4; ++i) {
      QCOMPARE(b.chart(i)->plot()->xAxis->range().lower, 5.0);
      QCOMPARE(b.chart(i)->plot()->xAxis->range().upper, 15.0);
    }
    // Double-click resets all of them.
    QCustomPlot* p2 = b.chart(2)->plot();
    QTest::mouseDClick(p2, Qt::LeftButton, {}, p2->rect().center());
    for (int i = 0; i < 4; ++i) {
      const QCPRange r = b.chart(i)->plot()->xAxis->range();
      QVERIFY2(r.lower <= 0 && r.upper >= 19,
               qPrintable(QString("%1 %2").arg(r.lower).arg(r.upper)));
    }
  }

  void family_heatmap_layer_by_step() {
    ui::MetricBrowser b;
    b.set_database(db_);
    b.set_runs({ids_[0], ids_[2]});
    QVERIFY(b.select("grad_norm/*"));
    b.set_layout(ui::MetricBrowser::Layout::heatmap);
    QCOMPARE(b.chart_count(), 0);
    QCOMPARE(b.heatmap_count(), 2);  // one per run
    for (int h = 0; h < 2; ++h) {
      const int k = h == 0 ? 0 : 2;
      const auto& data = b.heatmap_data(h);
      QCOMPARE(data.rows.size(), kLayers.size());
      QCOMPARE(data.steps.size(), size_t{20});
      QCustomPlot* plot = b.heatmap(h);
      auto* map = qobject_cast<QCPColorMap*>(plot->plottable(0));
      QVERIFY(map);
      QCOMPARE(map->data()->keySize(), 20);
      QCOMPARE(map->data()->valueSize(), 4);
      for (int r = 0; r < 4; ++r) {
        QCOMPARE(data.rows[static_cast<size_t>(r)], q_key(kLayers[static_cast<size_t>(r)]));
        for (int c = 0; c < 20; ++c)
          QVERIFY(near(map->data()->cell(c, r), grad_of(k, kLayers[static_cast<size_t>(r)], c)));
      }
      // The rows are labelled with the layer names, bottom to top.
      auto ticker = qSharedPointerCast<QCPAxisTickerText>(plot->yAxis->ticker());
      QVERIFY(ticker);
      QCOMPARE(ticker->ticks().value(3), QString("layers.10.self_attn.q_proj"));
      // Gradient norms: a log colour scale over the data's range.
      QCOMPARE(map->colorScale()->dataScaleType(), QCPAxis::stLogarithmic);
      QVERIFY(near(map->dataRange().lower, grad_of(k, 0, 0)));
      QVERIFY(near(map->dataRange().upper, grad_of(k, 10, 19)));
    }
    // A plain key has no heatmap: it is overlaid.
    QVERIFY(b.select("loss"));
    QCOMPARE(b.heatmap_count(), 0);
    QCOMPARE(b.chart_count(), 1);
  }

  void sparse_evaluations_are_points() {
    ui::MetricBrowser b;
    b.resize(900, 600);
    b.set_database(db_);
    b.set_runs({ids_[0], ids_[4]});
    QVERIFY(b.select("eval/ppl_postquant"));
    plot::MetricChartWidget* c = b.chart(0);
    // r0: step 0 (the RTN perplexity: nothing trained yet), 10 and 20. "once": one evaluation.
    QCPGraph* g0 = raw_graph(c, 0);
    QCPGraph* g1 = raw_graph(c, 1);
    QVERIFY(g0 && g1);
    QCOMPARE(g0->data()->size(), 3);
    QCOMPARE(g0->data()->at(0)->key, 0.0);
    QCOMPARE(g0->data()->at(0)->value, 100.0);
    QCOMPARE(g0->data()->at(1)->value, 50.0 - 2);
    QCOMPARE(g0->data()->at(2)->value, 50.0 - 1);
    QCOMPARE(g1->data()->size(), 1);
    QCOMPARE(g1->data()->at(0)->key, 20.0);
    QCOMPARE(g1->data()->at(0)->value, 50.0 - 4 - 1);
    QCOMPARE(g0->scatterStyle().shape(), QCPScatterStyle::ssCircle);
    QCOMPARE(g1->scatterStyle().shape(), QCPScatterStyle::ssCircle);
    // The single point is drawn: its pixel has its run's colour; step 0 is inside the x range.
    c->resize(800, 500);
    b.show();
    QVERIFY(QTest::qWaitForWindowExposed(&b));
    c->replot_now();
    QVERIFY(c->plot()->xAxis->range().lower < 0);
    const QImage img = c->plot()->toPixmap().toImage();
    const QColor want = plot::run_colour(c->spec().series[1].colour_index);
    const int px = int(std::lround(c->plot()->xAxis->coordToPixel(20)));
    const int py = int(std::lround(c->plot()->yAxis->coordToPixel(45)));
    const double ratio = img.devicePixelRatio();
    const QColor got = img.pixelColor(int(px * ratio), int(py * ratio));
    QVERIFY2(std::abs(got.red() - want.red()) < 40 && std::abs(got.green() - want.green()) < 40 &&
                 std::abs(got.blue() - want.blue()) < 40,
             qPrintable(got.name() + " vs " + want.name()));
  }

  void difference_to_baseline_separates_curves() {
    ui::MetricBrowser b;
    b.set_database(db_);
    b.set_runs({ids_[0], ids_[1], ids_[2]});
    QVERIFY(b.select("loss"));
    b.set_baseline(ids_[1]);
    plot::MetricChartWidget* c = b.chart(0);
    QVERIFY(!c->plot()->yAxis->scaleType());  // linear: differences are signed
    for (int k = 0; k < 3; ++k) {
      QCPGraph* g = raw_graph(c, k);
      QVERIFY(g);
      QCOMPARE(g->data()->size(), 20);
      for (int s = 0; s < 20; ++s)
        QVERIFY(near(g->data()->at(s)->value, loss_of(k, s) - loss_of(1, s)));
    }
    b.set_baseline(0);
    QVERIFY(near(raw_graph(b.chart(0), 2)->data()->at(3)->value, loss_of(2, 3)));
  }

  void runs_grouped_by_seed() {
    ui::MetricBrowser b;
    b.set_database(db_);
    b.set_runs({ids_[0], ids_[1], ids_[2], ids_[3]});
    QVERIFY(b.select("loss"));
    b.set_group_by_seed(true);
    plot::MetricChartWidget* c = b.chart(0);
    // r0..r2 differ only in train.seed: one mean curve; r3 (other lr) stays alone.
    QCOMPARE(c->spec().series.size(), size_t{2});
    QCOMPARE(c->spec().series[0].label, std::string("r0 (mean of 3)"));
    QCOMPARE(c->spec().series[1].label, std::string("r3"));
    QCPGraph* g = raw_graph(c, 0);
    for (int s = 0; s < 20; ++s) {
      const double a = loss_of(0, s), m = loss_of(1, s), z = loss_of(2, s);
      const double mean = (a + m + z) / 3;
      const double sd = std::sqrt(
          ((a - mean) * (a - mean) + (m - mean) * (m - mean) + (z - mean) * (z - mean)) / 2);
      QVERIFY(near(g->data()->at(s)->value, mean));
      QVERIFY(near(c->spec().series[0].y_max[static_cast<size_t>(s)], mean + sd));
      QVERIFY(near(c->spec().series[0].y_min[static_cast<size_t>(s)], mean - sd));
    }
    // The band is drawn (a filled curve in the group's colour).
    bool band = false;
    for (int i = 0; i < c->plot()->plottableCount(); ++i)
      band |= c->plot()->plottable(i)->property("qatwb_role").toString() == "band" &&
              c->plot()->plottable(i)->property("qatwb_series").toInt() == 0;
    QVERIFY(band);
    QVERIFY(near(raw_graph(c, 1)->data()->at(7)->value, loss_of(3, 7)));
  }

  void dashboard_charts_share_x_zoom() {
    ui::DashboardView view;
    view.resize(1000, 700);
    view.set_database(db_);
    view.set_runs({ids_[0]});
    view.refresh_now();
    view.show();
    view.chart_for("loss")->plot()->xAxis->setRange(3, 9);
    for (const char* key : {"grad_norm", "lr", "eval/ppl_postquant", "tokens_per_s"}) {
      const QCPRange r = view.chart_for(key)->plot()->xAxis->range();
      QCOMPARE(r.lower, 3.0);
      QCOMPARE(r.upper, 9.0);
    }
  }
};

QTEST_MAIN(TestMetricBrowser)
#include "tst_metric_browser.moc"
