// The report's plot renderer, loaded only when a report draws plots: the GUI's chart code
// (ui/plot: QCustomPlot, offscreen Qt) lives in a module of its own, libqatwb_report_plots.so,
// built beside the qatwb binary when QATWB_BUILD_GUI is ON. `qatwb` itself links no Qt, so every
// other command (run, eval, export, jobs, ...) starts on a machine without Qt Widgets; `qatwb
// report` and `qatwb batch` open the module when they write a report, and say in the report why
// the plots were skipped when it is missing or cannot be loaded.
#pragma once
#include <cstddef>
#include <string>

#include "core/report/chart_spec.h"
#include "core/report/report_writer.h"

namespace qatwb::cli {

// The module's file name, looked up in the directory of the running qatwb executable.
inline constexpr const char* kReportPlotsModule = "libqatwb_report_plots.so";

// Bumped whenever the entry points or report::ChartSpec change, so that a module from another
// build is refused instead of misreading the spec.
inline constexpr int kReportPlotsAbi = 1;
// What the module's qatwb_report_plots_abi() returns and the loader expects: the version above
// with the size of report::ChartSpec as this build compiles it.
inline constexpr long report_plots_abi() {
  return kReportPlotsAbi * 100000L + static_cast<long>(sizeof(report::ChartSpec));
}

struct ReportPlots {
  report::PlotRenderer render;  // empty when no module could be loaded
  std::string unavailable;      // why not (for the report's "Plots skipped" note)
};

// Loads the module once per process (later calls return the same renderer).
ReportPlots report_plots();

}  // namespace qatwb::cli

// The module's entry points (C linkage so that dlsym finds them by name).
extern "C" {
// qatwb::cli::report_plots_abi() as the module was compiled.
long qatwb_report_plots_abi();
// Draws `spec` to the PNG `path`; 0 on success, else 1 with a message in error[0..error_size).
int qatwb_report_plots_save_png(const qatwb::report::ChartSpec* spec, const char* path, char* error,
                                std::size_t error_size);
}
