#include "ui/plot/metric_chart_widget.h"

#include <QContextMenuEvent>
#include <QElapsedTimer>
#include <QFile>
#include <QFileDialog>
#include <QMenu>
#include <QMessageBox>
#include <QTimer>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>

#include "core/util/error.h"
#include "ui/plot/chart_render.h"
#include "ui/plot/qcustomplot_include.h"

namespace qatwb::plot {

namespace {
// Above this many points per chart, lines and bands are drawn without antialiasing so that a
// replot of 20 overlaid runs stays within a frame or two.
constexpr size_t kAntialiasPoints = 3000;
// Min/max bands are drawn for up to this many overlaid runs: beyond, they are only translucent
// clutter and each costs a large alpha-blended fill per replot.
constexpr size_t kMaxBandSeries = 4;
}  // namespace

MetricChartWidget::MetricChartWidget(QWidget* parent) : QWidget(parent) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  plot_ = new QCustomPlot(this);
  plot_->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
  plot_->axisRect()->setRangeZoom(Qt::Horizontal | Qt::Vertical);
  plot_->setNoAntialiasingOnDrag(true);
  plot_->setMinimumSize(200, 150);
  layout->addWidget(plot_);
  zoom_timer_ = new QTimer(this);
  zoom_timer_->setSingleShot(true);
  zoom_timer_->setInterval(150);
  connect(zoom_timer_, &QTimer::timeout, this, &MetricChartWidget::emit_step_range);
  connect(plot_->xAxis, qOverload<const QCPRange&>(&QCPAxis::rangeChanged), this,
          [this](const QCPRange&) { on_x_range_changed(); });
  // The menu opens on the right button's release, as a popup: opened from the press (Qt's
  // context-menu event under X11) while QCustomPlot holds the mouse for a drag, it never showed
  // under Xvfb without a window manager.
  connect(plot_, &QCustomPlot::mousePress, this, [this](QMouseEvent* e) {
    if (e->button() == Qt::RightButton) right_press_ = e->position().toPoint();
  });
  connect(plot_, &QCustomPlot::mouseRelease, this, [this](QMouseEvent* e) {
    if (e->button() != Qt::RightButton) return;
    if ((e->position().toPoint() - right_press_).manhattanLength() > 6)
      return;  // a drag, not a click
    open_context_menu(plot_->mapToGlobal(e->position().toPoint()));
  });
  connect(plot_, &QCustomPlot::mouseDoubleClick, this, [this](QMouseEvent*) {
    reset_zoom();
    Q_EMIT zoom_reset();
  });
}

MetricChartWidget::~MetricChartWidget() = default;

void MetricChartWidget::set_spec(const report::ChartSpec& spec) {
  spec_ = spec;
  rebuild();
}

void MetricChartWidget::set_smoothing(double weight) {
  smoothing_ = std::clamp(weight, 0.0, 0.999);
  rebuild();
}

void MetricChartWidget::set_log_y(bool on) {
  log_y_ = on;
  log_y_set_ = true;
  rebuild();
}

void MetricChartWidget::set_show_band(bool on) {
  band_ = on;
  rebuild();
}

void MetricChartWidget::set_grad_norm_view(bool on, int window, double k) {
  grad_view_ = on;
  grad_window_ = std::max(2, window);
  grad_k_ = k;
  rebuild();
}

void MetricChartWidget::rebuild() {
  rebuilding_ = true;
  report::ChartSpec s = spec_;
  // Evaluations, the learning rate and the speed are shown raw (report::smoothing_applies).
  s.smoothing = report::smoothing_applies(s.metric_key) ? smoothing_ : 0.0;
  if (log_y_set_) s.log_y = log_y_;
  const QCPRange x_range = plot_->xAxis->range();
  DrawOptions o;
  o.band = band_ && s.series.size() <= kMaxBandSeries;
  o.grad_norm_view = grad_view_;
  o.grad_window = grad_window_;
  o.grad_k = grad_k_;
  size_t points = 0;
  for (const auto& series : s.series) points += series.x.size();
  o.antialias = points <= kAntialiasPoints;
  spikes_ = draw_chart(plot_, s, o);
  if (zoomed_) {
    // Keep the user's x range; y follows the visible data.
    plot_->xAxis->setRange(x_range);
    rescale_y_robust(plot_, s, x_range.lower, x_range.upper);
  }
  plot_->replot(QCustomPlot::rpQueuedReplot);
  rebuilding_ = false;
}

