#include "core/report/summary_table.h"

namespace qatwb::report {

std::vector<SummaryRow> summary_rows(const store::Store& store, const std::vector<int64_t>& runs) {
  std::vector<SummaryRow> rows;
  for (int64_t id : runs) {
    auto info = store.run_info(id);
    if (!info) continue;
    SummaryRow r;
    r.run_id = id;
    r.name = info->name;
    r.project = info->project;
    r.status = info->status;
    rows.push_back(r);
  }
  return rows;
}
std::string summary_text(const std::vector<SummaryRow>&) { return {}; }
std::string summary_markdown(const std::vector<SummaryRow>&) { return {}; }
std::string summary_csv(const std::vector<SummaryRow>&) { return {}; }
nlohmann::json summary_json(const std::vector<SummaryRow>&) { return nlohmann::json::array(); }
std::vector<std::string> summary_columns() { return {}; }
std::string summary_cell(const SummaryRow&, size_t) { return {}; }
double summary_sort_value(const SummaryRow&, size_t) { return NAN; }

}  // namespace qatwb::report
