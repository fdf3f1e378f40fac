#include "tests/common/run_events.h"

#include <fstream>

namespace qatwb::test {

std::vector<nlohmann::json> run_events(const QString& run_dir) {
  std::ifstream in((run_dir + "/events.jsonl").toStdString());
  std::vector<nlohmann::json> out;
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

std::vector<nlohmann::json> run_events_of_type(const QString& run_dir, const std::string& type) {
  std::vector<nlohmann::json> out;
  for (auto& e : run_events(run_dir))
    if (e.value("type", "") == type) out.push_back(std::move(e));
  return out;
}

std::map<int64_t, double> run_metric(const QString& run_dir, const std::string& key) {
  std::map<int64_t, double> out;
  for (const auto& e : run_events_of_type(run_dir, "metric")) {
    const auto& v = e["values"];
    if (v.contains(key) && v[key].is_number()) out[e["step"].get<int64_t>()] = v[key].get<double>();
  }
  return out;
}

}  // namespace qatwb::test
