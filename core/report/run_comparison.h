// Side-by-side results of QAT runs on the same scheme: full-precision, round-to-nearest and
// post-quantization perplexity, and recovery = (PPL_RTN - PPL_QAT) / (PPL_RTN - PPL_FP), read
// from each run's events.jsonl (eval events: ppl_fp and ppl_rtn at step 0, ppl_postquant later).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace qatwb::report {

struct RunResult {
  std::string run_dir;
  std::string project;
  std::string surrogate;  // "" for a run without quantization
  std::string scheme;     // e.g. "int W2 per_channel"
  std::string status;     // finished / failed / stopped / running
  int64_t steps = 0;      // last step with a metric
  double ppl_fp = -1, ppl_rtn = -1, ppl_qat = -1;  // -1: not recorded
  double final_loss = -1;

  // (rtn - qat) / (rtn - fp), negative when QAT ends worse than RTN; NaN when any of the three
  // is missing or rtn == fp.
  double recovery() const;
};

// Reads <run_dir>/events.jsonl. Throws qatwb::Error when the file is missing; skips garbage lines.
RunResult read_run_result(const std::string& run_dir);

// A fixed-width text table (one row per run) for terminals and logs.
std::string format_comparison(const std::vector<RunResult>& runs);
nlohmann::json comparison_json(const std::vector<RunResult>& runs);

}  // namespace qatwb::report
