// The live dashboard: a grid of metric charts (loss, gradient norm with band and spikes,
// post-quantization perplexity, learning rate, tokens/s) over the selected runs, with smoothing,
// x-axis and log-y controls. While any shown run is running, a timer ingests its run directory
// and re-queries the buckets on a worker thread (its own Store connection) and applies the result
// on the GUI thread.
#pragma once
#include <QList>
#include <QString>
#include <QWidget>
#include <memory>

namespace qatwb::plot {
class MetricChartWidget;
}

namespace qatwb::ui {

class DashboardView : public QWidget {
  Q_OBJECT
 public:
  explicit DashboardView(QWidget* parent = nullptr);
  ~DashboardView() override;

  void set_database(const QString& db_path);
  void set_runs(const QList<qint64>& run_ids);  // overlays these runs; refreshes live

  // For tests and the bench: the refresh interval, a synchronous refresh, the charts.
  // (Charts also have a context menu: reset zoom, log scale, export PNG / PDF / CSV.)
  void set_refresh_interval_ms(int ms);
  void set_max_points(int points);  // buckets per series (default 1000)
  void refresh_now();               // load and apply on the calling (GUI) thread
  int chart_count() const;
  qatwb::plot::MetricChartWidget* chart(int index) const;
  qatwb::plot::MetricChartWidget* chart_for(const QString& metric_key) const;

 private:
  void refresh_async();
  void apply(const struct DashboardResult& result);
  struct Impl;
  std::unique_ptr<Impl> d_;
};

}  // namespace qatwb::ui
