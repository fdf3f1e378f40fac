#include "core/report/report_html.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/report/report_writer.h"
#include "core/util/error.h"

namespace qatwb::report {
namespace fs = std::filesystem;

std::string base64_encode(std::string_view bytes) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t v = (uint32_t(uint8_t(bytes[i])) << 16) | (uint32_t(uint8_t(bytes[i + 1])) << 8) |
                 uint32_t(uint8_t(bytes[i + 2]));
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < bytes.size()) {
    uint32_t v = uint32_t(uint8_t(bytes[i])) << 16;
    if (i + 1 < bytes.size()) v |= uint32_t(uint8_t(bytes[i + 1])) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string html_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

namespace {

std::string md_cell(const std::string& s) {
  std::string out;
  for (char c : s) out += c == '|' ? std::string("\\|") : std::string(1, c);
  return out;
}

std::string read_binary(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot read the plot to embed it");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const char* kCss =
    R"(body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em;color:#222}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:2em}
table{border-collapse:collapse;font-size:.9em}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right;white-space:nowrap}
th{background:#f3f3f3}td.t{text-align:left}
.plots{display:flex;flex-wrap:wrap;gap:1em}.plots figure{margin:0}
figcaption{font-size:.85em;color:#555}.note{color:#8a5300}.meta{color:#666;font-size:.85em})";

}  // namespace

std::string report_markdown(const ReportPage& page, const std::string& md_dir) {
  std::ostringstream md;
  md << "# " << page.title << "\n\n";
  if (!page.generated.empty()) md << "_" << page.generated << "_\n\n";
  md << "## Summary\n\n" << summary_markdown(page.rows) << "\n";
  md << "recovery = (PPL_RTN - PPL_final) / (PPL_RTN - PPL_FP); overhead = ms/step relative to "
        "the baseline run.\n\n";
  for (const auto& n : page.notes) md << "> " << n << "\n\n";
  for (const auto& s : page.sections) {
    md << "## " << s.label << "\n\n";
    md << "Runs: ";
    for (size_t i = 0; i < s.run_names.size(); ++i)
      md << (i ? ", " : "") << md_cell(s.run_names[i]);
    md << "\n\n";
    for (const auto& p : s.plots) {
      if (p.png.empty()) continue;
      std::string rel = fs::path(p.png).lexically_relative(md_dir).generic_string();
      md << "![" << p.metric << " — " << s.label << "](" << rel << ")\n\n";
    }
  }
  return md.str();
}

std::string report_html(const ReportPage& page) {
  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>"
    << html_escape(page.title) << "</title>\n<style>" << kCss << "</style></head><body>\n";
  h << "<h1>" << html_escape(page.title) << "</h1>\n";
  if (!page.generated.empty()) h << "<p class=\"meta\">" << html_escape(page.generated) << "</p>\n";
  h << "<h2>Summary</h2>\n<table>\n<tr>";
  const auto columns = summary_columns();
  for (const auto& c : columns) h << "<th>" << html_escape(c) << "</th>";
  h << "</tr>\n";
  for (const auto& r : page.rows) {
    h << "<tr>";
    for (size_t c = 0; c < columns.size(); ++c) {
      bool text = std::isnan(summary_sort_value(r, c));
      h << (text ? "<td class=\"t\">" : "<td>") << html_escape(summary_cell(r, c)) << "</td>";
    }
    h << "</tr>\n";
  }
  h << "</table>\n<p class=\"meta\">recovery = (PPL<sub>RTN</sub> &minus; PPL<sub>final</sub>) / "
       "(PPL<sub>RTN</sub> &minus; PPL<sub>FP</sub>); overhead = ms/step relative to the "
       "baseline run.</p>\n";
  for (const auto& n : page.notes) h << "<p class=\"note\">" << html_escape(n) << "</p>\n";
  for (const auto& s : page.sections) {
    h << "<h2>" << html_escape(s.label) << "</h2>\n<p class=\"meta\">Runs: ";
    for (size_t i = 0; i < s.run_names.size(); ++i)
      h << (i ? ", " : "") << html_escape(s.run_names[i]);
    h << "</p>\n<div class=\"plots\">\n";
    for (const auto& p : s.plots) {
      if (p.png.empty()) continue;
      h << "<figure><img alt=\"" << html_escape(p.metric + " — " + s.label)
        << "\" width=\"900\" src=\"data:image/png;base64," << base64_encode(read_binary(p.png))
        << "\"><figcaption>" << html_escape(p.metric) << "</figcaption></figure>\n";
    }
    h << "</div>\n";
  }
  h << "</body></html>\n";
  return h.str();
}

}  // namespace qatwb::report
