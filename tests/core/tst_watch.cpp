// The terminal dashboard's drawing (core/watch), without a terminal: braille dots, UTF-8 fitting,
// plot scaling and labels, the 80x24 layout and a resize, keys, and the store-backed model.
#include <QTemporaryDir>
#include <QtTest>
#include <cmath>
#include <set>

#include "core/report/run_style.h"
#include "core/run/event_log.h"
#include "core/store/store.h"
#include "core/watch/dashboard.h"
#include "core/watch/text_canvas.h"
#include "core/watch/watch_data.h"

using namespace qatwb::watch;

namespace {
// Every line has exactly `width` columns and there are exactly `height` lines.
bool exact_size(const std::vector<ScreenLine>& lines, int width, int height) {
  if (int(lines.size()) != height) return false;
  for (const auto& l : lines)
    if (display_width(l.text) != width) return false;
  return true;
}
WatchModel sample_model(int runs) {
  WatchModel m;
  m.source = "/data/qatwb.sqlite";
  m.clock = "12:00:00";
  for (int i = 0; i < runs; ++i) {
    WatchRun r;
    r.id = i + 1;
    r.name = "run-" + std::to_string(i);
    r.status = i == 0 ? "running" : "finished";
    r.step = 100 + i;
    r.loss = 2.5 + i;
    r.grad_norm = 0.75;
    r.ppl = i == 0 ? NAN : 31.25;
    m.runs.push_back(r);
  }
  for (int s = 1; s <= 100; ++s) m.series.push_back({double(s), 10.0 / s});
  return m;
}
}  // namespace

