// qatwb batch SWEEP.yaml: a headless sweep (grid or list of points over a base project), one job
// per point (local with a concurrency limit, ssh or Slurm), resumable, then the report.
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "app/command.h"
#include "app/environment.h"
#include "app/report_plots.h"
#include "core/jobs/shell_quote.h"
#include "core/report/report_writer.h"
#include "core/run/run_dir.h"
#include "core/store/store.h"
#include "core/sweep/sweep_runner.h"
#include "core/util/error.h"

namespace {

struct BatchArgs {
  std::string sweep_file;
  std::string worker_cmd;
  bool dry_run = false, no_report = false, json = false;
  qatwb::sweep::BatchOptions options;
};

int run_batch(BatchArgs& a) {
  using namespace qatwb;
  sweep::SweepSpec spec = sweep::load_sweep(a.sweep_file);
  if (!a.worker_cmd.empty()) a.options.worker_cmd = jobs::split_command_line(a.worker_cmd);
  const auto& env = app::environment();
  if (a.options.db_path.empty()) a.options.db_path = env.db_path();
  if (a.options.hosts_file.empty()) a.options.hosts_file = env.hosts_file();
  a.options.home = env.home();
  if (a.dry_run) {
    sweep::PreparedSweep prep = sweep::prepare_sweep(spec, a.options, false);
    if (a.json) {
      nlohmann::json out = {{"sweep", spec.name}, {"output", prep.output}, {"points", {}}};
      for (const auto& p : prep.points)
        out["points"].push_back({{"name", p.point.name},
                                 {"overrides", p.point.overrides},
                                 {"worker_args", p.point.worker_args},
                                 {"project", p.project},
                                 {"run_dir", p.run_dir}});
      std::cout << out.dump(2) << std::endl;
    } else {
      std::cout << "sweep " << spec.name << ": " << prep.points.size() << " point(s), output "
                << prep.output << "\n";
      for (const auto& p : prep.points) {
        std::cout << "  " << p.point.name << ":";
        for (const auto& o : p.point.overrides) std::cout << " " << o;
        if (!p.point.worker_args.empty())
          std::cout << "  [worker args: " << jobs::shell_join(p.point.worker_args) << "]";
        std::cout << "\n";
      }
    }
    return 0;
  }
  a.options.progress = &std::cerr;
  sweep::BatchResult r = sweep::run_sweep(spec, a.options);
  std::cerr << "batch " << spec.name << ": " << r.succeeded << " succeeded, " << r.failed
            << " failed, " << r.skipped << " already done; output " << r.output << std::endl;

  nlohmann::json out = {{"sweep", spec.name},       {"output", r.output}, {"total", r.total},
                        {"succeeded", r.succeeded}, {"failed", r.failed}, {"skipped", r.skipped},
                        {"started", r.started}};
  if (!a.no_report && r.total > 0) {
    report::ReportRequest req;
    req.db_path = r.state.db;
    req.output_dir = sweep::SweepDir(r.output).report_dir();
    req.title = spec.report.title.empty() ? "Sweep " + spec.name : spec.report.title;
    req.group_by = spec.report.group_by;
    req.metrics = spec.report.metrics;
    for (const auto& p : r.state.points)  // points that never started have no run to show
      if (qatwb::run::RunDir(p.run_dir).has_events()) req.run_dirs.push_back(p.run_dir);
    if (req.run_dirs.empty()) {
      std::cerr << "report: skipped (no point has started a run)" << std::endl;
      if (a.json) std::cout << out.dump(2) << std::endl;
      return r.ok() ? 0 : 1;
    }
    const cli::ReportPlots plots = cli::report_plots();
    req.plots_unavailable = plots.unavailable;
    report::ReportFiles files = report::write_report(req, plots.render);
    std::cerr << "report: " << files.markdown << "\n        " << files.html << "\n        "
              << files.csv << std::endl;
    for (const auto& n : files.notes) std::cerr << "report: " << n << std::endl;
    out["report"] = {{"markdown", files.markdown},
                     {"html", files.html},
                     {"csv", files.csv},
                     {"plots", files.plots}};
  }
  if (a.json) std::cout << out.dump(2) << std::endl;
  return r.ok() ? 0 : 1;
}

qatwb::cli::CommandRegistration reg(
    "batch", "Run a sweep (grid or list of points over a base project), then its report",
    [](CLI::App& sub) {
      auto a = std::make_shared<BatchArgs>();
      sub.add_option("sweep", a->sweep_file, "Sweep YAML file (see projects/sweeps/)")->required();
      sub.add_option("--db", a->options.db_path,
                     "Run database (default: $QATWB_DB or runs/qatwb.sqlite)");
      sub.add_option("--out", a->options.output,
                     "Output folder (default: the sweep's output, else <db folder>/sweeps/<name>)");
      sub.add_option("--launcher", a->options.launcher,
                     "local | ssh:HOST | slurm (default: the sweep's launcher, else local)");
      sub.add_option("--concurrency", a->options.concurrency,
                     "Points in flight at once (0: no limit; default: the sweep's, local 1)")
          ->check(CLI::NonNegativeNumber);
      sub.add_option("--hosts", a->options.hosts_file, "SSH hosts YAML (for ssh:HOST)");
      sub.add_flag("--retry-failed", a->options.retry_failed,
                   "Also rerun failed, cancelled and lost points (resumed from their checkpoint)");
      sub.add_flag("--dry-run", a->dry_run, "Validate and list the points; start nothing");
      sub.add_flag("--no-report", a->no_report, "Do not write the report at the end");
      sub.add_flag("--json", a->json, "Machine-readable summary on stdout");
      sub.add_option("--worker-cmd", a->worker_cmd,
                     "Worker command prefix replacing `qatwb run` (advanced, for tests)")
          ->group("");
      sub.add_option("--poll", a->options.poll_s, "Seconds between polls")->group("");
      sub.footer(
          "Finished points are skipped when the same sweep runs again; running points are "
          "re-attached (interrupting qatwb batch leaves running points running). Exit code 0 "
          "only when every point succeeded.");
      return [a]() { return run_batch(*a); };
    });

}  // namespace
