// Dashboard speed: ingest rate of the run database (metric rows per second through the real
// Store::ingest_run_dir path from events.jsonl files) and replot time of charts with many runs
// overlaid, offscreen.
//
//   bench_dashboard [--runs N] [--points P] [--rounds R] [--keep DIR]
//   defaults: 20 runs x 100000 steps (2 metrics a step: loss, grad_norm), 15 replot rounds
// Targets: ingest >= 100k rows/s; replot of one 20-run chart <= 30 ms.
#include <QApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QLabel>
#include <QTemporaryDir>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "core/report/chart_spec.h"
#include "core/run/event_log.h"
#include "core/run/run_dir.h"
#include "core/store/store.h"
#include "ui/dashboard/dashboard_loader.h"
#include "ui/dashboard/dashboard_view.h"
#include "ui/plot/metric_chart_widget.h"
#include "ui/plot/qcustomplot_include.h"

using namespace qatwb;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void write_run(const std::string& dir, int index, int points) {
  run::RunDir rd(dir);
  rd.create();
  std::ofstream out(rd.events_path(), std::ios::binary);
  run::Event s;
  s.type = run::EventType::Start;
  s.time = 1.7e9;
  s.start.run = "run" + std::to_string(index);
  s.start.project = "bench";
  s.start.config_json = R"({"train":{"batch_size":8,"grad_accum":1},"tokenize":{"seq_len":256}})";
  out << run::to_json_line(s) << '\n';
  uint64_t rng = 0x9E3779B97F4A7C15ull * static_cast<uint64_t>(index + 1);
  for (int step = 1; step <= points; ++step) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    const double noise = static_cast<double>(rng % 10000) / 10000.0 - 0.5;
    run::Event m;
    m.type = run::EventType::Metric;
    m.time = 1.7e9 + 0.1 * step;
    m.step = step;
    m.values = {{"loss", 2.0 + 8.0 / std::sqrt(step) + 0.1 * noise + 0.01 * index},
                {"grad_norm", 1.0 + 0.3 * noise + (step % 9973 == 0 ? 20.0 : 0.0)}};
    out << run::to_json_line(m) << '\n';
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
  QApplication app(argc, argv);
  int runs = 20, points = 100000, rounds = 15;
  QString keep;
  const QStringList args = app.arguments();
  for (int i = 1; i < args.size(); ++i) {
    auto next = [&] { return i + 1 < args.size() ? args[++i] : QString(); };
    if (args[i] == "--runs")
      runs = next().toInt();
    else if (args[i] == "--points")
      points = next().toInt();
    else if (args[i] == "--rounds")
      rounds = next().toInt();
    else if (args[i] == "--keep")
      keep = next();
    else {
      std::fprintf(stderr,
                   "usage: bench_dashboard [--runs N] [--points P] [--rounds R] "
                   "[--keep DIR]\n");
      return 2;
    }
  }
  if (runs < 1 || points < 1 || rounds < 1) return 2;
  QTemporaryDir tmp;
  const QString root = keep.isEmpty() ? tmp.path() : keep;
  QDir().mkpath(root);

  std::printf("bench_dashboard: %d runs x %d steps x 2 metrics\n", runs, points);
  std::vector<std::string> dirs;
  for (int r = 0; r < runs; ++r) {
    dirs.push_back((root + "/runs/run" + QString::number(r)).toStdString());
    write_run(dirs.back(), r, points);
  }
  const std::string db = (root + "/bench.sqlite").toStdString();
  QFile::remove(QString::fromStdString(db));
  auto store = store::Store::open(db);
  QElapsedTimer t;
  t.start();
  int64_t lines = 0;
  std::vector<int64_t> ids;
  for (const auto& d : dirs) {
    lines += store.ingest_run_dir(d);
    ids.push_back(store.find_run(d));
  }
  const double ingest_s = static_cast<double>(t.nsecsElapsed()) / 1e9;
  const double rows = 2.0 * runs * points;
  // Idempotence check for free: a second ingest reads nothing.
  const int64_t again = store.ingest_run_dir(dirs.front());

  // Bucket queries for one chart of every run (what a refresh does per chart).
  std::vector<double> query_ms;
  for (int i = 0; i < 3; ++i) {
    t.restart();
    auto spec = report::metric_chart(store, ids, "loss", report::XAxis::step, 1000);
    query_ms.push_back(static_cast<double>(t.nsecsElapsed()) / 1e6);
  }

  // Replot: one chart widget with every run overlaid (raw + smoothed + band per run).
  plot::MetricChartWidget chart;
  chart.resize(900, 500);
  chart.show();
  chart.set_spec(report::metric_chart(store, ids, "loss", report::XAxis::step, 1000));
  app.processEvents();
  std::vector<double> replot_ms;
  for (int i = 0; i < rounds; ++i) replot_ms.push_back(chart.replot_now());

  // The whole dashboard (5 charts) after a synchronous refresh.
  ui::DashboardView view;
  view.resize(1400, 1000);
  view.show();
  view.set_database(QString::fromStdString(db));
  QList<qint64> qids(ids.begin(), ids.end());
  view.set_runs(qids);
  t.restart();
  view.refresh_now();
  const double refresh_ms = static_cast<double>(t.nsecsElapsed()) / 1e6;
  app.processEvents();
  std::vector<double> dash_ms;
  for (int i = 0; i < rounds; ++i) {
    double sum = 0;
    for (int c = 0; c < view.chart_count(); ++c) sum += view.chart(c)->replot_now();
    dash_ms.push_back(sum);
  }

  // A live refresh when only one run of the set is still running: finished runs come from the
  // loader's cache, the live one is ingested and queried again.
  for (size_t r = 1; r < dirs.size(); ++r) {
    run::EventWriter w(run::RunDir(dirs[r]).events_path(), run::FsyncPolicy::Never);
    w.end("finished", "");
    store.ingest_run_dir(dirs[r]);
  }
  ui::SeriesCache cache;
  ui::DashboardRequest req;
  req.db_path = QString::fromStdString(db);
  req.runs = ids;
  req.keys = {"loss", "grad_norm", "eval/ppl_postquant", "lr", "tokens_per_s"};
  ui::load_dashboard(store, req, &cache);
  std::vector<double> live_ms;
  run::EventWriter live_writer(run::RunDir(dirs[0]).events_path(), run::FsyncPolicy::Never);
  for (int i = 0; i < 5; ++i) {
    live_writer.metric(points + 1 + i, {{"loss", 2.0}, {"grad_norm", 1.0}});  // a new step
    t.restart();
    ui::load_dashboard(store, req, &cache);
    live_ms.push_back(static_cast<double>(t.nsecsElapsed()) / 1e6);
  }

  std::printf("\n%-44s %14s %14s %10s\n", "measure", "value", "target", "ok");
  auto row = [](const char* what, double v, const char* unit, double target, bool higher) {
    char val[64], tgt[64];
    std::snprintf(val, sizeof val, "%.1f %s", v, unit);
    if (target > 0)
      std::snprintf(tgt, sizeof tgt, "%s %.0f %s", higher ? ">=" : "<=", target, unit);
    else
      std::snprintf(tgt, sizeof tgt, "-");
    const bool ok = target <= 0 || (higher ? v >= target : v <= target);
    std::printf("%-44s %14s %14s %10s\n", what, val, tgt, ok ? "yes" : "NO");
  };
  row("ingest (metric rows/s)", rows / ingest_s, "rows/s", 100000, true);
  row("ingest wall time", ingest_s, "s", 0, false);
  row("event lines ingested", static_cast<double>(lines), "lines", 0, false);
  row("re-ingest of an ingested run (lines)", static_cast<double>(again), "lines", 0, false);
  row("bucket query, 20-run chart (median)", median(query_ms), "ms", 0, false);
  row("replot, one 20-run chart (median)", median(replot_ms), "ms", 30, false);
  row("replot, one 20-run chart (min)", *std::min_element(replot_ms.begin(), replot_ms.end()), "ms",
      30, false);
  row("dashboard refresh (ingest check + 5 queries)", refresh_ms, "ms", 0, false);
  row("replot, whole dashboard 5 charts (median)", median(dash_ms), "ms", 0, false);
  row("live refresh, new step in 1 of N runs (median)", median(live_ms), "ms", 0, false);
  if (qEnvironmentVariableIsSet("BENCH_DEBUG")) {
    std::printf("chart size %dx%d, dashboard chart 0 size %dx%d points %d\n", chart.plot()->width(),
                chart.plot()->height(), view.chart(0)->plot()->width(),
                view.chart(0)->plot()->height(), view.chart(0)->point_count());
    for (int variant = 0; variant < 4; ++variant) {
      chart.set_show_band(variant != 1 && variant != 3);
      chart.set_smoothing(variant >= 2 ? 0.0 : 0.6);
      app.processEvents();
      std::vector<double> v;
      for (int i = 0; i < rounds; ++i) v.push_back(chart.replot_now());
      std::printf("variant band=%d smooth=%d: %.1f ms\n", variant != 1 && variant != 3, variant < 2,
                  median(v));
    }
    chart.plot()->setNotAntialiasedElements(QCP::aeAll);
    std::vector<double> v;
    for (int i = 0; i < rounds; ++i) v.push_back(chart.replot_now());
    std::printf("no antialiasing: %.1f ms\n", median(v));
  }
  std::printf("\npoints drawn in the 20-run chart: %d (buckets, not raw points)\n",
              chart.point_count());
  return 0;
}
