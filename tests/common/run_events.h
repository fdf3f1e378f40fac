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

// step -> how many metric lines of <run_dir>/events.jsonl carry `key` at that step, read as a
// plain reader of the file would (duplicates counted, nothing deduplicated); lines that are not
// JSON are counted in `bad_lines` instead of failing.
std::map<int64_t, int> metric_rows_per_step(const QString& run_dir, const std::string& key,
                                            int* bad_lines = nullptr);
// The same count over the store's `metrics` table (SQLite file `db`) for the run in `run_dir`
// (matched by its canonical path): which steps the store holds; empty when the run is not there.
std::map<int64_t, int> store_metric_event_rows(const QString& db, const QString& run_dir,
                                               const std::string& key);

}  // namespace qatwb::test
