#include "core/report/summary_table.h"

#include <algorithm>
#include <cstdio>
#include <map>

#include "core/quant/ggml_quant_type.h"
#include "core/train/grad_stats.h"
#include "core/util/error.h"
#include "core/util/strings.h"

namespace qatwb::report {

namespace {

using Params = std::map<std::string, std::string>;

std::string param(const Params& p, const std::string& key, const std::string& fallback = "") {
  auto it = p.find(key);
  return it == p.end() ? fallback : it->second;
}

double param_num(const Params& p, const std::string& key, double fallback) {
  auto it = p.find(key);
  if (it == p.end()) return fallback;
  try {
    return std::stod(it->second);
  } catch (const std::exception&) {
    return fallback;
  }
}

std::string fmt(const char* spec, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, spec, v);
  return buf;
}

constexpr const char* kNoisyNote =
    "overhead x.xx?: within machine-load noise (the runs' step times were taken at different "
    "times; the ratio is inside their spread, or a run doing more work came out faster)";

double quantile(std::vector<double> v, double q);

// (q75 - q25) / median of the finite values; NaN for fewer than 4.
double relative_iqr(const std::vector<double>& v) {
  std::vector<double> f;
  for (double x : v)
    if (std::isfinite(x)) f.push_back(x);
  if (f.size() < 4) return NAN;
  const double m = quantile(f, 0.5);
  return m > 0 ? (quantile(f, 0.75) - quantile(f, 0.25)) / m : NAN;
}

double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const size_t i = static_cast<size_t>(pos);
  const size_t j = std::min(v.size() - 1, i + 1);
  return v[i] + (v[j] - v[i]) * (pos - static_cast<double>(i));
}

double median(std::vector<double> v) {
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return !std::isfinite(x); }), v.end());
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double mean(const std::vector<double>& v) {
  double s = 0;
  size_t n = 0;
  for (double x : v)
    if (std::isfinite(x)) s += x, ++n;
  return n ? s / static_cast<double>(n) : NAN;
}

std::vector<double> values_of(const std::vector<std::pair<int64_t, double>>& pts,
                              int64_t after_step = -1) {
  std::vector<double> v;
  v.reserve(pts.size());
  for (const auto& [step, value] : pts)
    if (step > after_step && std::isfinite(value)) v.push_back(value);
  return v;
}

// The trainer's own spike rule (train::GradNormStats) replayed over the logged norms.
int64_t count_spikes(const std::vector<double>& v, int64_t window, double k) {
  train::GradNormStats stats(std::max<int64_t>(1, window), k);
  for (double x : v) stats.add(x);
  return stats.spikes();
}

void describe_scheme(const Params& p, SummaryRow& r) {
  const bool quantized = p.count("quant.format") && param(p, "quant.enabled", "true") != "false";
  if (!quantized) {
    r.scheme = "fp";
    return;
  }
  r.surrogate = param(p, "quant.surrogate");
  r.format = param(p, "quant.format");
  r.bits = scheme_bits(p);
  const std::string gran = param(p, "quant.granularity");
  r.scheme = r.format;
  if (r.format == "int") r.scheme += " W" + fmt("%g", r.bits);
  if (r.format == "gguf") r.scheme += " " + param(p, "quant.gguf_type");
  if (!gran.empty()) r.scheme += " " + gran;
  if (gran == "per_group" && p.count("quant.group_size"))
    r.scheme += " g" + param(p, "quant.group_size");
}

std::string csv_num(double v) { return std::isfinite(v) ? fmt("%.10g", v) : ""; }

// Display width of UTF-8 text (code points; the table only uses narrow characters).
size_t text_width(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

const char* kNone = "\u2013";  // en dash: no value

}  // namespace

namespace {

std::string joined(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : sep) + i;
  return out;
}

}  // namespace

double scheme_bits(const Params& p) {
  if (!p.count("quant.format") || param(p, "quant.enabled", "true") == "false") return NAN;
  const std::string format = param(p, "quant.format");
  if (format == "int") return param_num(p, "quant.bits", NAN);
  if (format == "gguf") {
    quant::GgmlQuant t;
    if (!quant::parse(param(p, "quant.gguf_type"), t)) return NAN;
    const auto& spec = quant::ggml_quant_spec(t);
    return std::log2(static_cast<double>(spec.qmax - spec.qmin + 1));
  }
  return 4.0;  // MXFP4, NVFP4
}

