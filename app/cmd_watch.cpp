// qatwb watch [RUN ...]: a terminal dashboard over the run store (for a GPU box reached over
// ssh): runs table, live braille plot of loss / gradient norm / post-quant PPL of the selected
// run. Keys: tab or m (shift-tab or M back) switch the metric, up/down or j/k the run, q quits.
// Refreshes from the store about once a second, ingesting running runs' directories.
// The drawing is in core/watch (plain text lines); this file is the ncurses glue.
#include <langinfo.h>
#include <unistd.h>
#include <clocale>
#include <cstring>
#include <ctime>
#include <iostream>

#include "app/command.h"
#include "app/environment.h"
#include "core/store/store.h"
#include "core/util/error.h"
#include "core/watch/dashboard.h"
#include "core/watch/text_canvas.h"
#include "core/watch/watch_data.h"

// Last: curses defines macros (clear, move, refresh, timeout, ...).
#define NCURSES_WIDECHAR 1
#include <ncursesw/curses.h>

namespace {

struct WatchArgs {
  qatwb::watch::WatchSource source;
  std::string db;
  double interval = 1.0;
  bool once = false;
  int width = 80, height = 24;
  std::string metric;
};

std::string clock_text() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
  return buf;
}

void set_metric(qatwb::watch::WatchModel& model, const std::string& metric) {
  if (metric.empty()) return;
  const auto& all = qatwb::watch::watch_metrics();
  for (size_t i = 0; i < all.size(); ++i)
    if (all[i] == metric) {
      model.metric = i;
      return;
    }
  throw qatwb::Error(
      "--metric: expected loss, grad_norm or eval/ppl_postquant, got '" + metric + "'", 2);
}

void reload_model(qatwb::store::Store& store, const WatchArgs& a, qatwb::watch::WatchModel& model,
                  int width) {
  model.clock = clock_text();
  try {
    qatwb::watch::refresh_model(store, a.source, model, std::max(16, width * 2));
    model.message.clear();
  } catch (const qatwb::Error& e) {
    model.message = e.what();
  }
}

void draw(const qatwb::watch::WatchModel& model) {
  int h = 0, w = 0;
  getmaxyx(stdscr, h, w);
  erase();
  const auto lines = qatwb::watch::layout_dashboard(model, w, h);
  for (size_t i = 0; i < lines.size(); ++i) {
    attr_t attr = A_NORMAL;
    switch (lines[i].style) {
      case qatwb::watch::LineStyle::Title:
        attr = A_REVERSE;
        break;
      case qatwb::watch::LineStyle::Header:
        attr = A_BOLD;
        break;
      case qatwb::watch::LineStyle::Selected:
        attr = has_colors() ? COLOR_PAIR(1) | A_BOLD : A_STANDOUT;
        break;
      case qatwb::watch::LineStyle::Help:
        attr = A_DIM;
        break;
      default:
        break;
    }
    // The bottom-right cell cannot be written without scrolling: leave it out.
    std::string text = lines[i].text;
    if (int(i) == h - 1) text = qatwb::watch::fit(text, w - 1);
    const auto& colour = lines[i].colour;
    if (has_colors() && !colour.empty()) {
      // A plot line: each run's cells in its colour (pairs 2..7, the palette's order).
      const auto cells = qatwb::watch::split_columns(text);
      for (size_t c = 0; c < cells.size(); ++c) {
        const int slot = c < colour.size() ? colour[c] : -1;
        const attr_t a = slot >= 0 ? COLOR_PAIR(2 + slot % 6) : A_NORMAL;
        attron(a);
        mvaddstr(int(i), int(c), cells[c].c_str());
        attroff(a);
      }
      continue;
    }
    attron(attr);
    mvaddstr(int(i), 0, text.c_str());
    attroff(attr);
  }
  refresh();
}

