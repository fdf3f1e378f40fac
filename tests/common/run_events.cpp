#include "tests/common/run_events.h"

#include <sqlite3.h>

#include <QFileInfo>
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

std::map<int64_t, int> metric_rows_per_step(const QString& run_dir, const std::string& key,
                                            int* bad_lines) {
  std::ifstream in((run_dir + "/events.jsonl").toStdString());
  std::map<int64_t, int> out;
  std::string line;
  int bad = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const auto e = nlohmann::json::parse(line, nullptr, false);
    if (e.is_discarded() || !e.is_object()) {
      ++bad;
      continue;
    }
    if (e.value("type", "") != "metric" || !e.contains("step") || !e.contains("values")) continue;
    if (e["values"].contains(key)) ++out[e["step"].get<int64_t>()];
  }
  if (bad_lines) *bad_lines = bad;
  return out;
}

std::map<int64_t, int> store_metric_event_rows(const QString& db, const QString& run_dir,
                                               const std::string& key) {
  std::map<int64_t, int> out;
  sqlite3* h = nullptr;
  if (sqlite3_open_v2(db.toStdString().c_str(), &h, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(h);
    return out;
  }
  const std::string dir = QFileInfo(run_dir).canonicalFilePath().toStdString();
  const char* sql =
      "SELECT m.step FROM metrics m JOIN runs r ON r.id = m.run "
      "JOIN metric_keys k ON k.id = m.key WHERE r.run_dir = ?1 AND k.name = ?2";
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(h, sql, -1, &st, nullptr) == SQLITE_OK) {
    sqlite3_bind_text(st, 1, dir.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, key.c_str(), -1, SQLITE_TRANSIENT);
    while (sqlite3_step(st) == SQLITE_ROW) ++out[sqlite3_column_int64(st, 0)];
  }
  sqlite3_finalize(st);
  sqlite3_close(h);
  return out;
}

}  // namespace qatwb::test
