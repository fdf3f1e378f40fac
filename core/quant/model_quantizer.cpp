#include "core/quant/model_quantizer.h"

#include <regex>
#include <set>

#include "core/model/llama_config.h"
#include "core/quant/adaround.h"
#include "core/util/error.h"

namespace qatwb::quant {
namespace {

std::vector<std::regex> compile(const std::vector<std::string>& patterns, const char* field) {
  std::vector<std::regex> out;
  for (const auto& p : patterns) {
    try {
      out.emplace_back(p, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      throw Error(std::string("quant.") + field + ": invalid regular expression '" + p +
                  "': " + e.what());
    }
  }
  return out;
}

// Distinct codes in each row of codes2d [rows, cols] (integer codes), as [rows] int64.
torch::Tensor levels_per_row(const torch::Tensor& codes2d) {
  auto c = codes2d.to(torch::kLong);
  const int64_t lo = c.min().item<int64_t>(), hi = c.max().item<int64_t>();
  auto present = torch::zeros({c.size(0), hi - lo + 1}, torch::kInt);
  present.scatter_(1, c - lo, 1);
  return present.sum(1, false, torch::kLong);
}

// Median of small non-negative integers (the mean of the two middle ones for an even count),
// from their histogram: exact, and no size limit (torch::quantile stops at 16M elements).
double median_of_counts(const torch::Tensor& v) {
  auto counts = torch::bincount(v.reshape({-1}).to(torch::kLong)).cumsum(0).cpu();
  const auto* c = counts.data_ptr<int64_t>();
  const int64_t n = v.numel(), bins = counts.numel();
  auto at = [&](int64_t k) {  // value at sorted position k
    int64_t x = 0;
    while (x < bins && c[x] <= k) ++x;
    return static_cast<double>(x);
  };
  return 0.5 * (at((n - 1) / 2) + at(n / 2));
}

}  // namespace

ModelQuantizer::ModelQuantizer(const QuantScheme& scheme,
                               std::vector<std::pair<std::string, torch::Tensor>> linear_weights)
    : scheme_(scheme), scheduled_bits_(scheme.bits) {
  if (scheme_.surrogate == Surrogate::Pact &&
      scheme_.activations.kind == ActivationQuant::Kind::None)
    scheme_.activations.kind = ActivationQuant::Kind::Pact;
  if (!linear_weights.empty() && linear_weights.front().second.defined())
    device_ = linear_weights.front().second.device();
  if (!scheme_.enabled) return;
  compile(scheme_.include, "include");  // a bad pattern is an Error naming it
  compile(scheme_.exclude, "exclude");
  for (const auto& o : scheme_.overrides) compile({o.match}, "overrides.match");
  for (auto& [name, w] : linear_weights) {
    // Mixed precision: each module's own scheme (include/exclude, then quant.overrides).
    QuantScheme own = scheme_for_module(scheme_, name);
    if (!own.enabled) continue;
    if (own.surrogate == Surrogate::Pact && own.activations.kind == ActivationQuant::Kind::None)
      own.activations.kind = ActivationQuant::Kind::Pact;
    // The embedding is looked up, not multiplied, and the output projection's input goes
    // straight into the fused loss: neither has an activation to quantize.
    if (name == model::kEmbedModule || name == model::kLmHeadModule)
      own.activations.kind = ActivationQuant::Kind::None;
    if (entries_.count(name)) throw Error("quant: module " + name + " listed twice");
    Entry e;
    e.wq = std::make_unique<WeightQuantizer>(own, name, w);
    e.aq = std::make_unique<ActivationQuantizer>(own.activations, w.device());
    e.latent = w;
    e.prev_codes = comparable_codes(e, e.wq->quantize(w));
    e.follows_bits = own.format == Format::Int && own.bits == scheme_.bits;
    e.surrogate = own.surrogate;
    if (e.wq->learned_rounding()) {
      learned_rounding_weights_ += w.numel();
      adaround_weight_ = own.params.adaround_reg_weight;
    }
    order_.push_back(name);
    entries_.emplace(name, std::move(e));
  }
}

ModelQuantizer::Entry& ModelQuantizer::entry(const std::string& module) {
  auto it = entries_.find(module);
  if (it == entries_.end()) throw Error("quant: module " + module + " is not quantized");
  return it->second;
}

const ModelQuantizer::Entry& ModelQuantizer::entry(const std::string& module) const {
  auto it = entries_.find(module);
  if (it == entries_.end()) throw Error("quant: module " + module + " is not quantized");
  return it->second;
}

void ModelQuantizer::set_rounding(Rounding r) {
  clear_cache();
  rounding_ = r;
  for (auto& [name, e] : entries_) e.wq->set_rounding(r);
}

const WeightQuantizer& ModelQuantizer::quantizer(const std::string& module) const {
  return *entry(module).wq;
}

torch::Tensor ModelQuantizer::weight(const std::string& module, const torch::Tensor& w) {
  auto it = entries_.find(module);
  if (it == entries_.end()) return w;
  Entry& e = it->second;
  if (w.is_leaf()) e.latent = w;
  if (!in_step_ || !torch::GradMode::is_enabled()) return e.wq->forward(w);
  if (!e.cache_leaf.defined()) {
    e.cache_out = e.wq->forward(w);
    e.cache_leaf = e.cache_out.detach().requires_grad_(true);
  }
  return e.cache_leaf;
}

torch::Tensor ModelQuantizer::input(const std::string& module, const torch::Tensor& x) {
  auto it = entries_.find(module);
  if (it == entries_.end() || !it->second.aq->active()) return x;
  return it->second.aq->forward(x);
}

std::vector<torch::Tensor> ModelQuantizer::parameters() const {
  std::vector<torch::Tensor> p;
  for (const auto& name : order_) {
    const Entry& e = entries_.at(name);
    for (auto& t : e.wq->parameters()) p.push_back(t);
    for (auto& t : e.aq->parameters()) p.push_back(t);
  }
  return p;
}

torch::Tensor ModelQuantizer::regularization_loss() const {
  torch::Tensor total =
      torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat).device(device_));
  torch::Tensor rounding;
  for (const auto& name : order_) {
    const Entry& e = entries_.at(name);
    auto r = e.aq->regularization();
    if (r.defined()) total = total + r;
    if (adaround_beta_ > 0 && e.wq->learned_rounding()) {
      auto f = e.wq->rounding_regulariser(adaround_beta_);
      rounding = rounding.defined() ? rounding + f : f;
    }
  }
  if (rounding.defined())
    total = total + rounding * (adaround_weight_ / static_cast<double>(learned_rounding_weights_));
  return total;
}