int run_watch(WatchArgs& a) {
  using namespace qatwb;
  const std::string db = a.db.empty() ? app::environment().db_path() : a.db;
  store::Store store = store::Store::open_existing(db);
  watch::WatchModel model;
  model.source = db;
  set_metric(model, a.metric);
  for (const auto& r : a.source.runs) store.find_run(r);  // unknown runs fail before the screen

  if (a.once) {  // one frame as text (scripts, logs, tests)
    reload_model(store, a, model, a.width);
    for (const auto& l : watch::layout_dashboard(model, a.width, a.height))
      std::cout << l.text << "\n";
    return 0;
  }
  if (!isatty(0) || !isatty(1)) throw Error("watch: needs a terminal (use --once for text)", 2);

  std::setlocale(LC_ALL, "");
  if (std::strcmp(nl_langinfo(CODESET), "UTF-8") != 0) std::setlocale(LC_CTYPE, "C.UTF-8");
  if (!initscr()) throw Error("watch: cannot initialise the terminal");
  struct EndWin {
    ~EndWin() { endwin(); }
  } end_win;
  cbreak();
  noecho();
  keypad(stdscr, TRUE);
  curs_set(0);
  if (has_colors()) {
    start_color();
    use_default_colors();
    init_pair(1, COLOR_BLACK, COLOR_CYAN);
    // Run colours nearest the GUI's palette (core/report/run_style.h): blue, orange, bluish
    // green, reddish purple, sky blue, vermillion.
    const short run_colours[] = {COLOR_BLUE,    COLOR_YELLOW, COLOR_GREEN,
                                 COLOR_MAGENTA, COLOR_CYAN,   COLOR_RED};
    for (short k = 0; k < 6; ++k) init_pair(short(2 + k), run_colours[k], -1);
  }
  timeout(100);
  int w = 0, h = 0;
  getmaxyx(stdscr, h, w);
  (void)h;
  reload_model(store, a, model, w);
  draw(model);
  timespec last{};
  clock_gettime(CLOCK_MONOTONIC, &last);
  while (true) {
    int ch = getch();
    watch::WatchKey key = watch::WatchKey::Other;
    bool redraw = false, reload = false;
    switch (ch) {
      case 'q':
      case 'Q':
        key = watch::WatchKey::Quit;
        break;
      case '\t':
      case 'm':
        key = watch::WatchKey::NextMetric;
        reload = true;
        break;
      case KEY_BTAB:
      case 'M':
        key = watch::WatchKey::PrevMetric;
        reload = true;
        break;
      case KEY_UP:
      case 'k':
        key = watch::WatchKey::Up;
        reload = true;
        break;
      case KEY_DOWN:
      case 'j':
        key = watch::WatchKey::Down;
        reload = true;
        break;
      case 'o':
        key = watch::WatchKey::ToggleOverlay;
        redraw = true;
        break;
      case 's':
        key = watch::WatchKey::CycleSmoothing;
        redraw = true;
        break;
      case KEY_RESIZE:
        redraw = true;
        reload = true;
        break;
      default:
        break;
    }
    if (!watch::apply_key(model, key)) break;
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    double dt = double(now.tv_sec - last.tv_sec) + double(now.tv_nsec - last.tv_nsec) * 1e-9;
    if (reload || dt >= a.interval) {
      getmaxyx(stdscr, h, w);
      reload_model(store, a, model, w);
      last = now;
      redraw = true;
    }
    if (redraw) draw(model);
  }
  return 0;
}

qatwb::cli::CommandRegistration reg(
    "watch", "Terminal dashboard: runs table and live plots of loss, grad norm, post-quant PPL",
    [](CLI::App& sub) {
      auto a = std::make_shared<WatchArgs>();
      sub.add_option("runs", a->source.runs,
                     "Runs to show (id, name, project/name or run dir); "
                     "default: the newest runs");
      sub.add_option("--db", a->db, "Run database (default: $QATWB_DB or runs/qatwb.sqlite)");
      sub.add_option("--interval", a->interval, "Seconds between refreshes (default 1)")
          ->check(CLI::Range(0.1, 3600.0));
      sub.add_option("--limit", a->source.limit, "Newest runs shown when none are named (50)");
      sub.add_option("--metric", a->metric,
                     "Metric plotted first: loss, grad_norm, "
                     "eval/ppl_postquant");
      sub.add_flag("--once", a->once, "Print one frame as text and exit (no terminal needed)");
      sub.add_option("--width", a->width, "--once: columns (80)")->check(CLI::Range(1, 1000));
      sub.add_option("--height", a->height, "--once: lines (24)")->check(CLI::Range(1, 1000));
      sub.footer(
          "Keys: tab/m next metric (shift-tab/M back), up/down or j/k select a run (drawn on top), "
          "o every run overlaid or the selected one alone, s smoothing (0, 0.6, 0.9), q quit. "
          "Perplexity plots show the FP and RTN references as dotted lines.");
      return [a]() { return run_watch(*a); };
    });

}  // namespace
