// Linked x zoom: zooming or panning one chart's x axis shows the same x range in the others, and
// resetting one resets all (charts over the same x axis: the dashboard's grid, small multiples).
#pragma once
#include <vector>

namespace qatwb::plot {

class MetricChartWidget;

// Links every chart to every other; the connections go when a chart is destroyed.
void link_x_zoom(const std::vector<MetricChartWidget*>& charts);

}  // namespace qatwb::plot
