#include "ui/plot/chart_render.h"

#include <algorithm>

#include <QApplication>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QImage>
#include <cmath>
#include <memory>

#include <unistd.h>

#include "core/util/error.h"
#include "ui/plot/qcustomplot_include.h"

namespace qatwb::plot {

namespace {

QVector<double> qvec(const std::vector<double>& v) { return QVector<double>(v.begin(), v.end()); }

QColor with_alpha(QColor c, int alpha) {
  c.setAlpha(alpha);
  return c;
}

void tag(QCPGraph* g, const char* role, int series) {
  g->setProperty("qatwb_role", role);
  g->setProperty("qatwb_series", series);
}

void style_axes(QCustomPlot* plot, const report::ChartSpec& spec) {
  plot->xAxis->setLabel(QString::fromStdString(spec.x_label));
  plot->yAxis->setLabel(QString::fromStdString(spec.y_label));
  if (spec.x_label == report::x_axis_label(report::XAxis::wall_time)) {
    auto ticker = QSharedPointer<QCPAxisTickerDateTime>::create();
    ticker->setDateTimeFormat("MM-dd\nhh:mm:ss");
    plot->xAxis->setTicker(ticker);
  } else {
    plot->xAxis->setTicker(QSharedPointer<QCPAxisTicker>::create());
  }
  if (spec.log_y) {
    plot->yAxis->setScaleType(QCPAxis::stLogarithmic);
    plot->yAxis->setTicker(QSharedPointer<QCPAxisTickerLog>::create());
  } else {
    plot->yAxis->setScaleType(QCPAxis::stLinear);
    plot->yAxis->setTicker(QSharedPointer<QCPAxisTicker>::create());
  }
  const QColor grid(225, 225, 225);
  plot->xAxis->grid()->setPen(QPen(grid, 0, Qt::SolidLine));
  plot->yAxis->grid()->setPen(QPen(grid, 0, Qt::SolidLine));
  plot->axisRect()->setupFullAxesBox(false);
}

void set_title(QCustomPlot* plot, const QString& title) {
  QCPTextElement* text = nullptr;
  if (plot->plotLayout()->rowCount() > 1)
    text = qobject_cast<QCPTextElement*>(plot->plotLayout()->element(0, 0));
  if (!text) {
    plot->plotLayout()->insertRow(0);
    text = new QCPTextElement(plot, title, QFont(plot->font().family(), 10, QFont::Bold));
    plot->plotLayout()->addElement(0, 0, text);
  }
  text->setText(title);
}

// A filled band between lo and hi: one closed curve (along hi, back along lo). A curve's polygon
// fill is several times cheaper to draw than QCustomPlot's channel fill between two graphs.
void add_band(QCustomPlot* plot, const QVector<double>& x, const std::vector<double>& lo,
              const std::vector<double>& hi, const QColor& colour, int series) {
  QVector<double> t, px, py;
  const int n = x.size();
  t.reserve(2 * n);
  px.reserve(2 * n);
  py.reserve(2 * n);
  for (int i = 0; i < n; ++i) {
    const double v = hi[static_cast<size_t>(i)];
    if (!std::isfinite(v)) continue;
    t.push_back(t.size()), px.push_back(x[i]), py.push_back(v);
  }
  for (int i = n - 1; i >= 0; --i) {
    const double v = lo[static_cast<size_t>(i)];
    if (!std::isfinite(v)) continue;
    t.push_back(t.size()), px.push_back(x[i]), py.push_back(v);
  }
  if (px.size() < 3) return;
  auto* band = new QCPCurve(plot->xAxis, plot->yAxis);
  band->setData(t, px, py, true);
  band->setPen(Qt::NoPen);
  band->setBrush(with_alpha(colour, 40));
  band->removeFromLegend();
  band->setProperty("qatwb_role", "band");
  band->setProperty("qatwb_series", series);
}

// The legend in a row of its own under the axis rect (entries side by side, wrapping), so it
// never covers data; done once per plot.
void place_legend_below(QCustomPlot* plot) {
  if (plot->property("qatwb_legend_below").toBool()) return;
  plot->setProperty("qatwb_legend_below", true);
  auto* inset = plot->axisRect()->insetLayout();
  for (int i = 0; i < inset->elementCount(); ++i)
    if (inset->elementAt(i) == plot->legend) inset->take(plot->legend);
  inset->simplify();
  auto* row = new QCPLayoutGrid;
  const int r = plot->plotLayout()->rowCount();
  plot->plotLayout()->addElement(r, 0, row);
  row->addElement(0, 0, plot->legend);
  plot->legend->setFillOrder(QCPLayoutGrid::foColumnsFirst);
  plot->legend->setWrap(4);
  plot->legend->setMargins(QMargins(2, 0, 2, 0));
  plot->legend->setRowSpacing(0);
  plot->plotLayout()->setRowStretchFactor(r, 0.001);
  row->setMargins(QMargins(0, 0, 0, 2));
}

}  // namespace

bool is_sparse(const report::ChartSeries& series) {
  return !series.x.empty() && series.x.size() <= static_cast<size_t>(kSparsePoints);
}

QColor run_colour(int colour_index) {
  const report::Rgb c = report::palette_colour(colour_index);
  return QColor(c.r, c.g, c.b);
}

QPen run_pen(const QColor& colour, report::LineStyle style, double width) {
  QPen pen(colour, width);
  const std::vector<double> dash = report::dash_pattern(style);
  if (!dash.empty()) pen.setDashPattern(QVector<qreal>(dash.begin(), dash.end()));
  return pen;
}

void draw_chart(QCustomPlot* plot, const report::ChartSpec& spec) {
  draw_chart(plot, spec, DrawOptions{});
}

int draw_chart(QCustomPlot* plot, const report::ChartSpec& spec, const DrawOptions& o) {
  plot->clearPlottables();
  plot->clearItems();
  plot->setNotAntialiasedElements(o.antialias ? QCP::aeNone : QCP::aePlottables | QCP::aeFills);
  style_axes(plot, spec);
  set_title(plot, QString::fromStdString(spec.title));
  const double w = std::clamp(spec.smoothing, 0.0, 0.999);
  int spikes = 0;
  bool sparse = false;
  double x_lo = INFINITY, x_hi = -INFINITY;
  for (size_t i = 0; i < spec.series.size(); ++i) {
    const auto& s = spec.series[i];
    const int si = static_cast<int>(i);
    const QColor colour = run_colour(s.colour_index);
    const QVector<double> x = qvec(s.x);
    if (!s.x.empty()) x_lo = std::min(x_lo, s.x.front()), x_hi = std::max(x_hi, s.x.back());
    if (o.band && !o.grad_norm_view && s.y_min.size() == s.x.size() && s.y_max.size() == s.x.size())
      add_band(plot, x, s.y_min, s.y_max, colour, si);
    std::vector<double> mean, sd;
    if (o.grad_norm_view) {
      report::rolling_mean_std(s.y, o.grad_window, mean, sd);
      std::vector<double> lo(mean.size()), hi(mean.size());
      for (size_t k = 0; k < mean.size(); ++k) lo[k] = mean[k] - sd[k], hi[k] = mean[k] + sd[k];
      if (o.band) add_band(plot, x, lo, hi, colour, si);
    }
    const bool smooth = w > 0;
    auto* raw = plot->addGraph();
    raw->setData(x, qvec(s.y), true);
    // The solid line (smoothed, or raw when not smoothed) carries the surrogate's dash pattern;
    // the faint raw line under a smoothed one stays plain.
    raw->setPen(smooth ? QPen(with_alpha(colour, 70), 1.0) : run_pen(colour, s.line_style, 1.4));
    raw->setName(QString::fromStdString(s.label));
    raw->setAdaptiveSampling(true);
    tag(raw, "raw", si);
    QCPGraph* solid = raw;
    if (smooth) {
      raw->removeFromLegend();
      auto* sm = plot->addGraph();
      sm->setData(x, qvec(report::smooth_ema(s.y, w)), true);
      sm->setPen(run_pen(colour, s.line_style, 1.4));
      sm->setName(QString::fromStdString(s.label));
      sm->setAdaptiveSampling(true);
      tag(sm, "smoothed", si);
      solid = sm;
    }
    if (is_sparse(s)) {
      // A few evaluations: each one a marker (a single one would otherwise draw nothing).
      solid->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, colour, colour, 7));
      sparse = true;
    }
    if (o.grad_norm_view && s.y.size() > 1) {
      QVector<double> sx, sy;
      for (size_t k = 8; k < s.y.size(); ++k)
        if (std::isfinite(s.y[k]) && std::isfinite(mean[k - 1]) &&
            s.y[k] > mean[k - 1] + o.grad_k * sd[k - 1])
          sx.push_back(s.x[k]), sy.push_back(s.y[k]);
      spikes += sx.size();
      auto* sp = plot->addGraph();
      sp->setData(sx, sy, true);
      sp->setLineStyle(QCPGraph::lsNone);
      sp->setScatterStyle(
          QCPScatterStyle(QCPScatterStyle::ssTriangle, QColor(200, 0, 0), QColor(200, 0, 0), 7));
      sp->removeFromLegend();
      tag(sp, "spikes", si);
    }
  }
  for (const auto& [label, value] : spec.reference_lines) {
    auto* line = new QCPItemStraightLine(plot);
    line->point1->setCoords(0, value);
    line->point2->setCoords(1, value);
    line->setPen(QPen(QColor(90, 90, 90), 1.2, Qt::DashLine));
    auto* text = new QCPItemText(plot);
    text->position->setTypeX(QCPItemPosition::ptAxisRectRatio);
    text->position->setTypeY(QCPItemPosition::ptPlotCoords);
    text->position->setCoords(0.01, value);
    text->setPositionAlignment(Qt::AlignLeft | Qt::AlignBottom);
    text->setText(QString::fromStdString(label) + " " + QString::number(value, 'g', 4));
    text->setColor(QColor(70, 70, 70));
  }
  place_legend_below(plot);
  plot->legend->setVisible(!spec.series.empty());
  plot->legend->setBrush(Qt::NoBrush);
  plot->legend->setBorderPen(Qt::NoPen);
  if (o.rescale) {
    if (std::isfinite(x_lo)) {
      if (x_hi <= x_lo) x_lo -= 0.5, x_hi += 0.5;
      if (sparse) {
        // Markers at the ends (step 0, the last evaluation) are drawn whole.
        const double pad = 0.03 * (x_hi - x_lo);
        x_lo -= pad, x_hi += pad;
      }
      plot->xAxis->setRange(x_lo, x_hi);
      rescale_y_robust(plot, spec, x_lo, x_hi);
    } else {
      plot->xAxis->setRange(0, 1);
      plot->yAxis->setRange(spec.log_y ? 1 : 0, spec.log_y ? 10 : 1);
    }
  }
  return spikes;
}

