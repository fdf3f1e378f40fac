#include "ui/plot/chart_render.h"

#include "ui/plot/qcustomplot_include.h"

#include "core/util/error.h"

namespace qatwb::plot {

QColor run_colour(int colour_index) {
  static const QColor palette[] = {QColor(0, 114, 178), QColor(230, 159, 0), QColor(0, 158, 115),
                                   QColor(204, 121, 167), QColor(86, 180, 233),
                                   QColor(213, 94, 0), QColor(240, 228, 66), QColor(0, 0, 0)};
  const int n = static_cast<int>(sizeof palette / sizeof palette[0]);
  return palette[((colour_index % n) + n) % n];
}

void draw_chart(QCustomPlot* plot, const report::ChartSpec& spec) {
  plot->clearGraphs();
  for (const auto& s : spec.series) {
    auto* g = plot->addGraph();
    g->setName(QString::fromStdString(s.label));
    g->setPen(QPen(run_colour(s.colour_index), 1.5));
    g->setData(QVector<double>(s.x.begin(), s.x.end()), QVector<double>(s.y.begin(), s.y.end()));
  }
  plot->rescaleAxes();
}

void save_chart_png(const report::ChartSpec&, const std::string& path, int, int) {
  throw Error(path + ": save_chart_png not implemented yet");
}

}  // namespace qatwb::plot
