// qatwb report: the summary table, plots and CSV of a set of runs (or of a sweep) as Markdown,
// self-contained HTML and CSV.
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "app/command.h"
#include "app/environment.h"
#include "app/report_plots.h"
#include "core/report/report_writer.h"
#include "core/run/run_dir.h"
#include "core/store/store.h"
#include "core/sweep/sweep_runner.h"
#include "core/util/error.h"

namespace {
namespace fs = std::filesystem;

struct ReportArgs {
  std::vector<std::string> runs;
  std::string sweep, out, db, title;
  std::vector<std::string> group_by, metrics;
  bool json = false;
};

int run_report(ReportArgs& a) {
  using namespace qatwb;
  report::ReportRequest req;
  req.db_path = a.db.empty() ? app::environment().db_path() : a.db;
  std::string default_out = "report";
  auto add_sweep_state = [&](const std::string& state_path) {
    sweep::SweepState st = sweep::load_sweep_state(state_path);
    if (st.points.empty()) throw Error(state_path + ": the sweep has no points yet");
    for (const auto& p : st.points)
      if (qatwb::run::RunDir(p.run_dir).has_events()) req.run_dirs.push_back(p.run_dir);
    if (a.db.empty() && !st.db.empty()) req.db_path = st.db;
    if (a.title.empty()) req.title = "Sweep " + st.sweep;
    default_out = sweep::SweepDir(fs::path(state_path).parent_path().string()).report_dir();
  };
  if (!a.sweep.empty()) {
    sweep::SweepSpec spec = sweep::load_sweep(a.sweep);
    sweep::BatchOptions opts;
    opts.db_path = req.db_path;
    sweep::PreparedSweep prep = sweep::prepare_sweep(spec, opts, false);
    if (!fs::exists(prep.state_path))
      throw Error(a.sweep + ": not run yet (no " + prep.state_path + "); run `qatwb batch` first");
    add_sweep_state(prep.state_path);
    if (a.group_by.empty()) req.group_by = spec.report.group_by;
    if (a.metrics.empty()) req.metrics = spec.report.metrics;
    if (a.title.empty() && !spec.report.title.empty()) req.title = spec.report.title;
  }
  for (const auto& r : a.runs) {
    if (const sweep::SweepDir dir(r); fs::is_regular_file(dir.state_path()))
      add_sweep_state(dir.state_path());
    else if (fs::is_directory(r))
      req.run_dirs.push_back(r);
    else
      req.runs.push_back(r);
  }
  if (req.run_dirs.empty() && req.runs.empty())
    throw Error(
        "report: no runs (give run directories, run names, a sweep output folder or "
        "--sweep SWEEP.yaml)",
        2);
  if (!a.group_by.empty()) req.group_by = a.group_by;
  if (!a.metrics.empty()) req.metrics = a.metrics;
  if (!a.title.empty()) req.title = a.title;
  req.output_dir = a.out.empty() ? default_out : a.out;
  const cli::ReportPlots plots = cli::report_plots();
  req.plots_unavailable = plots.unavailable;
  report::ReportFiles files = report::write_report(req, plots.render);
  for (const auto& n : files.notes) std::cerr << "report: " << n << std::endl;
  if (a.json) {
    std::cout << nlohmann::json{{"markdown", files.markdown},
                                {"html", files.html},
                                {"csv", files.csv},
                                {"final_metrics_csv", files.final_metrics_csv},
                                {"json", files.json},
                                {"plots", files.plots}}
                     .dump(2)
              << std::endl;
  } else {
    std::cout << files.markdown << "\n"
              << files.html << "\n"
              << files.csv << "\n"
              << files.final_metrics_csv << "\n";
  }
  return 0;
}

qatwb::cli::CommandRegistration reg(
    "report", "Write a report (Markdown, self-contained HTML, CSV, PNG plots) of runs or a sweep",
    [](CLI::App& sub) {
      auto a = std::make_shared<ReportArgs>();
      sub.add_option("runs", a->runs,
                     "Run directories, run names/ids in the store, or sweep output folders");
      sub.add_option("--sweep", a->sweep, "A sweep YAML that `qatwb batch` has run");
      sub.add_option("--out", a->out,
                     "Output folder (default: <sweep output>/report, else ./report)");
      sub.add_option("--db", a->db, "Run database (default: $QATWB_DB or runs/qatwb.sqlite)");
      sub.add_option("--title", a->title, "Report title");
      sub.add_option("--group-by", a->group_by,
                     "Project field to group plots by, e.g. quant.bits (repeatable)");
      sub.add_option("--metric", a->metrics,
                     "Metric to plot (repeatable; default loss, grad_norm, eval/ppl_postquant)");
      sub.add_flag("--json", a->json, "Print the written files as JSON");
      return [a]() { return run_report(*a); };
    });

}  // namespace
