#include "ui/plot/chart_link.h"

#include "ui/plot/metric_chart_widget.h"

namespace qatwb::plot {

void link_x_zoom(const std::vector<MetricChartWidget*>& charts) {
  for (MetricChartWidget* from : charts)
    for (MetricChartWidget* to : charts) {
      if (from == to) continue;
      QObject::connect(from, &MetricChartWidget::x_range_changed, to,
                       &MetricChartWidget::set_x_range);
      QObject::connect(from, &MetricChartWidget::zoom_reset, to, &MetricChartWidget::reset_zoom);
    }
}

}  // namespace qatwb::plot
