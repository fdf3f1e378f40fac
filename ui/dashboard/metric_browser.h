// The metric browser: every key the selected runs logged, searchable, and any one of them drawn.
//  - a plain key: one chart with the runs overlaid, or small multiples (one chart per run);
//  - a per-layer family ("grad_norm/*", "code_flip/*", ...): small multiples (one chart per layer
//    key, runs overlaid) or a heatmap of layer x step per run;
//  - a difference-to-baseline mode (each run minus a chosen run, so that coinciding curves
//    separate) and grouping runs that differ only in their seed into mean +- std;
//  - charts of one view share their x zoom (plot::link_x_zoom).
// Reads the store on the GUI thread when the selection changes (a few queries of bucketed
// series); refresh() re-reads, e.g. while runs are live.
#pragma once
#include <QList>
#include <QString>
#include <QStringList>
#include <QWidget>
#include <memory>

#include "core/report/layer_heatmap.h"

class QCustomPlot;

namespace qatwb::plot {
class MetricChartWidget;
}

namespace qatwb::ui {

class MetricBrowser : public QWidget {
  Q_OBJECT
 public:
  enum class Layout { overlay = 0, small_multiples = 1, heatmap = 2 };

  explicit MetricBrowser(QWidget* parent = nullptr);
  ~MetricBrowser() override;

  void set_database(const QString& db_path);
  void set_runs(const QList<qint64>& run_ids);

  // The list as shown under the current search: families first ("grad_norm/*"), then keys.
  QStringList entries() const;
  void set_search(const QString& text);
  // Picks an entry (a key or "family/*"); false when it is not listed.
  bool select(const QString& entry);
  QString selected() const;
  void set_layout(Layout layout);
  Layout layout() const;
  // Each run minus this run (0: off).
  void set_baseline(qint64 run_id);
  void set_group_by_seed(bool on);
  void refresh();  // reads the keys and the selected metric again

  int chart_count() const;
  qatwb::plot::MetricChartWidget* chart(int index) const;
  int heatmap_count() const;
  QCustomPlot* heatmap(int index) const;
  const report::LayerHeatmap& heatmap_data(int index) const;

 private:
  void reload_keys();
  void rebuild_view();
  void reload_chart(int index);
  struct Impl;
  std::unique_ptr<Impl> d_;
};

}  // namespace qatwb::ui
