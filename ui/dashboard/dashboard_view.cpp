#include "ui/dashboard/dashboard_view.h"

namespace qatwb::ui {

struct DashboardView::Impl {
  QString db;
  QList<qint64> runs;
};

DashboardView::DashboardView(QWidget* parent) : QWidget(parent), d_(std::make_unique<Impl>()) {}
DashboardView::~DashboardView() = default;
void DashboardView::set_database(const QString& db_path) { d_->db = db_path; }
void DashboardView::set_runs(const QList<qint64>& run_ids) { d_->runs = run_ids; }
void DashboardView::set_refresh_interval_ms(int) {}
void DashboardView::refresh_now() {}
int DashboardView::chart_count() const { return 0; }
plot::MetricChartWidget* DashboardView::chart(int) const { return nullptr; }
plot::MetricChartWidget* DashboardView::chart_for(const QString&) const { return nullptr; }

}  // namespace qatwb::ui