std::vector<SummaryRow> summary_rows(const store::Store& store, const std::vector<int64_t>& runs) {
  std::vector<SummaryRow> rows;
  rows.reserve(runs.size());
  for (int64_t id : runs) {
    const store::RunSummary sum = store.run_summary(id);  // throws naming the database
    const Params& p = sum.params;
    SummaryRow r;
    r.run_id = id;
    r.name = sum.run.name;
    r.tags = sum.run.tags;
    r.project = sum.run.project;
    r.status = sum.run.status;
    describe_scheme(p, r);
    r.steps = std::max<int64_t>(0, sum.run.steps_done());
    if (auto it = sum.last_metrics.find("loss"); it != sum.last_metrics.end())
      r.final_loss = it->second;
    if (auto it = sum.eval.find("ppl_fp"); it != sum.eval.end()) r.ppl_fp = it->second;
    if (auto it = sum.eval.find("ppl_rtn"); it != sum.eval.end()) r.ppl_rtn = it->second;
    if (auto it = sum.eval.find("bits_per_weight"); it != sum.eval.end()) r.bpw = it->second;
    // Post-quantization PPL of a quantized run; plain PPL of an unquantized one.
    for (const char* key : {"eval/ppl_postquant", "eval/ppl"}) {
      const auto ppl = values_of(store.points(id, key));
      if (ppl.empty()) continue;
      r.ppl_final = ppl.back();
      r.ppl_best = *std::min_element(ppl.begin(), ppl.end());
      break;
    }
    if (std::isfinite(r.ppl_fp) && std::isfinite(r.ppl_rtn) && std::isfinite(r.ppl_final) &&
        r.ppl_rtn != r.ppl_fp)
      r.recovery = (r.ppl_rtn - r.ppl_final) / (r.ppl_rtn - r.ppl_fp);
    const auto warmup = static_cast<int64_t>(param_num(p, "train.schedule.warmup_steps", 0));
    const auto gn_points = store.points(id, "grad_norm");
    const auto gn = values_of(gn_points, warmup - 1);  // steps 0..warmup-1 warm up
    if (gn.size() >= 2) {
      const double m = mean(gn);
      double var = 0;
      for (double x : gn) var += (x - m) * (x - m);
      var /= static_cast<double>(gn.size());
      if (m != 0) r.grad_norm_cv = std::sqrt(var) / m;
    }
    if (auto it = sum.last_metrics.find("grad_spikes");
        it != sum.last_metrics.end() && std::isfinite(it->second)) {
      r.grad_spikes = static_cast<int64_t>(std::llround(it->second));
    } else {
      r.grad_spikes = count_spikes(values_of(gn_points),
                                   static_cast<int64_t>(param_num(p, "train.spike_window", 50)),
                                   param_num(p, "train.spike_k", 3.0));
    }
    r.flip_rate = mean(values_of(store.points(id, "code_flip_fraction")));
    const std::vector<double> step_times = values_of(store.points(id, "step_time_s"));
    r.ms_per_step = median(step_times) * 1000.0;
    r.step_time_spread = relative_iqr(step_times);
    rows.push_back(std::move(r));
  }
  // Overhead against one baseline of the set: the first unquantized run, else the first STE one.
  const SummaryRow* base = nullptr;
  for (const auto& r : rows)
    if (r.scheme == "fp" && std::isfinite(r.ms_per_step)) {
      base = &r;
      break;
    }
  if (!base)
    for (const auto& r : rows)
      if (r.surrogate == "ste" && std::isfinite(r.ms_per_step)) {
        base = &r;
        break;
      }
  if (base && base->ms_per_step > 0) {
    const double base_ms = base->ms_per_step;
    const std::string base_name = base->name;
    const double base_spread = base->step_time_spread;
    const bool base_plain = base->scheme == "fp" || base->surrogate == "ste";
    for (auto& r : rows) {
      r.overhead = r.ms_per_step / base_ms;
      r.overhead_vs = base_name;
      if (!std::isfinite(r.overhead) || r.name == base_name) continue;
      double spread = 0;
      for (double s : {r.step_time_spread, base_spread})
        if (std::isfinite(s)) spread = std::max(spread, s);
      const bool more_work = base_plain && r.scheme != "fp" && r.surrogate != "ste";
      r.overhead_noisy = std::abs(r.overhead - 1) < spread || (more_work && r.overhead < 1);
    }
  }
  return rows;
}