bool rescale_y_robust(QCustomPlot* plot, const report::ChartSpec& spec, double x_lo, double x_hi) {
  std::vector<double> ys;
  for (const auto& s : spec.series)
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i)
      if (s.x[i] >= x_lo && s.x[i] <= x_hi) ys.push_back(s.y[i]);
  // Outliers of the series may be cut off; reference lines (FP, RTN) never are.
  std::vector<double> refs;
  for (const auto& [label, v] : spec.reference_lines)
    if (std::isfinite(v) && (!spec.log_y || v > 0)) refs.push_back(v);
  auto r = report::robust_range(ys, spec.log_y);
  if (!refs.empty()) {
    const auto [rmin, rmax] = std::minmax_element(refs.begin(), refs.end());
    auto with_refs = report::robust_range(
        {r ? r->first : *rmin, r ? r->second : *rmax, *rmin, *rmax}, spec.log_y, 0.0, 1.0);
    if (with_refs && (!r || *rmin < r->first || *rmax > r->second)) r = with_refs;
  }
  if (!r) return false;
  plot->yAxis->setRange(r->first, r->second);
  return true;
}

void save_chart_png(const report::ChartSpec& spec, const std::string& path, int width, int height) {
  if (width < 16 || height < 16 || width > 20000 || height > 20000)
    throw Error(path + ": chart size " + std::to_string(width) + "x" + std::to_string(height) +
                " out of range");
  std::unique_ptr<QApplication> own_app;
  if (!QCoreApplication::instance()) {
    if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
    // Without a session (cron, ssh, CI) Qt falls back to /tmp/runtime-<user> and says so on
    // stderr at every report; use the same private folder without the noise.
    if (qEnvironmentVariableIsEmpty("XDG_RUNTIME_DIR")) {
      const QString dir = QDir::tempPath() + "/runtime-" + QString::number(::getuid());
      if (QDir().mkpath(dir) &&
          QFile::setPermissions(dir, QFile::ReadOwner | QFile::WriteOwner | QFile::ExeOwner))
        qputenv("XDG_RUNTIME_DIR", QFile::encodeName(dir));
    }
    static int argc = 1;
    static char arg0[] = "qatwb";
    static char* argv[] = {arg0, nullptr};
    own_app = std::make_unique<QApplication>(argc, argv);
  } else if (!qobject_cast<QApplication*>(QCoreApplication::instance())) {
    throw Error(path + ": cannot draw a chart inside a non-GUI Qt application");
  }
  bool ok = false;
  {
    QCustomPlot plot;
    plot.resize(width, height);
    draw_chart(&plot, spec);
    ok = plot.savePng(QString::fromStdString(path), width, height, 1.0);
  }
  if (!ok || QFileInfo(QString::fromStdString(path)).size() == 0)
    throw Error(path + ": cannot write the chart PNG");
}

}  // namespace qatwb::plot