class TestWatch : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void braille_dots_map_to_unicode() {
    BrailleCanvas c(2, 1);
    QCOMPARE(c.dot_width(), 4);
    QCOMPARE(c.dot_height(), 4);
    c.set(0, 0);  // dot 1
    c.set(1, 3);  // dot 8
    c.set(9, 9);  // outside: ignored
    auto lines = c.lines();
    QCOMPARE(lines.size(), size_t{1});
    QCOMPARE(lines[0], std::string("\u2881 "));  // U+2800 + 0x01 + 0x80, then an empty cell
    QVERIFY(c.get(0, 0) && c.get(1, 3) && !c.get(1, 0));
  }

  void lines_are_continuous() {
    BrailleCanvas c(10, 3);
    c.line(0, 0, 19, 11);
    for (int x = 0; x < 20; ++x) {
      bool any = false;
      for (int y = 0; y < 12; ++y) any |= c.get(x, y);
      QVERIFY2(any, qPrintable(QString("column %1 empty").arg(x)));
    }
    c.line(-1000000, 5, 1000000, 5);  // far endpoints are clipped, not walked forever
    QVERIFY(c.get(0, 5) && c.get(19, 5));
  }

  void fit_counts_columns_not_bytes() {
    QCOMPARE(display_width("\u2801\u2802ab"), 4);
    QCOMPARE(fit("\u2801\u2802abc", 3), std::string("\u2801\u2802a"));
    QCOMPARE(fit("ab", 4), std::string("ab  "));
    QCOMPARE(fit("a\tb", 3), std::string("a b"));
    QCOMPARE(short_number(NAN), std::string("-"));
    QCOMPARE(short_number(31.25), std::string("31.25"));
    QVERIFY(short_number(123456789.0, 8).size() <= 8);
  }

  void plot_scales_to_the_data() {
    PlotSeries s;
    for (int i = 0; i <= 10; ++i) s.points.push_back({double(i * 10), double(i)});
    auto lines = render_plot(s, 40, 10);
    QCOMPARE(lines.size(), size_t{10});
    for (const auto& l : lines) QCOMPARE(display_width(l), 40);
    QVERIFY2(lines[0].find("10") != std::string::npos, lines[0].c_str());  // y max label
    QVERIFY2(lines[8].find("       0") == 0, lines[8].c_str());            // y min label
    QVERIFY(lines[9].find("100") != std::string::npos);                    // x range
    // Rising line: the top row has dots at the right end, the bottom row at the left.
    std::string top = lines[0].substr(lines[0].find("\u2502") + 3);
    std::string bottom = lines[8].substr(lines[8].find("\u2502") + 3);
    QVERIFY(top.find_first_not_of(' ') > 40);  // bytes: braille are 3 bytes each
    QVERIFY(bottom.find_first_not_of(' ') == 0);
    // NaN points are gaps, not crashes; no finite point shows a message.
    PlotSeries empty;
    empty.points = {{1, NAN}, {2, INFINITY}};
    auto msg = render_plot(empty, 40, 5, "no loss yet");
    QVERIFY(msg[2].find("no loss yet") != std::string::npos);
    QCOMPARE(render_plot(s, 10, 2).size(), size_t{2});  // too small: still exact size
  }

  void layout_fills_80x24() {
    WatchModel m = sample_model(3);
    auto lines = layout_dashboard(m, 80, 24);
    QVERIFY(exact_size(lines, 80, 24));
    QVERIFY(lines[0].text.find("qatwb watch") == 0);
    QVERIFY(lines[1].text.find("run") != std::string::npos &&
            lines[1].text.find("PPL") != std::string::npos);
    QCOMPARE(lines[2].style, LineStyle::Selected);
    QVERIFY(lines[2].text.find("> run-0") == 0);
    QVERIFY(lines[2].text.find("running") != std::string::npos);
    QVERIFY(lines[3].text.find("31.25") != std::string::npos);
    bool title = false, braille = false;
    for (const auto& l : lines) {
      title |= l.text.find("loss of run-0") != std::string::npos;
      braille |= l.text.find("\u2502") != std::string::npos;
    }
    QVERIFY(title && braille);
    QVERIFY(lines[23].text.find("q: quit") != std::string::npos);
  }

  void resize_relayouts_exactly() {
    WatchModel m = sample_model(12);
    m.selected = 11;  // scrolled into view
    for (auto [w, h] : std::vector<std::pair<int, int>>{{80, 24}, {120, 40}, {40, 10}, {200, 60}}) {
      auto lines = layout_dashboard(m, w, h);
      QVERIFY2(exact_size(lines, w, h), qPrintable(QString("%1x%2").arg(w).arg(h)));
      bool selected_visible = false;
      for (const auto& l : lines) selected_visible |= l.text.find("> run-11") == 0;
      QVERIFY(selected_visible);
    }
    auto tiny = layout_dashboard(m, 30, 5);
    QVERIFY(exact_size(tiny, 30, 5));
    QVERIFY(tiny[0].text.find("too small") != std::string::npos);
  }

  void keys_switch_metric_and_run() {
    WatchModel m = sample_model(2);
    QVERIFY(apply_key(m, WatchKey::NextMetric));
    QCOMPARE(watch_metrics()[m.metric], std::string("grad_norm"));
    apply_key(m, WatchKey::PrevMetric);
    apply_key(m, WatchKey::PrevMetric);
    QCOMPARE(watch_metrics()[m.metric], std::string("eval/ppl_postquant"));
    apply_key(m, WatchKey::Down);
    apply_key(m, WatchKey::Down);
    QCOMPARE(m.selected, size_t{1});
    apply_key(m, WatchKey::Up);
    QCOMPARE(m.selected, size_t{0});
    QVERIFY(!apply_key(m, WatchKey::Quit));
  }

  void overlay_references_and_smoothing() {
    WatchModel m = sample_model(3);
    m.metric = 2;  // eval/ppl_postquant
    for (int i = 0; i < 3; ++i) {
      m.runs[size_t(i)].colour_index = 4 + i;
      m.runs[size_t(i)].ppl_fp = 20;
      m.runs[size_t(i)].ppl_rtn = 100;
      std::vector<std::pair<double, double>> pts;
      for (int s = 0; s <= 100; s += 10) pts.push_back({double(s), 90.0 - 20 * i - 0.3 * s});
      m.run_series.push_back(pts);
    }
    m.series = m.run_series[0];
    auto lines = layout_dashboard(m, 100, 30);
    QVERIFY(exact_size(lines, 100, 30));
    std::set<int> drawn;
    bool fp = false, rtn = false, title = false;
    for (const auto& l : lines) {
      for (int c : l.colour)
        if (c >= 0) drawn.insert(c);
      fp |= l.text.find("FP 20") != std::string::npos;
      rtn |= l.text.find("RTN 100") != std::string::npos;
      title |= l.text.find("post-quant PPL of 3 runs, run-0 on top") != std::string::npos;
      if (l.style == LineStyle::Header)  // the plot title: evaluations are never smoothed
        QVERIFY(l.text.find("smoothing") == std::string::npos);
    }
    QCOMPARE(drawn, (std::set<int>{4, 5, 6}));  // every run, in its colour slot
    QVERIFY(fp && rtn && title);
    // o: the selected run alone.
    apply_key(m, WatchKey::ToggleOverlay);
    drawn.clear();
    for (const auto& l : layout_dashboard(m, 100, 30))
      for (int c : l.colour)
        if (c >= 0) drawn.insert(c);
    QCOMPARE(drawn, (std::set<int>{4}));

    // Loss: smoothed at 0.6 by default; s cycles 0.9, 0, 0.6; a noisy curve changes shape.
    WatchModel l = sample_model(1);
    l.series.clear();
    for (int s = 0; s < 100; ++s) l.series.push_back({double(s), s % 2 ? 3.0 : 1.0});
    auto plot_text = [](const std::vector<ScreenLine>& v) {
      std::string t;
      for (const auto& x : v)
        if (x.style != LineStyle::Help) t += x.text + "\n";  // the help names every key
      return t;
    };
    const std::string at06 = plot_text(layout_dashboard(l, 80, 24));
    QVERIFY(at06.find("smoothing 0.6") != std::string::npos);
    apply_key(l, WatchKey::CycleSmoothing);
    QCOMPARE(l.smoothing, 0.9);
    apply_key(l, WatchKey::CycleSmoothing);
    QCOMPARE(l.smoothing, 0.0);
    const std::string raw = plot_text(layout_dashboard(l, 80, 24));
    QVERIFY(raw.find("smoothing") == std::string::npos);
    QVERIFY(raw != at06);
    apply_key(l, WatchKey::CycleSmoothing);
    QCOMPARE(l.smoothing, 0.6);
  }

  void names_leave_room() {
    WatchModel m = sample_model(2);
    m.runs[0].name = "a-very-long-run-name-that-goes-on-and-on-and-on-forever";
    auto lines = layout_dashboard(m, 160, 30);
    // The name is cut at 24 columns; the status starts right after it.
    QCOMPARE(lines[2].text.find("running"), size_t{2 + 24});
    QVERIFY(lines[2].text.find("on-and-on") == std::string::npos);
  }

  void model_reads_the_store_and_ingests_running_runs() {
    QTemporaryDir dir;
    const std::string run_dir = dir.filePath("runs/a").toStdString();
    QVERIFY(QDir().mkpath(QString::fromStdString(run_dir)));
    auto store = qatwb::store::Store::open(dir.filePath("db.sqlite").toStdString());
    {
      qatwb::run::EventWriter w(run_dir + "/events.jsonl");
      qatwb::run::StartInfo info;
      info.run = "a";
      info.project = "p";
      w.start(info);
      w.metric(0, {{"loss", 4.0}, {"grad_norm", 2.0}});  // metric steps are 0-based
    }
    store.ingest_run_dir(run_dir);
    WatchModel m;
    WatchSource src;
    refresh_model(store, src, m, 50);
    QCOMPARE(m.runs.size(), size_t{1});
    QCOMPARE(m.runs[0].status, std::string("running"));
    QCOMPARE(m.runs[0].loss, 4.0);
    // The worker writes more; the next refresh ingests it by itself.
    {
      qatwb::run::EventWriter w(run_dir + "/events.jsonl");
      w.metric(1, {{"loss", 3.0}, {"grad_norm", 1.5}});
      w.eval(2, {{"ppl_postquant", 42.5}});
    }
    refresh_model(store, src, m, 50);
    QCOMPARE(m.runs[0].step, int64_t{2});  // metric steps 0 and 1: two steps done
    QCOMPARE(m.runs[0].loss, 3.0);
    QCOMPARE(m.runs[0].ppl, 42.5);
    QCOMPARE(m.series.size(), size_t{2});
    QCOMPARE(m.series.back().second, 3.0);
    QCOMPARE(m.run_series.size(), size_t{1});
    QCOMPARE(m.run_series[0], m.series);
    QCOMPARE(m.runs[0].colour_index, qatwb::report::colour_indices(store).at(m.runs[0].id));
  }
};

QTEST_GUILESS_MAIN(TestWatch)
#include "tst_watch.moc"
