// Report plots drawn with the GUI's chart code (ui/plot), headless (offscreen Qt platform).
#include "app/report_plots.h"
#include "ui/plot/chart_render.h"

namespace qatwb::cli {

report::PlotRenderer report_plot_renderer() {
  return [](const report::ChartSpec& spec, const std::string& png) {
    plot::save_chart_png(spec, png);
  };
}

}  // namespace qatwb::cli
