// libqatwb_report_plots.so: report plots drawn with the GUI's chart code (ui/plot), headless
// (offscreen Qt platform). Loaded by app/report_plots.cpp; only the two entry points are exported.
#include <cstdio>
#include <exception>

#include "app/report_plots.h"
#include "ui/plot/chart_render.h"

#define QATWB_EXPORT __attribute__((visibility("default")))

extern "C" QATWB_EXPORT long qatwb_report_plots_abi() { return qatwb::cli::report_plots_abi(); }

extern "C" QATWB_EXPORT int qatwb_report_plots_save_png(const qatwb::report::ChartSpec* spec,
                                                        const char* path, char* error,
                                                        std::size_t error_size) {
  try {
    qatwb::plot::save_chart_png(*spec, path);
    return 0;
  } catch (const std::exception& e) {
    if (error && error_size > 0) std::snprintf(error, error_size, "%s", e.what());
  } catch (...) {
    if (error && error_size > 0) std::snprintf(error, error_size, "unknown error");
  }
  return 1;
}