std::vector<std::string> summary_columns() {
  return {"run",      "project", "status", "surrogate", "scheme",    "bpw",
          "steps",    "loss",    "FP ppl", "RTN ppl",   "final ppl", "best ppl",
          "recovery", "grad CV", "spikes", "flip rate", "ms/step",   "overhead"};
}

std::string summary_cell(const SummaryRow& r, size_t column) {
  auto num = [](double v, const char* spec) { return std::isfinite(v) ? fmt(spec, v) : kNone; };
  auto text = [](const std::string& s) { return s.empty() ? std::string(kNone) : s; };
  switch (column) {
    case 0: {
      std::string tags;
      for (const auto& t : r.tags) tags += (tags.empty() ? " [" : ", ") + t;
      return text(r.name) + (tags.empty() ? "" : tags + "]");
    }
    case 1:
      return text(r.project);
    case 2:
      return text(r.status);
    case 3:
      return text(r.surrogate);
    case 4:
      return text(r.scheme);
    case 5:
      return num(r.bpw, "%.2f");
    case 6:
      return std::to_string(r.steps);
    case 7:
      return num(r.final_loss, "%.4f");
    case 8:
      return num(r.ppl_fp, "%.2f");
    case 9:
      return num(r.ppl_rtn, "%.2f");
    case 10:
      return num(r.ppl_final, "%.2f");
    case 11:
      return num(r.ppl_best, "%.2f");
    case 12:
      return std::isfinite(r.recovery) ? fmt("%.1f%%", 100.0 * r.recovery) : kNone;
    case 13:
      return num(r.grad_norm_cv, "%.3f");
    case 14:
      return std::to_string(r.grad_spikes);
    case 15:
      return num(r.flip_rate, "%.4f");
    case 16:
      return num(r.ms_per_step, "%.1f");
    case 17:
      return std::isfinite(r.overhead) ? fmt(r.overhead_noisy ? "%.2fx?" : "%.2fx", r.overhead)
                                       : kNone;
    default:
      return "";
  }
}

double summary_sort_value(const SummaryRow& r, size_t column) {
  switch (column) {
    case 5:
      return r.bpw;
    case 6:
      return static_cast<double>(r.steps);
    case 7:
      return r.final_loss;
    case 8:
      return r.ppl_fp;
    case 9:
      return r.ppl_rtn;
    case 10:
      return r.ppl_final;
    case 11:
      return r.ppl_best;
    case 12:
      return r.recovery;
    case 13:
      return r.grad_norm_cv;
    case 14:
      return static_cast<double>(r.grad_spikes);
    case 15:
      return r.flip_rate;
    case 16:
      return r.ms_per_step;
    case 17:
      return r.overhead;
    default:
      return NAN;
  }
}

std::string summary_text(const std::vector<SummaryRow>& rows) {
  const auto cols = summary_columns();
  std::vector<std::vector<std::string>> cells;
  cells.push_back(cols);
  for (const auto& r : rows) {
    std::vector<std::string> line;
    for (size_t c = 0; c < cols.size(); ++c) line.push_back(summary_cell(r, c));
    cells.push_back(std::move(line));
  }
  std::vector<size_t> width(cols.size(), 0);
  for (const auto& line : cells)
    for (size_t c = 0; c < line.size(); ++c) width[c] = std::max(width[c], text_width(line[c]));
  std::string out;
  for (const auto& line : cells) {
    std::string l;
    for (size_t c = 0; c < line.size(); ++c) {
      const std::string pad(width[c] - text_width(line[c]), ' ');
      const bool left = c <= 4;  // text columns left-aligned, numbers right-aligned
      if (c) l += "  ";
      l += left ? line[c] + pad : pad + line[c];
    }
    while (!l.empty() && l.back() == ' ') l.pop_back();
    out += l + "\n";
  }
  std::string vs;
  for (const auto& r : rows)
    if (!r.overhead_vs.empty()) vs = r.overhead_vs;
  if (!vs.empty()) out += "overhead: ms/step relative to " + vs + "\n";
  if (std::any_of(rows.begin(), rows.end(), [](const SummaryRow& r) { return r.overhead_noisy; }))
    out += std::string(kNoisyNote) + "\n";
  return out;
}

