// Comparing finished (or running) runs: a checkable run list, one chart panel per metric with all
// runs overlaid or "small multiples" (one panel per run), and the summary table
// (report::summary_rows) with CSV / Markdown export. It follows the store while it is shown: runs
// that progress or finish are re-read, new runs join the list.
#pragma once
#include <QList>
#include <QString>
#include <QWidget>
#include <memory>

class QAbstractItemModel;

namespace qatwb::plot {
class MetricChartWidget;
}

namespace qatwb::ui {

class CompareView : public QWidget {
  Q_OBJECT
 public:
  explicit CompareView(QWidget* parent = nullptr);
  ~CompareView() override;

  void set_database(const QString& db_path);
  void set_runs(const QList<qint64>& run_ids);

  // For tests: the table's source model and the export texts.
  QAbstractItemModel* summary_model() const;
  QString summary_csv() const;
  QString summary_markdown() const;
  void set_small_multiples(bool on);
  int panel_count() const;
  qatwb::plot::MetricChartWidget* panel(int index) const;

  // The view follows the store: every interval it compares a cheap version of the data (the
  // runs' ids, statuses and bytes ingested) with the last one shown; when it moved, the run list
  // gains the new runs (checks kept) and the table and charts are read again (zoom kept).
  void set_refresh_interval_ms(int ms);
  // One such check now; true when something changed and was reloaded.
  bool poll_now();

 private:
  void reload();  // run list and data
  void sync_checks();
  void reload_data();  // summary table and charts
  void rebuild_charts();
  std::string data_version() const;
  struct Impl;
  std::unique_ptr<Impl> d_;
};

}  // namespace qatwb::ui