bool ModelQuantizer::set_step(int64_t step, int64_t total_steps, bool reinit) {
  const ScheduledValues v = scheduled_values(scheme_, step);
  bool reset = false;
  for (auto& [name, e] : entries_) {
    if (e.follows_bits && e.wq->bits() != v.bits) {
      clear_cache();
      e.wq->set_bits(v.bits, e.latent, reinit);
      e.prev_codes = comparable_codes(e, e.wq->quantize(e.latent));
      reset = reset || reinit;
    }
    e.wq->set_surrogate_values(v.amplitude, v.ewgs_delta);
  }
  scheduled_bits_ = v.bits;
  const AdaRoundAnneal a = adaround_anneal(scheme_.params, step, total_steps);
  adaround_beta_ = a.active ? a.beta : 0.0;
  return reset;
}

void ModelQuantizer::project_parameters() {
  for (auto& [name, e] : entries_) {
    e.wq->project();
    e.aq->project();
  }
}

void ModelQuantizer::clear_cache() {
  for (auto& [name, e] : entries_) {
    e.cache_out = torch::Tensor();
    e.cache_leaf = torch::Tensor();
  }
}

void ModelQuantizer::begin_step() {
  clear_cache();
  project_parameters();
  in_step_ = true;
}

void ModelQuantizer::end_step() {
  std::vector<torch::Tensor> outs, grads;
  for (const auto& name : order_) {
    Entry& e = entries_.at(name);
    if (!e.cache_leaf.defined() || !e.cache_out.requires_grad()) continue;
    const torch::Tensor& g = e.cache_leaf.grad();
    if (!g.defined()) continue;
    outs.push_back(e.cache_out);
    grads.push_back(g);
  }
  in_step_ = false;
  if (!outs.empty()) torch::autograd::backward(outs, grads);
  clear_cache();
}

std::map<std::string, QuantizedTensor> ModelQuantizer::quantize_all() const {
  std::map<std::string, QuantizedTensor> out;
  for (const auto& name : order_) {
    const Entry& e = entries_.at(name);
    out.emplace(name, e.wq->quantize(e.latent));
  }
  return out;
}

std::map<std::string, torch::Tensor> ModelQuantizer::dequantized_weights() const {
  std::map<std::string, torch::Tensor> out;
  torch::NoGradGuard g;
  for (const auto& name : order_) {
    const Entry& e = entries_.at(name);
    out.emplace(name, dequantize(e.wq->quantize(e.latent)));
  }
  return out;
}

