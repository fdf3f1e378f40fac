// Reading a run directory's events.jsonl in tests (the worker's own output, parsed as JSON).
#pragma once
#include <QString>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace qatwb::test {

// Every line of <run_dir>/events.jsonl, parsed (a garbage line fails the test's QVERIFY by
// throwing nlohmann::json::parse_error).
std::vector<nlohmann::json> run_events(const QString& run_dir);
// The events of one type ("start", "metric", "eval", "checkpoint", "warning", "end").
std::vector<nlohmann::json> run_events_of_type(const QString& run_dir, const std::string& type);
// step -> value of one metric key over the run's metric events.
std::map<int64_t, double> run_metric(const QString& run_dir, const std::string& key);

}  // namespace qatwb::test
