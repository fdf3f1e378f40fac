// The report's plot renderer, kept behind a Qt-free declaration: qatwb_report_plots is built
// from report_plots_qt.cpp (QCustomPlot, offscreen, the GUI's look) when QATWB_BUILD_GUI is ON,
// else from report_plots_none.cpp (no renderer: reports say the plots were skipped).
#pragma once
#include "core/report/report_writer.h"

namespace qatwb::cli {

// An empty function when this qatwb was built without the GUI.
report::PlotRenderer report_plot_renderer();

}  // namespace qatwb::cli
