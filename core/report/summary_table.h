// The one summary table of a set of runs: used by the GUI compare view, `qatwb compare` and
// `qatwb report`. Every column is computed from the store (runs, params, metrics, eval metrics).
#pragma once
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/store/store.h"

namespace qatwb::report {

struct SummaryRow {
  int64_t run_id = 0;
  std::string name, project, status, surrogate, format, scheme;  // scheme e.g. "int W2 per_channel"
  // The run's tags (store v3): the "run" cell reads "name [a, b]" so that runs of the same name
  // (copies of a runs folder) are told apart; CSV and JSON carry them in their own field.
  std::vector<std::string> tags;
  double bits = NAN;
  double bpw = NAN;  // bits per weight of the whole model, scales included (the run's step 0)
  int64_t steps = 0;
  double final_loss = NAN;
  double ppl_fp = NAN, ppl_rtn = NAN, ppl_final = NAN, ppl_best = NAN;  // post-quant PPL: last/best
  double recovery = NAN;      // (rtn - final) / (rtn - fp)
  double grad_norm_cv = NAN;  // std/mean of grad_norm over the run (after warm-up)
  int64_t grad_spikes = 0;    // grad_norm above rolling mean + k*std (or the run's spike metric)
  double flip_rate = NAN;     // mean code-flip fraction
  double ms_per_step = NAN;   // median step time
  double overhead = NAN;      // ms_per_step / baseline's ms_per_step
  std::string overhead_vs;    // name of the baseline run (an unquantized run of the set, else STE)
  // The runs' step times were taken at different times, under whatever else the machine ran: the
  // ratio is marked noisy when it is within the spread of either run's own step times (the
  // interquartile range over the median) or below 1 for a run that does more work than its
  // baseline (quantized against an unquantized or STE run), which only machine load explains.
  bool overhead_noisy = false;
  double step_time_spread = NAN;  // (q75 - q25) / median of step_time_s
};

std::vector<SummaryRow> summary_rows(const store::Store& store, const std::vector<int64_t>& runs);

// Bits of a run's weight codes from its stored parameters: quant.bits for INT, 4 for MXFP4 and
// NVFP4, log2 of the levels of a gguf type (q2_k: 2, tq1_0: 1.58); NaN when not quantized.
double scheme_bits(const std::map<std::string, std::string>& params);
std::string summary_text(const std::vector<SummaryRow>& rows);  // fixed-width, terminals
std::string summary_markdown(const std::vector<SummaryRow>& rows);
std::string summary_csv(const std::vector<SummaryRow>& rows);
nlohmann::json summary_json(const std::vector<SummaryRow>& rows);  // NaN -> null

// Column titles and per-cell text shared by the text/markdown renderers and the GUI table model.
std::vector<std::string> summary_columns();
std::string summary_cell(const SummaryRow& row, size_t column);   // NaN -> "–"
double summary_sort_value(const SummaryRow& row, size_t column);  // NaN for text columns

}  // namespace qatwb::report
