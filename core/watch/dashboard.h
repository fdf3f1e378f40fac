// The screen of `qatwb watch`: a runs table and a live plot of one metric of every listed run
// overlaid (or the selected run alone), smoothed like the GUI (not evaluations), with the FP and
// RTN perplexities as reference lines, laid out as text lines for a terminal of a given size
// (app/cmd_watch.cpp draws them with ncurses, each run's cells in its colour; tests compare
// them). At 80x24:
//   line 0          title: database, time, metric
//   line 1          table header (run names at most 24 columns: the numbers get the room)
//   lines 2..       runs (at most about a third of the screen; scrolled to keep the selection)
//   one blank line, the plot title (metric, runs, smoothing), the plot (braille), then the key
//   help on the last line.
#pragma once
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace qatwb::watch {

// What the dashboard can plot, in the order tab/m cycles through them.
const std::vector<std::string>& watch_metrics();   // loss, grad_norm, eval/ppl_postquant
std::string metric_title(const std::string& key);  // "loss", "grad norm", "post-quant PPL"

struct WatchRun {
  int64_t id = 0;
  std::string name, project, status;
  int64_t step = -1;
  double loss = NAN, grad_norm = NAN, ppl = NAN;  // latest loss, grad_norm, eval/ppl_postquant
  int colour_index = 0;  // the run's colour slot (core/report/run_style.h), as in the GUI
  double ppl_fp = NAN, ppl_rtn = NAN;  // step-0 references of a quantized run
};

struct WatchModel {
  std::string source;  // the database path
  std::string clock;   // "20:45:56"
  std::vector<WatchRun> runs;
  size_t selected = 0;
  size_t metric = 0;                              // index into watch_metrics()
  std::vector<std::pair<double, double>> series;  // (step, value) of the selected run's metric
  // (step, value) of the metric for every run of `runs` (same order; empty: only `series`).
  std::vector<std::vector<std::pair<double, double>>> run_series;
  bool overlay = true;     // every run's curve (o toggles), else the selected run's alone
  double smoothing = 0.6;  // EMA weight for loss / grad norm (s cycles 0, 0.6, 0.9)
  std::string message;     // an error to show (e.g. the database went away)
};

enum class LineStyle { Normal, Title, Header, Selected, Help };
struct ScreenLine {
  std::string text;  // exactly `width` columns
  LineStyle style = LineStyle::Normal;
  // Plot lines: per column, the colour slot of the run drawn there (-1: none); empty otherwise.
  std::vector<int> colour = {};
};

// Exactly `height` lines of exactly `width` columns (a "terminal too small" note below 40x10).
std::vector<ScreenLine> layout_dashboard(const WatchModel& model, int width, int height);

// Keys, independent of curses: returns false to quit.
enum class WatchKey {
  NextMetric,
  PrevMetric,
  Up,
  Down,
  ToggleOverlay,
  CycleSmoothing,
  Quit,
  Other
};
bool apply_key(WatchModel& model, WatchKey key);

}  // namespace qatwb::watch