std::string summary_markdown(const std::vector<SummaryRow>& rows) {
  const auto cols = summary_columns();
  auto escape = [](std::string s) {
    std::string out;
    for (char c : s) out += c == '|' ? std::string("\\|") : std::string(1, c);
    return out;
  };
  std::string out = "|";
  for (const auto& c : cols) out += " " + c + " |";
  out += "\n|";
  for (size_t c = 0; c < cols.size(); ++c) out += c <= 4 ? " --- |" : " ---: |";
  out += "\n";
  for (const auto& r : rows) {
    out += "|";
    for (size_t c = 0; c < cols.size(); ++c) out += " " + escape(summary_cell(r, c)) + " |";
    out += "\n";
  }
  if (std::any_of(rows.begin(), rows.end(), [](const SummaryRow& r) { return r.overhead_noisy; }))
    out += "\n" + std::string(kNoisyNote) + "\n";
  return out;
}

std::string summary_csv(const std::vector<SummaryRow>& rows) {
  std::string out =
      "run_id,name,project,status,surrogate,format,scheme,bits,bpw,steps,final_loss,ppl_fp,ppl_rtn,"
      "ppl_final,ppl_best,recovery,grad_norm_cv,grad_spikes,flip_rate,ms_per_step,overhead,"
      "overhead_vs,tags\n";
  for (const auto& r : rows) {
    out += std::to_string(r.run_id) + "," + csv_field(r.name) + "," + csv_field(r.project) + "," +
           csv_field(r.status) + "," + csv_field(r.surrogate) + "," + csv_field(r.format) + "," +
           csv_field(r.scheme) + "," + csv_num(r.bits) + "," + csv_num(r.bpw) + "," +
           std::to_string(r.steps) + "," + csv_num(r.final_loss) + "," + csv_num(r.ppl_fp) + "," +
           csv_num(r.ppl_rtn) + "," + csv_num(r.ppl_final) + "," + csv_num(r.ppl_best) + "," +
           csv_num(r.recovery) + "," + csv_num(r.grad_norm_cv) + "," +
           std::to_string(r.grad_spikes) + "," + csv_num(r.flip_rate) + "," +
           csv_num(r.ms_per_step) + "," + csv_num(r.overhead) + "," + csv_field(r.overhead_vs) +
           "," + csv_field(joined(r.tags, " ")) + "\n";
  }
  return out;
}

nlohmann::json summary_json(const std::vector<SummaryRow>& rows) {
  auto num = [](double v) {
    return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
  };
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& r : rows)
    arr.push_back({{"run_id", r.run_id},
                   {"name", r.name},
                   {"project", r.project},
                   {"status", r.status},
                   {"surrogate", r.surrogate},
                   {"format", r.format},
                   {"scheme", r.scheme},
                   {"bits", num(r.bits)},
                   {"bpw", num(r.bpw)},
                   {"steps", r.steps},
                   {"final_loss", num(r.final_loss)},
                   {"ppl_fp", num(r.ppl_fp)},
                   {"ppl_rtn", num(r.ppl_rtn)},
                   {"ppl_final", num(r.ppl_final)},
                   {"ppl_best", num(r.ppl_best)},
                   {"recovery", num(r.recovery)},
                   {"grad_norm_cv", num(r.grad_norm_cv)},
                   {"grad_spikes", r.grad_spikes},
                   {"flip_rate", num(r.flip_rate)},
                   {"ms_per_step", num(r.ms_per_step)},
                   {"overhead", num(r.overhead)},
                   {"overhead_vs", r.overhead_vs},
                   {"overhead_noisy", r.overhead_noisy},
                   {"tags", r.tags}});
  return arr;
}

}  // namespace qatwb::report
