// Report plots when qatwb is built without Qt (a GPU node): none.
#include "app/report_plots.h"

namespace qatwb::cli {

report::PlotRenderer report_plot_renderer() { return {}; }

}  // namespace qatwb::cli