torch::Tensor ModelQuantizer::comparable_codes(const Entry& e, const QuantizedTensor& q) {
  if (e.wq->format() == Format::Int || e.wq->format() == Format::Gguf) return q.codes;
  // E2M1: -0 (code 8) and +0 are the same level.
  return torch::where(q.codes == 8, torch::zeros_like(q.codes), q.codes);
}

double ModelQuantizer::code_flip_fraction(const std::string& module) {
  Entry& e = entry(module);
  auto codes = comparable_codes(e, e.wq->quantize(e.latent));
  const double f = codes.ne(e.prev_codes).to(torch::kDouble).mean().item<double>();
  e.prev_codes = codes;
  return f;
}

double ModelQuantizer::code_flip_fraction() { return stats().code_flip_fraction; }

QuantStats ModelQuantizer::stats() {
  QuantStats st;
  double flips = 0, total = 0, levels = 0;
  bool first = true;
  std::vector<torch::Tensor> rows;
  for (const auto& name : order_) {
    Entry& e = entries_.at(name);
    const QuantizedTensor q = e.wq->quantize(e.latent);
    auto codes = comparable_codes(e, q);
    ModuleQuantStats m;
    m.numel = codes.numel();
    m.code_flip_fraction = codes.ne(e.prev_codes).to(torch::kDouble).mean().item<double>();
    e.prev_codes = codes;
    m.levels_used = static_cast<int>(std::get<0>(at::_unique(codes.reshape({-1}))).numel());
    m.levels_total = e.wq->levels_total();
    const BlockLayout& l = e.wq->layout();
    auto per_row = levels_per_row(codes.reshape({l.rows, l.cols}));
    m.levels_used_row_min = static_cast<int>(per_row.min().item<int64_t>());
    m.levels_used_row_median = median_of_counts(per_row);
    rows.push_back(per_row);
    if (e.wq->learned_rounding()) {
      st.learned_rounding_weights += m.numel;
      st.soft_rounding_fraction += static_cast<double>(e.wq->soft_rounding_count());
    }
    auto s = e.wq->current_scale(e.latent).to(torch::kDouble);
    m.scale_mean = s.mean().item<double>();
    m.scale_min = s.min().item<double>();
    m.scale_max = s.max().item<double>();
    flips += m.code_flip_fraction * m.numel;
    total += m.numel;
    levels += static_cast<double>(m.levels_used) / m.levels_total;
    st.scale_min = first ? m.scale_min : std::min(st.scale_min, m.scale_min);
    st.scale_max = first ? m.scale_max : std::max(st.scale_max, m.scale_max);
    st.scale_mean += m.scale_mean;
    first = false;
    st.modules.emplace(name, m);
  }
  if (!order_.empty()) {
    st.code_flip_fraction = flips / total;
    st.levels_used_fraction = levels / order_.size();
    st.scale_mean /= order_.size();
    auto all_rows = torch::cat(rows);
    st.levels_used_row_min = static_cast<int>(all_rows.min().item<int64_t>());
    st.levels_used_row_median = median_of_counts(all_rows);
  }
  if (st.learned_rounding_weights > 0)
    st.soft_rounding_fraction /= static_cast<double>(st.learned_rounding_weights);
  return st;
}

std::vector<std::pair<std::string, torch::Tensor>> ModelQuantizer::state() const {
  std::vector<std::pair<std::string, torch::Tensor>> s;
  for (const auto& name : order_) {
    const Entry& e = entries_.at(name);
    for (auto& [k, t] : e.wq->state()) s.emplace_back(name + "." + k, t.detach());
    for (auto& [k, t] : e.aq->state()) s.emplace_back(name + "." + k, t.detach());
  }
  return s;
}

void ModelQuantizer::load_state(const std::vector<std::pair<std::string, torch::Tensor>>& state) {
  std::set<std::string> expected;
  for (const auto& [k, t] : this->state()) expected.insert(k);
  std::set<std::string> seen;
  for (const auto& [key, t] : state) {
    const auto dot = key.rfind('.');
    if (dot == std::string::npos || !expected.count(key))
      throw Error("quant state: unexpected tensor " + key);
    if (!seen.insert(key).second) throw Error("quant state: tensor " + key + " given twice");
    const std::string module = key.substr(0, dot), name = key.substr(dot + 1);
    Entry& e = entry(module);
    if (name == "input_alpha")
      e.aq->load_state(module, name, t);
    else
      e.wq->load_state(name, t);
  }
  for (const auto& k : expected)
    if (!seen.count(k)) throw Error("quant state: missing tensor " + k);
  for (auto& [name, e] : entries_) e.prev_codes = comparable_codes(e, e.wq->quantize(e.latent));
}

}  // namespace qatwb::quant
