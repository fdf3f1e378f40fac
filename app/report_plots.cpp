// Opens libqatwb_report_plots.so (report_plots.h) beside the running qatwb, once per process.
#include "app/report_plots.h"

#include <dlfcn.h>

#include <filesystem>
#include <mutex>

#include "core/jobs/subprocess.h"
#include "core/util/error.h"

namespace qatwb::cli {
namespace {

using AbiFn = long (*)();
using SaveFn = int (*)(const report::ChartSpec*, const char*, char*, std::size_t);

ReportPlots load() {
  namespace fs = std::filesystem;
  const fs::path module = fs::path(jobs::current_executable()).parent_path() / kReportPlotsModule;
  if (!fs::exists(module))
    return {{},
            "this qatwb was built without the GUI (QATWB_BUILD_GUI=OFF), so it has no plot "
            "module (" +
                module.string() + "); run `qatwb report` where qatwb-gui is built to draw them"};
  void* handle = dlopen(module.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* why = dlerror();
    return {{}, "cannot load the plot module " + module.string() + ": " + (why ? why : "?")};
  }
  auto abi = reinterpret_cast<AbiFn>(dlsym(handle, "qatwb_report_plots_abi"));
  auto save = reinterpret_cast<SaveFn>(dlsym(handle, "qatwb_report_plots_save_png"));
  if (!abi || !save || abi() != report_plots_abi())
    return {{},
            "the plot module " + module.string() +
                " is from another build of qatwb (rebuild it with this one)"};
  // The handle stays open for the life of the process (Qt does not unload cleanly).
  report::PlotRenderer render = [save](const report::ChartSpec& spec, const std::string& png) {
    char error[1024] = "";
    if (save(&spec, png.c_str(), error, sizeof error) != 0) throw Error(error);
  };
  return {render, ""};
}

}  // namespace

ReportPlots report_plots() {
  static std::once_flag once;
  static ReportPlots plots;
  std::call_once(once, [] { plots = load(); });
  return plots;
}

}  // namespace qatwb::cli
