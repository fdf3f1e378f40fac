// core/report/chart_spec: TensorBoard's debiased EMA (hand-computed values, constant series, NaN
// pass-through, weight clamping), rolling statistics, robust range, and metric_chart over a real
// store filled by ingesting run directories written with core/run's EventWriter (x in steps,
// tokens, wall and relative time; bucket min/max/last; zoomed step range; reference lines).
#include <QTemporaryDir>
#include <QtTest>
#include <cmath>

#include "core/report/chart_spec.h"
#include "core/run/event_log.h"
#include "core/run/run_dir.h"
#include "core/store/store.h"

using namespace qatwb;

namespace {

bool near(double a, double b) { return std::abs(a - b) < 1e-9 * std::max(1.0, std::abs(b)); }

// A run with `steps` metric steps at time t0 + 0.5 * step; loss = 100 - step.
std::string write_run(const QString& root, const std::string& name, int steps, bool with_start) {
  run::RunDir dir((root + "/" + QString::fromStdString(name)).toStdString());
  dir.create();
  run::EventWriter w(dir.events_path(), run::FsyncPolicy::Never);
  const double t0 = 1000;
  if (with_start) {
    run::Event s;
    s.type = run::EventType::Start;
    s.time = t0;
    s.start.run = name;
    s.start.project = "p";
    s.start.config_json = R"({"train":{"batch_size":2,"grad_accum":3},"tokenize":{"seq_len":8}})";
    w.write(s);
    run::Event e;
    e.type = run::EventType::Eval;
    e.time = t0;
    e.step = 0;
    e.values = {{"ppl_fp", 20.0}, {"ppl_rtn", 90.0}};
    w.write(e);
  }
  for (int step = 1; step <= steps; ++step) {
    run::Event m;
    m.type = run::EventType::Metric;
    m.time = t0 + 10 + 0.5 * step;
    m.step = step;
    m.values = {{"loss", 100.0 - step}};
    w.write(m);
  }
  run::Event e;
  e.type = run::EventType::Eval;
  e.time = t0 + 100;
  e.step = steps;
  e.values = {{"ppl_postquant", 40.0}};
  w.write(e);
  return dir.path();
}

}  // namespace

