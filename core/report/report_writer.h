// The report of a set of runs (`qatwb report`, and `qatwb batch` at the end of a sweep):
//   <out>/report.md        title, the summary table (summary_table.h), plots per group
//   <out>/report.html      the same, self-contained: inline CSS, PNGs as base64 data URIs
//   <out>/summary.csv      the summary table
//   <out>/final_metrics.csv  every run's last value of every metric and eval metric (long form:
//                            run_id,run,project,key,step,value)
//   <out>/summary.json     the summary table as JSON (NaN -> null)
//   <out>/plots/<metric>__<group>.png   loss, gradient norm, post-quant PPL, ... per group
// Plots are drawn by a renderer passed in (the Qt module that app/report_plots.h loads), so this
// stays Qt-free; without one the report says the plots were skipped, and why.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/report/chart_spec.h"
#include "core/report/summary_table.h"
#include "core/store/store.h"

namespace qatwb::report {

using PlotRenderer = std::function<void(const ChartSpec& spec, const std::string& png_path)>;

struct ReportRequest {
  std::string db_path;     // the run database
  std::string output_dir;  // created if missing
  std::string title = "qatwb report";
  std::vector<std::string> run_dirs;  // runs by directory (ingested first), and/or
  std::vector<std::string> runs;      // runs as the store finds them (id, name, project/name)
  std::vector<std::string> group_by;  // project fields ("quant.bits"); "" : one group
  std::vector<std::string> metrics = {"loss", "grad_norm", "eval/ppl_postquant"};
  bool ingest = true;  // ingest run_dirs' new events before reading
  // Why there is no renderer, for the report's "Plots skipped: ..." note.
  std::string plots_unavailable = "no plot renderer was given";
};

struct ReportFiles {
  std::string markdown, html, csv, final_metrics_csv, json;
  std::vector<std::string> plots;
  std::vector<std::string> notes;  // e.g. "plots skipped: ..."
};

struct RunGroup {
  std::string label;  // "bits=2, surrogate=ste" or "all runs"
  std::vector<int64_t> runs;
};

// Runs grouped by the values of `fields` in their flattened config (params), in first-seen
// order; a run without the field goes to "<field>=?".
std::vector<RunGroup> group_runs(const store::Store& store, const std::vector<int64_t>& runs,
                                 const std::vector<std::string>& fields);

// Writes every file listed above. Throws qatwb::Error naming the database, a run or a file.
ReportFiles write_report(const ReportRequest& request, const PlotRenderer& renderer);

// Helpers (tested on their own).
std::string base64_encode(std::string_view bytes);
std::string html_escape(std::string_view text);
// "eval/ppl_postquant" -> "eval-ppl_postquant" (safe in file names).
std::string file_safe(std::string_view text);
// A param value as written in a label: "2.0" -> "2", "ste" -> "ste".
std::string param_label(const std::string& value);

}  // namespace qatwb::report