void MetricChartWidget::autoscale() {
  zoomed_ = false;
  zoom_min_.reset();
  zoom_max_.reset();
  rebuild();
}

void MetricChartWidget::reset_zoom() {
  autoscale();
  emit_step_range();
}

void MetricChartWidget::set_x_range(double lower, double upper) {
  if (!(upper > lower)) return;
  linking_ = true;
  plot_->xAxis->setRange(lower, upper);
  linking_ = false;
  report::ChartSpec s = spec_;
  if (log_y_set_) s.log_y = log_y_;
  rescale_y_robust(plot_, s, lower, upper);
  plot_->replot(QCustomPlot::rpQueuedReplot);
}

void MetricChartWidget::on_x_range_changed() {
  if (rebuilding_) return;
  zoomed_ = true;
  zoom_timer_->start();
  if (!linking_) {
    const QCPRange r = plot_->xAxis->range();
    Q_EMIT x_range_changed(r.lower, r.upper);
  }
}

void MetricChartWidget::emit_step_range() {
  // Map the visible x range to steps through each series' (x, step) pairs (x grows with step).
  const QCPRange r = plot_->xAxis->range();
  std::optional<int64_t> lo, hi;
  if (zoomed_) {
    for (const auto& s : spec_.series) {
      if (s.step.size() != s.x.size() || s.x.empty()) continue;
      auto first = std::lower_bound(s.x.begin(), s.x.end(), r.lower);
      auto last = std::upper_bound(s.x.begin(), s.x.end(), r.upper);
      // One bucket of margin on each side, so the edges stay drawn.
      size_t a = static_cast<size_t>(std::max<std::ptrdiff_t>(0, first - s.x.begin() - 1));
      size_t b = static_cast<size_t>(std::min<std::ptrdiff_t>(
          static_cast<std::ptrdiff_t>(s.x.size()) - 1, last - s.x.begin()));
      const auto sa = static_cast<int64_t>(s.step[a]), sb = static_cast<int64_t>(s.step[b]);
      lo = lo ? std::min(*lo, sa) : sa;
      hi = hi ? std::max(*hi, sb) : sb;
    }
    if (!spec_.series.empty()) {
      const auto& s0 = spec_.series.front();
      // Zoomed out past the data: whole series again.
      if (!s0.x.empty() && r.lower <= s0.x.front() && r.upper >= s0.x.back())
        lo.reset(), hi.reset();
    }
  }
  if (lo == zoom_min_ && hi == zoom_max_) {
    // Same buckets; only the y range follows the visible data.
    report::ChartSpec s = spec_;
    if (log_y_set_) s.log_y = log_y_;
    if (zoomed_) rescale_y_robust(plot_, s, r.lower, r.upper);
    plot_->replot(QCustomPlot::rpQueuedReplot);
    return;
  }
  zoom_min_ = lo;
  zoom_max_ = hi;
  Q_EMIT step_range_changed();
}

int MetricChartWidget::point_count(int series) const {
  int n = 0;
  for (int i = 0; i < plot_->graphCount(); ++i) {
    QCPGraph* g = plot_->graph(i);
    if (g->property("qatwb_role").toString() != "raw") continue;
    if (series >= 0 && g->property("qatwb_series").toInt() != series) continue;
    n += g->data()->size();
  }
  return n;
}

int MetricChartWidget::spike_count() const { return spikes_; }