class TestChartSpec : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void ema_hand_computed() {
    const auto s = report::smooth_ema({1, 2, 3}, 0.5);
    QCOMPARE(s.size(), size_t{3});
    QVERIFY(near(s[0], 1.0));          // 0.5 / (1 - 0.5)
    QVERIFY(near(s[1], 1.25 / 0.75));  // (0.25 + 1) / (1 - 0.25)
    QVERIFY(near(s[2], 2.125 / 0.875));
    // weight 0: the raw series.
    QCOMPARE(report::smooth_ema({1, 5, 2}, 0), (std::vector<double>{1, 5, 2}));
  }

  void ema_constant_and_nan() {
    QCOMPARE(report::smooth_ema({2, 2, 2}, 0.9), (std::vector<double>{2, 2, 2}));
    const auto c = report::smooth_ema({2, NAN, 2}, 0.9);
    QCOMPARE(c[0], 2.0);
    QVERIFY(std::isnan(c[1]));
    QCOMPARE(c[2], 2.0);
    // NaN / Inf pass through raw and do not advance the accumulator.
    const auto s = report::smooth_ema({1, NAN, 3, INFINITY}, 0.5);
    QVERIFY(near(s[0], 1.0));
    QVERIFY(std::isnan(s[1]));
    QVERIFY(near(s[2], (0.25 + 1.5) / 0.75));
    QVERIFY(std::isinf(s[3]));
    QVERIFY(report::smooth_ema({}, 0.5).empty());
  }

  void ema_weight_clamped() {
    QCOMPARE(report::smooth_ema({1, 5, 2}, -3), (std::vector<double>{1, 5, 2}));
    QCOMPARE(report::smooth_ema({1, 5}, 7), report::smooth_ema({1, 5}, 1));
    QCOMPARE(report::smooth_ema({1, 5}, NAN), (std::vector<double>{1, 5}));
  }

  void rolling_and_robust() {
    std::vector<double> mean, sd;
    report::rolling_mean_std({1, 3, NAN, 5, 7}, 2, mean, sd);
    QCOMPARE(mean[0], 1.0);
    QCOMPARE(mean[1], 2.0);
    QCOMPARE(sd[1], 1.0);
    QCOMPARE(mean[2], 2.0);  // NaN does not enter the window
    QCOMPARE(mean[3], 4.0);
    QCOMPARE(mean[4], 6.0);
    std::vector<double> v;
    for (int i = 1; i <= 100; ++i) v.push_back(i);
    v.push_back(1e9);
    v.push_back(NAN);
    auto r = report::robust_range(v);
    QVERIFY(r);
    QVERIFY(r->second < 110 && r->first > 0);
    QVERIFY(!report::robust_range({NAN, INFINITY}));
    auto lr = report::robust_range({-1, 0, 10, 100}, true, 0, 1);
    QVERIFY(lr && lr->first > 0 && lr->first < 10 && lr->second > 100);
  }

  void x_axis_names() {
    QCOMPARE(report::parse_x_axis("tokens"), std::optional(report::XAxis::tokens));
    QCOMPARE(report::parse_x_axis("relative"), std::optional(report::XAxis::relative_time));
    QVERIFY(!report::parse_x_axis("bogus"));
  }

  void metric_chart_from_store() {
    QTemporaryDir tmp;
    auto store = store::Store::open(tmp.filePath("db.sqlite").toStdString());
    const std::string a = write_run(tmp.path(), "a", 100, true);
    const std::string b = write_run(tmp.path(), "b", 30, false);
    store.ingest_run_dir(a);
    store.ingest_run_dir(b);
    const int64_t ia = store.find_run(a), ib = store.find_run(b);

    auto spec = report::metric_chart(store, {ia, ib}, "loss", report::XAxis::step, 10);
    QCOMPARE(spec.metric_key, std::string("loss"));
    QCOMPARE(spec.x_label, std::string("step"));
    QCOMPARE(spec.series.size(), size_t{2});
    const auto& s = spec.series[0];
    QCOMPARE(s.label, std::string("a"));
    QCOMPARE(s.run_id, ia);
    QCOMPARE(s.colour_index, report::colour_indices(store).at(ia));
    QVERIFY(spec.series[1].colour_index != s.colour_index);
    QCOMPARE(s.x.size(), size_t{10});
    QCOMPARE(s.x[0], 10.0);  // bucket [1, 10]: last step 10
    QCOMPARE(s.y[0], 90.0);  // value at its last step
    QCOMPARE(s.y_min[0], 90.0);
    QCOMPARE(s.y_max[0], 99.0);
    QCOMPARE(s.x[9], 100.0);
    QCOMPARE(s.y[9], 0.0);
    QCOMPARE(s.step.size(), s.x.size());
    QCOMPARE(s.time[9], 1000 + 10 + 50.0);

    // Tokens: 2 x 3 x 8 = 48 per step; the run without a config has no token axis.
    spec = report::metric_chart(store, {ia, ib}, "loss", report::XAxis::tokens, 10);
    QCOMPARE(spec.series[0].x[0], 480.0);
    QVERIFY(spec.series[1].x.empty());
    // Wall time and time since the start event (or, without one, since the first point).
    spec = report::metric_chart(store, {ia, ib}, "loss", report::XAxis::wall_time, 10);
    QCOMPARE(spec.series[0].x[0], 1015.0);
    spec = report::metric_chart(store, {ia, ib}, "loss", report::XAxis::relative_time, 1000);
    QCOMPARE(spec.series[0].x[0], 10.5);
    QCOMPARE(spec.series[1].x[0], 0.0);
    QCOMPARE(spec.series[1].x[29], 14.5);
    QCOMPARE(spec.series[1].x.size(), size_t{30});

    // Zoomed: finer buckets over steps [41, 60].
    report::ChartQuery q;
    q.max_points = 20;
    q.step_min = 41;
    q.step_max = 60;
    spec = report::metric_chart(store, {ia}, "loss", q);
    QCOMPARE(spec.series[0].x.size(), size_t{20});
    QCOMPARE(spec.series[0].x.front(), 41.0);
    QVERIFY(spec.series[0].y_min.empty());  // one point per bucket: no band

    // Post-quant PPL: log scale and FP / RTN reference lines.
    spec = report::metric_chart(store, {ia, ib}, "eval/ppl_postquant");
    QVERIFY(spec.log_y);
    QCOMPARE(spec.reference_lines.size(), size_t{2});
    QCOMPARE(spec.reference_lines[0].first, std::string("FP"));
    QCOMPARE(spec.reference_lines[0].second, 20.0);
    QCOMPARE(spec.reference_lines[1].second, 90.0);
    QCOMPARE(spec.series[1].y, (std::vector<double>{40.0}));
    // Before training the post-quantization perplexity is the RTN one: the curve starts there.
    QCOMPARE(spec.series[0].step, (std::vector<double>{0.0, 100.0}));
    QCOMPARE(spec.series[0].y, (std::vector<double>{90.0, 40.0}));

    // A missing metric is an empty series, an unknown run an error.
    spec = report::metric_chart(store, {ia}, "no_such_metric");
    QVERIFY(spec.series[0].x.empty());
    QVERIFY_THROWS_EXCEPTION(std::exception, report::metric_chart(store, {999}, "loss"));
  }
};

QTEST_GUILESS_MAIN(TestChartSpec)
#include "tst_chart_spec.moc"
