// An interactive chart of one metric over several runs (QCustomPlot): stable run colours, raw
// line faint + smoothed line solid, min/max band of each bucket, x axis step / tokens / wall /
// relative time, log-y, wheel zoom and drag pan, outlier-robust autoscale (double-click resets),
// a gradient-norm view (rolling mean +- std band, spike markers) and PNG / PDF / CSV export.
// It draws what it is given (a report::ChartSpec of buckets, never raw 1M-point series); when the
// visible x range changes it asks for finer buckets with step_range_changed().
#pragma once
#include <QPoint>
#include <QWidget>
#include <cstdint>

#include "core/report/chart_spec.h"

class QCustomPlot;
class QMenu;
class QTimer;

namespace qatwb::plot {

class MetricChartWidget : public QWidget {
  Q_OBJECT
 public:
  explicit MetricChartWidget(QWidget* parent = nullptr);
  ~MetricChartWidget() override;

  // New data (e.g. fresh buckets); the view options below and a zoomed x range are kept.
  void set_spec(const report::ChartSpec& spec);
  const report::ChartSpec& spec() const { return spec_; }

  void set_smoothing(double weight);  // [0, 1); 0: raw only
  double smoothing() const { return smoothing_; }
  void set_log_y(bool on);
  bool log_y() const { return log_y_; }
  void set_show_band(bool on);  // min/max band (drawn for up to 4 overlaid runs)
  // Gradient-norm view: rolling mean +- std band over `window` points, markers on points above
  // mean + k * std of the points before them.
  void set_grad_norm_view(bool on, int window = 50, double k = 3.0);
  bool grad_norm_view() const { return grad_view_; }

  // Resets zoom: full x range, robust y range of the data.
  void autoscale();
  // autoscale() and ask for the whole run's buckets (double-click, "Reset zoom").
  void reset_zoom();
  // Shows x in [lower, upper] as if the user had zoomed there (linked charts); emits
  // step_range_changed() but not x_range_changed().
  void set_x_range(double lower, double upper);
  // The zoomed step range (nullopt: whole run) the owner should query buckets for.
  std::optional<int64_t> zoom_step_min() const { return zoom_min_; }
  std::optional<int64_t> zoom_step_max() const { return zoom_max_; }

  QCustomPlot* plot() const { return plot_; }
  // Points in the raw graph of series `i` (-1: every series), for tests and the bench.
  int point_count(int series = -1) const;
  int spike_count() const;  // spike markers drawn in the gradient-norm view
  // Redraws now and returns how long the replot took in milliseconds.
  double replot_now();

  // Exports; each throws qatwb::Error naming the file on failure.
  void export_png(const QString& path, int width = 0, int height = 0) const;
  void export_pdf(const QString& path) const;
  void export_csv(const QString& path) const;
  // The CSV text: run,step,wall_time,value (one line per point of each series).
  QString csv() const;

  // The context menu (reset zoom, log scale, exports) while it is open; nullptr otherwise. It
  // opens on a right click (press and release without a drag) or the keyboard's menu key.
  QMenu* context_menu() const { return menu_; }

 Q_SIGNALS:
  // The user zoomed or panned: buckets for this step range are wanted (nullopt: everything).
  void step_range_changed();
  // The user zoomed or panned this chart's x axis (not set_x_range): for linked charts.
  void x_range_changed(double lower, double upper);
  // The user reset this chart's zoom.
  void zoom_reset();

 protected:
  void contextMenuEvent(class QContextMenuEvent* event) override;

 private:
  void rebuild();
  void apply_y_range();
  void on_x_range_changed();
  void emit_step_range();
  void open_context_menu(const QPoint& global_pos);

  QCustomPlot* plot_ = nullptr;
  QTimer* zoom_timer_ = nullptr;
  report::ChartSpec spec_;
  double smoothing_ = 0.6;
  bool log_y_ = false, log_y_set_ = false;
  bool band_ = true;
  bool grad_view_ = false;
  int grad_window_ = 50;
  double grad_k_ = 3.0;
  bool zoomed_ = false;
  bool rebuilding_ = false;
  bool linking_ = false;  // inside set_x_range
  QPoint right_press_;
  QMenu* menu_ = nullptr;
  int spikes_ = 0;
  std::optional<int64_t> zoom_min_, zoom_max_;
};

}  // namespace qatwb::plot
