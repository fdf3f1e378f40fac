#include "core/watch/dashboard.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/report/chart_spec.h"
#include "core/watch/text_canvas.h"

namespace qatwb::watch {

const std::vector<std::string>& watch_metrics() {
  static const std::vector<std::string> kMetrics = {"loss", "grad_norm", "eval/ppl_postquant"};
  return kMetrics;
}

std::string metric_title(const std::string& key) {
  if (key == "grad_norm") return "grad norm";
  if (key == "eval/ppl_postquant") return "post-quant PPL";
  return key;
}

bool apply_key(WatchModel& m, WatchKey key) {
  const size_t n = watch_metrics().size();
  switch (key) {
    case WatchKey::Quit:
      return false;
    case WatchKey::NextMetric:
      m.metric = (m.metric + 1) % n;
      break;
    case WatchKey::PrevMetric:
      m.metric = (m.metric + n - 1) % n;
      break;
    case WatchKey::Up:
      if (m.selected > 0) --m.selected;
      break;
    case WatchKey::Down:
      if (m.selected + 1 < m.runs.size()) ++m.selected;
      break;
    case WatchKey::ToggleOverlay:
      m.overlay = !m.overlay;
      break;
    case WatchKey::CycleSmoothing:
      m.smoothing = m.smoothing < 0.3 ? 0.6 : m.smoothing < 0.75 ? 0.9 : 0.0;
      break;
    case WatchKey::Other:
      break;
  }
  return true;
}

namespace {

std::string cell(const std::string& s, int w) { return fit(s, w); }
std::string num_cell(double v, int w) {
  std::string s = short_number(v, w - 1);
  return std::string(size_t(std::max(0, w - 1 - int(s.size()))), ' ') + s + " ";
}

std::string row_text(const WatchRun& r, int width, bool header) {
  // Fixed numeric columns on the right; the name takes what is left.
  const int status_w = 9, step_w = 8, num_w = 10;
  // A name is cut at 24 columns: the room goes to the plot and the numbers, not to names.
  const int name_w = std::clamp(width - 2 - status_w - step_w - 3 * num_w, 8, 24);
  std::string s = "  ";
  if (header) {
    auto right = [](const std::string& t, int w) {
      return std::string(size_t(std::max(0, w - 1 - int(t.size()))), ' ') + t + " ";
    };
    s += cell("run", name_w) + cell("status", status_w) + right("step", step_w) +
         right("loss", num_w) + right("grad norm", num_w) + right("PPL quant", num_w);
  } else {
    const std::string& name = r.name;
    char step[32];
    std::snprintf(step, sizeof step, "%7lld ", static_cast<long long>(r.step));
    s += cell(name, name_w - 1) + " " + cell(r.status, status_w) +
         (r.step >= 0 ? std::string(step) : std::string("      - ")) + num_cell(r.loss, num_w) +
         num_cell(r.grad_norm, num_w) + num_cell(r.ppl, num_w);
  }
  return fit(s, width);
}

}  // namespace

std::vector<ScreenLine> layout_dashboard(const WatchModel& m, int width, int height) {
  std::vector<ScreenLine> out;
  if (width <= 0 || height <= 0) return out;
  if (width < 40 || height < 10) {
    for (int i = 0; i < height; ++i)
      out.push_back({fit(i == 0 ? "terminal too small (40x10 at least); q quits" : "", width),
                     i == 0 ? LineStyle::Title : LineStyle::Normal});
    return out;
  }
  const std::string& key = watch_metrics()[m.metric % watch_metrics().size()];
  out.push_back({fit("qatwb watch  " + m.clock + "  " + m.source, width), LineStyle::Title});
  out.push_back({row_text(WatchRun{}, width, true), LineStyle::Header});

  // Runs table: at most a third of the screen (at least 3 lines), scrolled to the selection.
  const int table_rows = std::max(3, (height - 2) / 3);
  if (m.runs.empty()) {
    out.push_back(
        {fit(m.message.empty() ? "  no runs in the database yet" : "  " + m.message, width),
         LineStyle::Normal});
    for (int i = 1; i < table_rows; ++i) out.push_back({fit("", width), LineStyle::Normal});
  } else {
    const size_t sel = std::min(m.selected, m.runs.size() - 1);
    size_t first = 0;
    if (sel >= size_t(table_rows)) first = sel - size_t(table_rows) + 1;
    for (int i = 0; i < table_rows; ++i) {
      size_t idx = first + size_t(i);
      if (idx >= m.runs.size()) {
        out.push_back({fit("", width), LineStyle::Normal});
        continue;
      }
      std::string text = row_text(m.runs[idx], width, false);
      if (idx == sel) text = fit("> " + text.substr(2), width);
      out.push_back({text, idx == sel ? LineStyle::Selected : LineStyle::Normal});
    }
  }
  out.push_back(
      {fit(m.runs.size() > size_t(table_rows) ? "  (" + std::to_string(m.runs.size()) + " runs)"
                                              : std::string(),
           width),
       LineStyle::Normal});

  // The curves: every run (the selected one drawn last, on top) or the selected run alone;
  // smoothed as in the GUI (never evaluations); FP / RTN lines under a perplexity.
  const bool smooth = m.smoothing > 0 && report::smoothing_applies(key);
  auto smoothed = [&](const std::vector<std::pair<double, double>>& pts) {
    if (!smooth) return pts;
    std::vector<double> y;
    for (const auto& p : pts) y.push_back(p.second);
    y = report::smooth_ema(y, m.smoothing);
    std::vector<std::pair<double, double>> out;
    for (size_t i = 0; i < pts.size(); ++i) out.push_back({pts[i].first, y[i]});
    return out;
  };
  const size_t sel = m.runs.empty() ? 0 : std::min(m.selected, m.runs.size() - 1);
  std::vector<PlotLayer> layers;
  const bool overlay = m.overlay && m.run_series.size() == m.runs.size() && m.runs.size() > 1;
  if (overlay) {
    for (size_t i = 0; i < m.runs.size(); ++i)
      if (i != sel) layers.push_back({smoothed(m.run_series[i]), m.runs[i].colour_index});
  }
  if (!m.runs.empty()) layers.push_back({smoothed(m.series), m.runs[sel].colour_index});
  std::vector<std::pair<std::string, double>> refs;
  if (key.rfind("eval/ppl", 0) == 0 && !m.runs.empty()) {
    // The selected run's references, and another run's where it differs.
    std::vector<double> seen;
    auto add = [&](const char* tag, double v, const WatchRun& r, bool named) {
      if (!std::isfinite(v) || std::find(seen.begin(), seen.end(), v) != seen.end()) return;
      seen.push_back(v);
      refs.push_back({named ? std::string(tag) + " " + r.name : std::string(tag), v});
    };
    add("FP", m.runs[sel].ppl_fp, m.runs[sel], false);
    add("RTN", m.runs[sel].ppl_rtn, m.runs[sel], false);
    if (overlay)
      for (const auto& r : m.runs) add("RTN", r.ppl_rtn, r, true);
  }

  std::string plot_title = "  " + metric_title(key);
  if (!m.runs.empty()) {
    const WatchRun& r = m.runs[sel];
    plot_title += overlay ? " of " + std::to_string(m.runs.size()) + " runs, " + r.name + " on top"
                          : " of " + r.name;
    if (!m.series.empty())
      plot_title += "  (last " + short_number(m.series.back().second, 10) + ")";
    if (smooth) plot_title += "  smoothing " + short_number(m.smoothing, 4);
  }
  out.push_back({fit(plot_title, width), LineStyle::Header});
  const int plot_h = height - int(out.size()) - 1;
  PlotRender plot = render_plots(layers, refs, width, plot_h,
                                 m.runs.empty() ? "no run selected" : "no " + key + " yet");
  for (size_t i = 0; i < plot.lines.size(); ++i)
    out.push_back({plot.lines[i], LineStyle::Normal, plot.owner[i]});
  out.push_back({fit(" tab/m: metric  up/down, j/k: run  o: overlay  s: smoothing  q: quit", width),
                 LineStyle::Help});
  return out;
}

}  // namespace qatwb::watch
