// The HTML and Markdown pages of a report (report_writer.h): one summary table, then per group of
// runs the plots. The HTML page is self-contained (inline CSS, PNGs as base64 data URIs, no
// external src or href), so it can be mailed or attached as one file.
#pragma once
#include <string>
#include <vector>

#include "core/report/summary_table.h"

namespace qatwb::report {

struct ReportPlot {
  std::string metric;  // "loss"
  std::string png;     // absolute path of the PNG ("" when not rendered)
};

struct ReportSection {
  std::string label;  // the group
  std::vector<std::string> run_names;
  std::vector<ReportPlot> plots;
};

struct ReportPage {
  std::string title;
  std::string generated;  // "2026-11-23 20:45 UTC, database /x/qatwb.sqlite"
  std::vector<SummaryRow> rows;
  std::vector<ReportSection> sections;
  std::vector<std::string> notes;
};

// Markdown; plots linked relative to `md_dir` (the folder the .md file is written to).
std::string report_markdown(const ReportPage& page, const std::string& md_dir);
// Self-contained HTML; reads the PNG files to embed them (Error naming a PNG it cannot read).
std::string report_html(const ReportPage& page);

}  // namespace qatwb::report