double MetricChartWidget::replot_now() {
  QElapsedTimer t;
  t.start();
  plot_->replot(QCustomPlot::rpImmediateRefresh);
  return static_cast<double>(t.nsecsElapsed()) / 1e6;
}

void MetricChartWidget::export_png(const QString& path, int width, int height) const {
  if (!plot_->savePng(path, width, height))
    throw Error(path.toStdString() + ": cannot write the chart PNG");
}

void MetricChartWidget::export_pdf(const QString& path) const {
  if (!plot_->savePdf(path)) throw Error(path.toStdString() + ": cannot write the chart PDF");
}

QString MetricChartWidget::csv() const {
  QString out = "run,step,wall_time,value\n";
  auto num = [](double v) { return std::isfinite(v) ? QString::number(v, 'g', 12) : QString(); };
  for (const auto& s : spec_.series) {
    QString name = QString::fromStdString(s.label);
    if (name.contains(',') || name.contains('"'))
      name = '"' + QString(name).replace("\"", "\"\"") + '"';
    for (size_t i = 0; i < s.y.size(); ++i) {
      const double step = i < s.step.size() ? s.step[i] : s.x[i];
      const double time = i < s.time.size() ? s.time[i] : NAN;
      out += name + ',' + QString::number(static_cast<qint64>(step)) + ',' + num(time) + ',' +
             num(s.y[i]) + '\n';
    }
  }
  return out;
}

void MetricChartWidget::export_csv(const QString& path) const {
  QFile f(path);
  const QByteArray data = csv().toUtf8();
  if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate) || f.write(data) != data.size())
    throw Error(path.toStdString() + ": cannot write CSV: " + f.errorString().toStdString());
}

void MetricChartWidget::contextMenuEvent(QContextMenuEvent* event) {
  // The mouse opens the menu on release (above); the keyboard's menu key comes here.
  if (event->reason() == QContextMenuEvent::Mouse) {
    event->accept();
    return;
  }
  open_context_menu(event->globalPos());
}

void MetricChartWidget::open_context_menu(const QPoint& global_pos) {
  delete menu_;
  menu_ = new QMenu(this);
  menu_->setObjectName("chart_menu");
  menu_->setAttribute(Qt::WA_DeleteOnClose);
  connect(menu_, &QObject::destroyed, this, [this] { menu_ = nullptr; });
  const QString base = QString::fromStdString(spec_.metric_key).replace('/', '_');
  auto save = [this, base](const QString& filter, const QString& suffix, auto write) {
    const QString path =
        QFileDialog::getSaveFileName(this, tr("Export chart"), base + suffix, filter);
    if (path.isEmpty()) return;
    try {
      write(path);
    } catch (const std::exception& e) {
      QMessageBox::warning(this, tr("Export failed"), QString::fromUtf8(e.what()));
    }
  };
  menu_->addAction(tr("Reset zoom"), this, [this] {
    reset_zoom();
    Q_EMIT zoom_reset();
  });
  QAction* log = menu_->addAction(tr("Log scale"));
  log->setCheckable(true);
  log->setChecked(plot_->yAxis->scaleType() == QCPAxis::stLogarithmic);
  connect(log, &QAction::toggled, this, [this](bool on) { set_log_y(on); });
  menu_->addSeparator();
  menu_->addAction(tr("Export PNG..."), this, [this, save] {
    save("PNG (*.png)", ".png", [this](const QString& p) { export_png(p); });
  });
  menu_->addAction(tr("Export PDF..."), this, [this, save] {
    save("PDF (*.pdf)", ".pdf", [this](const QString& p) { export_pdf(p); });
  });
  menu_->addAction(tr("Export CSV..."), this, [this, save] {
    save("CSV (*.csv)", ".csv", [this](const QString& p) { export_csv(p); });
  });
  menu_->popup(global_pos);
}

}  // namespace qatwb::plot
