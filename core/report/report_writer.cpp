#include "core/report/report_writer.h"

#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <map>
#include <sstream>

#include "core/data/atomic_file.h"
#include "core/report/report_html.h"
#include "core/util/error.h"
#include "core/util/strings.h"

namespace qatwb::report {
namespace fs = std::filesystem;

std::string file_safe(std::string_view text) {
  std::string out;
  for (char c : text) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    out += ok ? c : (c == '=' ? '-' : (c == ',' || c == ' ' ? '_' : '-'));
  }
  return out.empty() ? "_" : out;
}

std::string param_label(const std::string& value) {
  char* end = nullptr;
  double v = std::strtod(value.c_str(), &end);
  if (!value.empty() && end && *end == '\0' && std::isfinite(v)) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.10g", v);
    return buf;
  }
  if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
    return value.substr(1, value.size() - 2);
  return value;
}

std::vector<RunGroup> group_runs(const store::Store& store, const std::vector<int64_t>& runs,
                                 const std::vector<std::string>& fields) {
  std::vector<RunGroup> groups;
  if (fields.empty()) {
    groups.push_back({"all runs", runs});
    return groups;
  }
  std::map<std::string, size_t> index;
  for (int64_t id : runs) {
    const auto summary = store.run_summary(id);
    std::string label;
    for (const auto& f : fields) {
      auto it = summary.params.find(f);
      std::string key =
          f.substr(f.find_last_of('.') == std::string::npos ? 0 : f.find_last_of('.') + 1);
      if (!label.empty()) label += ", ";
      label += key + "=" + (it == summary.params.end() ? "?" : param_label(it->second));
    }
    auto [it, inserted] = index.emplace(label, groups.size());
    if (inserted) groups.push_back({label, {}});
    groups[it->second].runs.push_back(id);
  }
  return groups;
}

namespace {

std::string csv_number(double v) {
  if (!std::isfinite(v)) return "";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

std::string final_metrics_csv(const store::Store& store, const std::vector<int64_t>& runs) {
  std::ostringstream out;
  out << "run_id,run,project,key,step,value\n";
  for (int64_t id : runs) {
    const auto info = store.run_info(id);
    if (!info) continue;
    for (const auto& key : store.metric_keys(id)) {
      const auto pts = store.points(id, key);
      if (pts.empty()) continue;
      out << id << "," << csv_field(info->name) << "," << csv_field(info->project) << ","
          << csv_field(key) << "," << pts.back().first << "," << csv_number(pts.back().second)
          << "\n";
    }
  }
  return out.str();
}

std::string now_text() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
  return buf;
}

std::string metric_title(const std::string& key) {
  if (key == "loss") return "Training loss";
  if (key == "grad_norm") return "Gradient norm";
  if (key == "eval/ppl_postquant") return "Post-quantization perplexity";
  if (key == "eval/ppl_fakequant") return "Fake-quant perplexity";
  return key;
}

}  // namespace

ReportFiles write_report(const ReportRequest& request, const PlotRenderer& renderer) {
  if (request.output_dir.empty()) throw Error("report: no output folder given");
  store::Store store = request.ingest ? store::Store::open(request.db_path)
                                      : store::Store::open_existing(request.db_path);
  std::vector<int64_t> ids;
  for (const auto& dir : request.run_dirs) {
    if (request.ingest && fs::exists(dir)) store.ingest_run_dir(dir);
    ids.push_back(store.find_run(dir));
  }
  for (const auto& r : request.runs) ids.push_back(store.find_run(r));
  if (ids.empty()) throw Error("report: no runs given");

  const std::string out = fs::absolute(request.output_dir).lexically_normal().string();
  fs::create_directories(out);
  ReportFiles files;
  ReportPage page;
  page.title = request.title;
  page.generated = "Generated " + now_text() + " from " + store.path();
  page.rows = summary_rows(store, ids);

  const auto groups = group_runs(store, ids, request.group_by);
  if (!renderer)
    page.notes.push_back("Plots skipped: " + request.plots_unavailable + ".");
  else
    fs::create_directories(out + "/plots");
  for (const auto& g : groups) {
    ReportSection section;
    section.label = groups.size() == 1 && request.group_by.empty() ? "All runs" : g.label;
    for (int64_t id : g.runs) {
      auto info = store.run_info(id);
      section.run_names.push_back(info ? info->name : std::to_string(id));
    }
    for (const auto& key : request.metrics) {
      ReportPlot plot{key, ""};
      if (renderer) {
        ChartSpec spec = metric_chart(store, g.runs, key);
        bool any = false;
        for (const auto& s : spec.series) any |= !s.x.empty();
        if (!any) continue;
        spec.title = metric_title(key) + (groups.size() > 1 ? " — " + g.label : "");
        if (key.rfind("eval/", 0) == 0) spec.smoothing = 0;  // a few evaluations: raw only
        if (key.rfind("eval/ppl", 0) == 0 && spec.reference_lines.empty()) {
          for (const auto& row : page.rows) {
            bool in_group = false;
            for (int64_t id : g.runs) in_group |= id == row.run_id;
            if (!in_group) continue;
            if (std::isfinite(row.ppl_fp)) spec.reference_lines.push_back({"FP", row.ppl_fp});
            if (std::isfinite(row.ppl_rtn)) spec.reference_lines.push_back({"RTN", row.ppl_rtn});
            if (!spec.reference_lines.empty()) break;
          }
        }
        plot.png = out + "/plots/" + file_safe(key) + "__" + file_safe(g.label) + ".png";
        try {
          renderer(spec, plot.png);
          if (!fs::exists(plot.png)) throw Error(plot.png + ": the plot renderer wrote nothing");
          files.plots.push_back(plot.png);
        } catch (const std::exception& e) {  // one broken plot does not lose the report
          page.notes.push_back(std::string("Plot not drawn: ") + e.what());
          plot.png.clear();
        }
      }
      section.plots.push_back(plot);
    }
    page.sections.push_back(std::move(section));
  }
  files.notes = page.notes;
  files.markdown = out + "/report.md";
  files.html = out + "/report.html";
  files.csv = out + "/summary.csv";
  files.final_metrics_csv = out + "/final_metrics.csv";
  files.json = out + "/summary.json";
  data::write_file_atomically(files.markdown, report_markdown(page, out));
  data::write_file_atomically(files.html, report_html(page));
  data::write_file_atomically(files.csv, summary_csv(page.rows));
  data::write_file_atomically(files.final_metrics_csv, final_metrics_csv(store, ids));
  data::write_file_atomically(files.json, summary_json(page.rows).dump(2) + "\n");
  return files;
}

}  // namespace qatwb::report
