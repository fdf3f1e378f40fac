#include "core/project/project_yaml.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/project/field_patterns.h"
#include "core/project/field_reader.h"
#include "core/project/quant_schedule_yaml.h"

namespace fs = std::filesystem;

namespace qatwb::project {

std::string Diagnostic::to_string() const {
  Origin o;
  o.file = file;
  o.line = line;
  o.col = col;
  return o.where() + ": " + (field.empty() ? "" : field + ": ") + message;
}

namespace {

std::string join_diagnostics(const std::vector<Diagnostic>& ds) {
  std::string s;
  for (const auto& d : ds) s += (s.empty() ? "" : "\n") + d.to_string();
  return s;
}

// Resolves a relative path against the folder of the YAML file (or override) that wrote it.
void resolve_path(const ConfigNode* n, std::string& path) {
  if (!n || path.empty() || path.rfind("run:", 0) == 0) return;
  fs::path p(path);
  if (p.is_absolute() || n->origin.base_dir.empty()) return;
  path = (fs::path(n->origin.base_dir) / p).lexically_normal().string();
}

bool is_power_of_two(int64_t v) { return v > 0 && (v & (v - 1)) == 0; }

// Reads and validates one section at a time; `r` collects every mistake.
class ProjectTyper {
 public:
  ProjectTyper(const ConfigNode& root, const std::string& file, bool check_paths)
      : root_(root), check_paths_(check_paths) {
    config_.file = file;
  }

  ProjectConfig run() {
    r_.check_keys(root_, "",
                  {"name", "description", "extends", "model", "data", "tokenize", "quant", "train",
                   "eval", "easgd", "runner"});
    read_top();
    read_model();
    read_data();
    read_tokenize();
    read_quant();
    read_train();
    read_eval();
    read_easgd();
    read_runner();
    check_quant_schedule(r_, schedule_node_, config_.quant, config_.train.steps,
                         config_.easgd.enabled);
    if (config_.train.zero1 && config_.easgd.enabled)
      fail(zero1_node_, "train.zero1",
           "does not combine with easgd (each EASGD worker keeps its own optimizer)");
    if (check_paths_) check_paths();
    if (!r_.diagnostics().empty()) throw ProjectErrors(r_.diagnostics());
    return config_;
  }

 private:
  void fail(const ConfigNode* at, const std::string& field, const std::string& message) {
    r_.error(at ? at->origin : root_.origin, field, message);
  }

  void read_top() {
    config_.name = fs::path(config_.file).stem().string();
    if (auto* n = r_.read_string(&root_, "name", "", config_.name)) {
      if (!is_plain_name(config_.name))
        fail(n, "name",
             "must be a plain name (letters, digits, '.', '_', '-'): it names the run folder");
    }
    r_.read_string(&root_, "description", "", config_.description);
  }

  void read_model() {
    auto& m = config_.model;
    const ConfigNode* sec =
        r_.section(&root_, "model", "", {"path", "preset", "tokenizer", "seed"});
    auto* path = r_.read_string(sec, "path", "model", m.path);
    auto* preset = r_.read_string(sec, "preset", "model", m.preset);
    auto* tok = r_.read_string(sec, "tokenizer", "model", m.tokenizer);
    r_.read_int(sec, "seed", "model", m.seed);
    if (m.path.empty() == m.preset.empty()) {
      const ConfigNode* at = preset ? preset : path ? path : sec ? sec : root_.find("model");
      fail(at, m.path.empty() ? "model" : "model.preset",
           m.path.empty() ? "needs exactly one of path or preset (neither is set)"
                          : "give exactly one of model.path and model.preset, not both");
    }
    resolve_path(path, m.path);
    resolve_path(tok, m.tokenizer);
    paths_.push_back({path, "model.path", m.path, PathKind::ModelFolder});
    paths_.push_back({tok, "model.tokenizer", m.tokenizer, PathKind::File});
    if (m.tokenizer.empty() && !m.path.empty() && m.path.rfind("run:", 0) != 0)
      m.tokenizer = (fs::path(m.path) / "tokenizer.json").string();
  }

  void read_data() {
    auto& d = config_.data;
    const ConfigNode* sec = r_.section(
        &root_, "data", "",
        {"sources", "seed", "max_documents", "max_tokens", "heldout_fraction", "stop_on_bad_line"});
    const ConfigNode* sources = sec ? sec->find("sources") : nullptr;
    if (sources && sources->kind == ConfigNode::Kind::Sequence) {
      for (size_t i = 0; i < sources->items.size(); ++i) read_source(sources->items[i], i);
      if (sources->items.empty()) fail(sources, "data.sources", "needs at least one source");
    } else if (sources && sources->kind != ConfigNode::Kind::Null) {
      fail(sources, "data.sources", "expected a list of sources, got " + sources->describe());
    } else {
      fail(sources ? sources
           : sec   ? sec
                   : nullptr,
           "data.sources", "needs at least one source (- path: corpus.jsonl)");
    }
    r_.read_int(sec, "seed", "data", d.seed);
    if (auto* n = r_.read_int(sec, "max_documents", "data", d.max_documents);
        n && d.max_documents < 0)
      fail(n, "data.max_documents", "must be >= 0 (0: no limit)");
    if (auto* n = r_.read_int(sec, "max_tokens", "data", d.max_tokens); n && d.max_tokens < 0)
      fail(n, "data.max_tokens", "must be >= 0 (0: no limit)");
    if (auto* n = r_.read_number(sec, "heldout_fraction", "data", d.heldout_fraction);
        n && !(d.heldout_fraction > 0 && d.heldout_fraction < 1))
      fail(n, "data.heldout_fraction", "must be in (0, 1), got " + n->scalar);
    r_.read_bool(sec, "stop_on_bad_line", "data", d.stop_on_bad_line);
  }

  void read_source(const ConfigNode& item, size_t i) {
    std::string field = "data.sources[" + std::to_string(i) + "]";
    if (!item.is_map()) {
      fail(&item, field,
           "expected a map with path (and text_field, weight), got " + item.describe());
      return;
    }
    r_.check_keys(item, field, {"path", "text_field", "weight"});
    DataSource s;
    auto* path = r_.read_string(&item, "path", field, s.path);
    if (s.path.empty()) fail(path ? path : &item, field + ".path", "is required");
    resolve_path(path, s.path);
    paths_.push_back({path, field + ".path", s.path, PathKind::Any});
    r_.read_string(&item, "text_field", field, s.text_field);
    if (auto* n = r_.read_number(&item, "weight", field, s.weight); n && !(s.weight > 0))
      fail(n, field + ".weight", "must be > 0, got " + n->scalar);
    config_.data.sources.push_back(s);
  }

  void read_tokenize() {
    auto& t = config_.tokenize;
    const ConfigNode* sec =
        r_.section(&root_, "tokenize", "", {"seq_len", "bos", "eos_between_documents", "threads"});
    if (auto* n = r_.read_int(sec, "seq_len", "tokenize", t.seq_len); n && t.seq_len < 8)
      fail(n, "tokenize.seq_len", "must be >= 8, got " + n->scalar);
    read_enum(sec, "bos", "tokenize", t.bos);
    r_.read_bool(sec, "eos_between_documents", "tokenize", t.eos_between_documents);
    if (auto* n = r_.read_int(sec, "threads", "tokenize", t.threads); n && t.threads < 0)
      fail(n, "tokenize.threads", "must be >= 0 (0: all cores)");
  }

  // A field whose value is one name of E's table (core/util/enum_table.h), or of the `names`
  // subset of it; returns the node when present and valid (out set), else nullptr.
  template <typename E>
  const ConfigNode* read_enum(const ConfigNode* sec, const std::string& key,
                              const std::string& path, E& out,
                              const std::vector<std::string>& names = enum_names<E>()) {
    std::string s;
    const ConfigNode* n = r_.read_choice(sec, key, path, names, s);
    if (n) out = *parse_enum<E>(s);
    return n;
  }

  // An optional field (an override's): set only when the key is present and valid.
  template <typename E>
  const ConfigNode* read_enum(const ConfigNode* sec, const std::string& key,
                              const std::string& path, std::optional<E>& out,
                              const std::vector<std::string>& names = enum_names<E>()) {
    E v{};
    const ConfigNode* n = read_enum(sec, key, path, v, names);
    if (n) out = v;
    return n;
  }

  void read_quant() {
    auto& q = config_.quant;
    const std::string P = "quant";
    const ConfigNode* sec =
        r_.section(&root_, "quant", "",
                   {"enabled", "format", "bits", "granularity", "group_size", "symmetric", "scale",
                    "scale_init", "surrogate", "surrogate_params", "activations", "include",
                    "exclude", "overrides", "schedule", "gguf_type"});
    r_.read_bool(sec, "enabled", P, q.enabled);
    read_enum(sec, "format", P, q.format);
    auto* bits = r_.read_number(sec, "bits", P, q.bits);
    if (q.format == quant::Format::Gguf) {
      read_gguf_type(sec, bits);
    } else if (auto* gt = sec ? sec->find("gguf_type") : nullptr) {
      fail(gt, "quant.gguf_type",
           std::string("applies to format: gguf, the format is ") + quant::to_string(q.format));
    }
    if (q.format != quant::Format::Int) {
      if (bits && q.bits != 4 && q.format != quant::Format::Gguf)
        fail(bits, "quant.bits",
             std::string(quant::to_string(q.format)) +
                 " is 4-bit by definition; remove bits or "
                 "set it to 4, got " +
                 bits->scalar);
      q.bits = 4;
    } else if (bits) {
      if (!quant::valid_int_bits(q.bits))
        fail(
            bits, "quant.bits",
            "expected one of " + join_names(quant::int_bits_names()) + ", got " + bits->describe());
    }
    auto* gran = sec ? sec->find("granularity") : nullptr;
    read_enum(sec, "granularity", P, q.granularity);
    int64_t group = q.group_size;
    auto* gs = r_.read_int(sec, "group_size", P, group);
    if (gs) {
      if (!is_power_of_two(group))
        fail(gs, "quant.group_size", "must be a power of two > 0, got " + gs->scalar);
      else if (group > (int64_t{1} << 20))
        fail(gs, "quant.group_size", "is too large: " + gs->scalar);
      else
        q.group_size = static_cast<int>(group);
    }
    if (q.granularity == quant::Granularity::PerGroup && !(sec && sec->find("group_size")))
      fail(gran, "quant.granularity", "per_group requires group_size (e.g. group_size: 128)");
    r_.read_bool(sec, "symmetric", P, q.symmetric);
    read_enum(sec, "scale", P, q.scale_mode);
    auto* init = read_enum(sec, "scale_init", P, q.scale_init);
    if (init && q.scale_mode == quant::ScaleMode::MinMax && q.scale_init != quant::ScaleInit::Auto)
      fail(init, "quant.scale_init",
           "applies to learned and frozen scales; scale: minmax recomputes s = max|w|/Qp "
           "(asymmetric: (max - min)/(2^b - 1)) every forward, got " +
               init->scalar);
    auto* surrogate = read_enum(sec, "surrogate", P, q.surrogate);
    if (quant::surrogate_rules(q.surrogate).learned_rounding) check_adaround(sec, surrogate, P);
    if (surrogate && q.enabled && !quant::surrogate_allowed(q.surrogate, q.format))
      fail(surrogate, "quant.surrogate",
           std::string("format ") + quant::to_string(q.format) + " trains with the " +
               names_or(quant::surrogates_for(q.format)) + " surrogates, got " +
               quant::to_string(q.surrogate));
    read_surrogate_params(sec);
    read_activations(sec);
    auto* inc = r_.read_string_list(sec, "include", P, q.include);
    auto* exc = r_.read_string_list(sec, "exclude", P, q.exclude);
    check_regexes(inc, "quant.include", q.include);
    check_regexes(exc, "quant.exclude", q.exclude);
    schedule_node_ = sec ? sec->find("schedule") : nullptr;
    read_quant_schedule(r_, schedule_node_, q);
    const ConfigNode* ov = sec ? sec->find("overrides") : nullptr;
    if (ov && ov->kind == ConfigNode::Kind::Sequence) {
      for (size_t i = 0; i < ov->items.size(); ++i) read_override(ov->items[i], i);
    } else if (ov && ov->kind != ConfigNode::Kind::Null) {
      fail(ov, "quant.overrides",
           "expected a list of {match: REGEX, bits, group_size, granularity, format, surrogate, "
           "enabled}, got " +
               ov->describe());
    }
  }

  // quant.format: gguf: the ggml block type fixes bits, block layout and scales.
  void read_gguf_type(const ConfigNode* sec, const ConfigNode* bits) {
    auto& q = config_.quant;
    std::vector<std::string> names;
    for (const auto& t : quant::kGgmlQuantSpecs) names.push_back(t.name);
    if (!sec || !sec->find("gguf_type"))
      fail(sec ? sec->find("format") : nullptr, "quant.format",
           "gguf requires gguf_type (q2_k, q3_k, q4_k, q5_k, q6_k, q8_0, q4_0, tq1_0, tq2_0)");
    else if (std::string t; r_.read_choice(sec, "gguf_type", "quant", names, t))
      quant::parse(t, q.gguf_type);
    if (!sec) return;
    if (bits)
      fail(bits, "quant.bits",
           std::string("format gguf takes its bits from gguf_type (") +
               quant::to_string(q.gguf_type) + "); remove bits");
    for (const char* key : {"granularity", "group_size", "symmetric", "scale_init"})
      if (auto* n = sec->find(key))
        fail(n, std::string("quant.") + key,
             std::string("does not apply to format gguf: ") + quant::to_string(q.gguf_type) +
                 " has ggml's own blocks, sub-block scales and reference initialisation");
    if (auto* n = sec->find("scale")) {
      std::string mode = n->scalar;
      if (mode == "minmax")
        fail(n, "quant.scale",
             "format gguf scales are learned or frozen (ggml's reference "
             "quantization at step 0), not minmax");
    }
  }

  // AdaRound learns rounding on a fixed INT grid of 2+ bits; without `scale` it defaults to
  // frozen scales (from scale_init), and learned ones are refused.
  void check_adaround(const ConfigNode* sec, const ConfigNode* at, const std::string& P) {
    auto& q = config_.quant;
    if (q.format != quant::Format::Int || q.bits < 2 || q.ternary())
      fail(at, P + ".surrogate",
           "adaround learns up/down rounding on an INT grid of 2..8 bits, got " +
               std::string(quant::to_string(q.format)) + " bits " + format_number(q.bits));
    const ConfigNode* scale = sec ? sec->find("scale") : nullptr;
    if (!scale)
      q.scale_mode = quant::ScaleMode::Frozen;
    else if (q.scale_mode == quant::ScaleMode::Learned)
      fail(scale, P + ".scale",
           "adaround learns the rounding of fixed weights on a fixed grid; use frozen (scales "
           "from scale_init, the default with adaround) or minmax");
  }

  // One quant.overrides entry: a regex and the fields it changes for the modules it matches.
  void read_override(const ConfigNode& item, size_t i) {
    const std::string F = "quant.overrides[" + std::to_string(i) + "]";
    if (!item.is_map()) {
      fail(&item, F,
           "expected a map with match (and bits, group_size, ...), got " + item.describe());
      return;
    }
    r_.check_keys(item, F,
                  {"match", "enabled", "format", "bits", "granularity", "group_size", "surrogate"});
    quant::SchemeOverride o;
    auto* match = r_.read_string(&item, "match", F, o.match);
    if (o.match.empty()) {
      fail(match ? match : &item, F + ".match",
           "is required: a regex over module names, e.g. 'mlp\\.down_proj$'");
    } else if (const std::string why = regex_error(o.match); !why.empty()) {
      fail(match, F + ".match", "invalid regular expression '" + o.match + "': " + why);
    }
    bool enabled = true;
    if (r_.read_bool(&item, "enabled", F, enabled)) o.enabled = enabled;
    // An override cannot switch a module to gguf (the ggml type is the scheme's).
    read_enum(&item, "format", F, o.format, enum_names_where<quant::Format>([](quant::Format f) {
      return f != quant::Format::Gguf;
    }));
    double bits = 0;
    if (auto* n = r_.read_number(&item, "bits", F, bits)) {
      const bool ok = quant::valid_int_bits(bits);
      const bool fp4 = o.format && *o.format != quant::Format::Int;
      if (!ok)
        fail(n, F + ".bits",
             "expected one of " + join_names(quant::int_bits_names()) + ", got " + n->describe());
      else if (fp4 && bits != 4)
        fail(n, F + ".bits", std::string(quant::to_string(*o.format)) + " is 4-bit by definition");
      else
        o.bits = bits;
    }
    read_enum(&item, "granularity", F, o.granularity);
    int64_t group = 0;
    if (auto* n = r_.read_int(&item, "group_size", F, group)) {
      if (!is_power_of_two(group) || group > (int64_t{1} << 20))
        fail(n, F + ".group_size", "must be a power of two > 0, got " + n->scalar);
      else
        o.group_size = static_cast<int>(group);
    }
    read_enum(&item, "surrogate", F, o.surrogate);
    if (o.surrogate && quant::surrogate_rules(*o.surrogate).learned_rounding &&
        config_.quant.scale_mode == quant::ScaleMode::Learned)
      fail(item.find("surrogate"), F + ".surrogate",
           "adaround learns the rounding on a fixed grid; quant.scale must be frozen or minmax");
    config_.quant.overrides.push_back(o);
  }

  void check_regexes(const ConfigNode* list, const std::string& field,
                     const std::vector<std::string>& patterns) {
    if (!list) return;
    for (size_t i = 0; i < patterns.size(); ++i) {
      if (const std::string why = regex_error(patterns[i]); !why.empty()) {
        const ConfigNode* at = i < list->items.size() ? &list->items[i] : list;
        fail(at, field + "[" + std::to_string(i) + "]",
             "invalid regular expression '" + patterns[i] + "': " + why);
      }
    }
  }

  void read_surrogate_params(const ConfigNode* quant_sec) {
    auto& p = config_.quant.params;
    const std::string P = "quant.surrogate_params";
    const ConfigNode* sec =
        r_.section(quant_sec, "surrogate_params", "quant",
                   {"amplitude", "fourier_order", "alpha", "learn_alpha", "scale_grad", "delta",
                    "lsq_grad_scale", "reg_weight", "beta_start", "beta_end", "reg_warmup"});
    const double a_max = 1.0 / (std::sqrt(2.0) * M_PI);
    if (auto* n = r_.read_number(sec, "amplitude", P, p.amplitude);
        n && !(p.amplitude >= 0 && p.amplitude < a_max))
      fail(n, P + ".amplitude", "must be in [0, 1/(sqrt2*pi) = 0.2251), got " + n->scalar);
    if (auto* n = r_.read_int(sec, "fourier_order", P, p.fourier_order);
        n && (p.fourier_order < 0 || p.fourier_order > 7))
      fail(n, P + ".fourier_order", "must be in [0, 7] (terms m = 0..M), got " + n->scalar);
    if (auto* n = r_.read_number(sec, "alpha", P, p.dsq_alpha);
        n && !(p.dsq_alpha > 0 && p.dsq_alpha < 0.5))
      fail(n, P + ".alpha", "must be in (0, 0.5), got " + n->scalar);
    r_.read_bool(sec, "learn_alpha", P, p.dsq_learn_alpha);
    read_enum(sec, "scale_grad", P, p.dsq_scale_grad);
    if (auto* n = r_.read_number(sec, "delta", P, p.ewgs_delta); n && p.ewgs_delta < 0)
      fail(n, P + ".delta", "must be >= 0 (0 is STE), got " + n->scalar);
    r_.read_number(sec, "lsq_grad_scale", P, p.lsq_grad_scale);
    if (auto* n = r_.read_number(sec, "reg_weight", P, p.adaround_reg_weight);
        n && !(p.adaround_reg_weight >= 0))
      fail(n, P + ".reg_weight", "must be >= 0 (0: no rounding regulariser), got " + n->scalar);
    auto* bs = r_.read_number(sec, "beta_start", P, p.adaround_beta_start);
    auto* be = r_.read_number(sec, "beta_end", P, p.adaround_beta_end);
    if (be && !(p.adaround_beta_end > 0))
      fail(be, P + ".beta_end", "must be > 0, got " + be->scalar);
    else if ((bs || be) && !(p.adaround_beta_start >= p.adaround_beta_end))
      fail(bs ? bs : be, P + ".beta_start",
           "must be >= beta_end (beta is annealed from beta_start down to beta_end), got " +
               format_number(p.adaround_beta_start) + " and " + format_number(p.adaround_beta_end));
    if (auto* n = r_.read_number(sec, "reg_warmup", P, p.adaround_reg_warmup);
        n && !(p.adaround_reg_warmup >= 0 && p.adaround_reg_warmup < 1))
      fail(n, P + ".reg_warmup",
           "must be in [0, 1) (the fraction of steps before the regulariser starts), got " +
               n->scalar);
  }

  void read_activations(const ConfigNode* quant_sec) {
    auto& a = config_.quant.activations;
    const std::string P = "quant.activations";
    const ConfigNode* sec = r_.section(quant_sec, "activations", "quant",
                                       {"kind", "signed", "bits", "alpha_init", "l2"});
    read_enum(sec, "kind", P, a.kind);
    if (auto* n = r_.read_int(sec, "bits", P, a.pact_bits);
        n && (a.pact_bits < 2 || a.pact_bits > 16))
      fail(n, P + ".bits", "must be in [2, 16], got " + n->scalar);
    if (auto* n = r_.read_number(sec, "alpha_init", P, a.pact_alpha_init);
        n && !(a.pact_alpha_init > 0))
      fail(n, P + ".alpha_init", "must be > 0, got " + n->scalar);
    if (auto* n = r_.read_number(sec, "l2", P, a.pact_l2); n && a.pact_l2 < 0)
      fail(n, P + ".l2", "must be >= 0, got " + n->scalar);
    // Every quantized Linear of a Llama reads a signed input (the RMSNorm output for q/k/v and
    // gate/up, the attention output for o_proj, the SwiGLU product for down_proj).
    const auto& q = config_.quant;
    const bool pact =
        a.kind == quant::ActivationQuant::Kind::Pact ||
        (a.kind == quant::ActivationQuant::Kind::None && q.surrogate == quant::Surrogate::Pact);
    auto* sig = r_.read_bool(sec, "signed", P, a.pact_signed);
    if (sig && q.enabled && pact && !a.pact_signed)
      fail(sig, P + ".signed",
           "unsigned PACT clips every quantized Linear's input to [0, alpha), but in a Llama "
           "those inputs are signed (post-RMSNorm, attention output, SwiGLU product): negative "
           "activations would be zeroed and get no gradient; use signed: true (clip to "
           "[-alpha, alpha])");
  }

  void read_train() {
    auto& t = config_.train;
    const std::string P = "train";
    const ConfigNode* sec = r_.section(&root_, "train", "",
                                       {"steps",
                                        "batch_size",
                                        "grad_accum",
                                        "lr",
                                        "quant_lr",
                                        "weight_decay",
                                        "betas",
                                        "eps",
                                        "grad_clip",
                                        "schedule",
                                        "seed",
                                        "device",
                                        "dtype",
                                        "activation_checkpointing",
                                        "threads",
                                        "checkpoint_every",
                                        "max_bad_steps",
                                        "log_every",
                                        "detail_every",
                                        "spike_k",
                                        "spike_window",
                                        "distill",
                                        "optimizer_states",
                                        "zero1"});
    positive_int(sec, "steps", t.steps);
    positive_int(sec, "batch_size", t.batch_size);
    positive_int(sec, "grad_accum", t.grad_accum);
    if (auto* n = r_.read_number(sec, "lr", P, t.lr); n && !(t.lr > 0))
      fail(n, "train.lr", "must be > 0, got " + n->scalar);
    if (auto* n = r_.read_number(sec, "quant_lr", P, t.quant_lr); n && t.quant_lr < 0)
      fail(n, "train.quant_lr", "must be >= 0 (0: same as lr), got " + n->scalar);
    if (auto* n = r_.read_number(sec, "weight_decay", P, t.weight_decay); n && t.weight_decay < 0)
      fail(n, "train.weight_decay", "must be >= 0, got " + n->scalar);
    read_betas(sec);
    if (auto* n = r_.read_number(sec, "eps", P, t.eps); n && !(t.eps > 0))
      fail(n, "train.eps", "must be > 0, got " + n->scalar);
    if (auto* n = r_.read_number(sec, "grad_clip", P, t.grad_clip); n && t.grad_clip < 0)
      fail(n, "train.grad_clip", "must be >= 0 (0: off), got " + n->scalar);
    read_schedule(sec);
    r_.read_int(sec, "seed", P, t.seed);
    if (auto* n = r_.read_string(sec, "device", P, t.device); n && !is_device(t.device))
      fail(n, "train.device", "expected cpu, cuda or cuda:N, got '" + t.device + "'");
    read_enum(sec, "dtype", P, t.dtype);
    r_.read_bool(sec, "activation_checkpointing", P, t.activation_checkpointing);
    read_enum(sec, "optimizer_states", P, t.optimizer_states);
    zero1_node_ = r_.read_bool(sec, "zero1", P, t.zero1);
    if (auto* n = r_.read_int(sec, "threads", P, t.threads); n && t.threads < 0)
      fail(n, "train.threads", "must be >= 0 (0: all cores)");
    if (auto* n = r_.read_int(sec, "checkpoint_every", P, t.checkpoint_every);
        n && t.checkpoint_every < 0)
      fail(n, "train.checkpoint_every", "must be >= 0 (0: only at the end)");
    positive_int(sec, "max_bad_steps", t.max_bad_steps);
    positive_int(sec, "log_every", t.log_every);
    if (auto* n = r_.read_int(sec, "detail_every", P, t.detail_every); n && t.detail_every < 0)
      fail(n, "train.detail_every", "must be >= 0 (0: off)");
    if (auto* n = r_.read_number(sec, "spike_k", P, t.spike_k); n && !(t.spike_k > 0))
      fail(n, "train.spike_k", "must be > 0, got " + n->scalar);
    if (auto* n = r_.read_int(sec, "spike_window", P, t.spike_window); n && t.spike_window < 2)
      fail(n, "train.spike_window", "must be >= 2, got " + n->scalar);
    read_distill(sec);
  }

  void read_distill(const ConfigNode* train_sec) {
    auto& d = config_.train.distill;
    const std::string P = "train.distill";
    const ConfigNode* sec = r_.section(train_sec, "distill", "train",
                                       {"enabled", "teacher", "temperature", "weight", "loss"});
    if (!sec) return;
    d.enabled = true;  // a present section means on, unless `enabled: false`
    r_.read_bool(sec, "enabled", P, d.enabled);
    if (auto* n = r_.read_string(sec, "teacher", P, d.teacher)) {
      if (d.teacher.empty())
        fail(n, P + ".teacher",
             "expected self_fp (the unquantized starting model) or a model folder");
      if (!d.self_teacher()) {
        resolve_path(n, d.teacher);
        paths_.push_back({n, P + ".teacher", d.teacher, PathKind::ModelFolder});
      }
    }
    if (auto* n = r_.read_number(sec, "temperature", P, d.temperature);
        n && !(d.temperature > 0 && d.temperature <= 100))
      fail(n, P + ".temperature", "must be in (0, 100], got " + n->scalar);
    read_enum(sec, "loss", P, d.loss);
    if (auto* n = r_.read_number(sec, "weight", P, d.weight)) {
      if (!(d.weight > 0 && d.weight <= 1))
        fail(n, P + ".weight", "must be in (0, 1] (the KD term's share), got " + n->scalar);
      else if (d.loss == DistillSection::Loss::Kl && d.weight != 1)
        fail(n, P + ".weight",
             "applies to loss: ce+kl ((1 - w) * CE + w * KD); loss: kl is pure distillation");
    }
  }

  void positive_int(const ConfigNode* sec, const std::string& key, int64_t& out) {
    if (auto* n = r_.read_int(sec, key, "train", out); n && out < 1)
      fail(n, "train." + key, "must be >= 1, got " + n->scalar);
  }

  void read_betas(const ConfigNode* sec) {
    const ConfigNode* n = sec ? sec->find("betas") : nullptr;
    if (!n) return;
    if (n->kind != ConfigNode::Kind::Sequence || n->items.size() != 2) {
      fail(n, "train.betas", "expected a list of two numbers [beta1, beta2], got " + n->describe());
      return;
    }
    double b[2];
    for (int i = 0; i < 2; ++i) {
      std::string field = "train.betas[" + std::to_string(i) + "]";
      if (!r_.to_number(n->items[i], field, b[i])) return;
      if (!(b[i] >= 0 && b[i] < 1)) {
        fail(&n->items[i], field, "must be in [0, 1), got " + n->items[i].scalar);
        return;
      }
    }
    config_.train.beta1 = b[0];
    config_.train.beta2 = b[1];
  }

  void read_schedule(const ConfigNode* train_sec) {
    auto& s = config_.train.schedule;
    const std::string P = "train.schedule";
    const ConfigNode* sec =
        r_.section(train_sec, "schedule", "train", {"kind", "warmup_steps", "min_lr_ratio"});
    read_enum(sec, "kind", P, s.kind);
    if (auto* n = r_.read_int(sec, "warmup_steps", P, s.warmup_steps); n && s.warmup_steps < 0)
      fail(n, P + ".warmup_steps", "must be >= 0, got " + n->scalar);
    if (auto* n = r_.read_number(sec, "min_lr_ratio", P, s.min_lr_ratio);
        n && !(s.min_lr_ratio >= 0 && s.min_lr_ratio <= 1))
      fail(n, P + ".min_lr_ratio", "must be in [0, 1], got " + n->scalar);
  }

  void read_eval() {
    auto& e = config_.eval;
    const std::string P = "eval";
    const ConfigNode* sec = r_.section(
        &root_, "eval", "", {"every", "seq_len", "max_windows", "post_quant_ppl", "text"});
    if (auto* n = r_.read_int(sec, "every", P, e.every); n && e.every < 0)
      fail(n, "eval.every", "must be >= 0 (0: only at the end)");
    if (auto* n = r_.read_int(sec, "seq_len", P, e.seq_len); n && e.seq_len != 0 && e.seq_len < 8)
      fail(n, "eval.seq_len", "must be >= 8 (or 0: tokenize.seq_len), got " + n->scalar);
    if (auto* n = r_.read_int(sec, "max_windows", P, e.max_windows); n && e.max_windows < 0)
      fail(n, "eval.max_windows", "must be >= 0 (0: all)");
    r_.read_bool(sec, "post_quant_ppl", P, e.post_quant_ppl);
    auto* text = r_.read_string(sec, "text", P, e.text);
    resolve_path(text, e.text);
    paths_.push_back({text, "eval.text", e.text, PathKind::File});
  }

  void read_easgd() {
    auto& e = config_.easgd;
    const std::string P = "easgd";
    const ConfigNode* sec = r_.section(
        &root_, "easgd", "",
        {"enabled", "mode", "alpha", "beta", "tau", "stickiness", "worker_betas", "rounding"});
    if (!sec) return;
    e.enabled = true;  // a present section means on, unless `enabled: false`
    r_.read_bool(sec, "enabled", P, e.enabled);
    read_enum(sec, "mode", P, e.mode);
    if (auto* n = r_.read_number(sec, "alpha", P, e.alpha); n && !(e.alpha >= 0 && e.alpha <= 1))
      fail(n, "easgd.alpha", "must be in [0, 1], got " + n->scalar);
    if (auto* n = r_.read_number(sec, "beta", P, e.beta); n && !(e.beta >= 0 && e.beta <= 2))
      fail(n, "easgd.beta", "must be in [0, 2], got " + n->scalar);
    if (auto* n = r_.read_int(sec, "tau", P, e.tau); n && e.tau < 1)
      fail(n, "easgd.tau", "must be >= 1 (steps between elastic updates), got " + n->scalar);
    if (auto* n = r_.read_int(sec, "stickiness", P, e.stickiness); n && e.stickiness < 1)
      fail(n, "easgd.stickiness",
           "must be >= 1 (steps a worker trains per turn), got " + n->scalar);
    if (const ConfigNode* n = sec->find("worker_betas")) {
      if (n->kind != ConfigNode::Kind::Sequence || n->items.empty()) {
        fail(n, "easgd.worker_betas", "expected a non-empty list of numbers, got " + n->describe());
      } else {
        e.worker_betas.clear();
        for (size_t i = 0; i < n->items.size(); ++i) {
          const std::string field = "easgd.worker_betas[" + std::to_string(i) + "]";
          double b = 0;
          if (!r_.to_number(n->items[i], field, b)) continue;
          if (!(b >= 0 && b <= 2))
            fail(&n->items[i], field, "must be in [0, 2], got " + n->items[i].scalar);
          e.worker_betas.push_back(b);
        }
      }
    }
    std::vector<std::string> rounding;
    if (auto* n = r_.read_string_list(sec, "rounding", P, rounding)) {
      if (rounding.empty())
        fail(n, "easgd.rounding",
             "expected a non-empty list of " + enum_list<quant::Rounding>(" / "));
      std::vector<quant::Rounding> parsed;
      for (size_t i = 0; i < rounding.size(); ++i) {
        const auto r = parse_enum<quant::Rounding>(rounding[i]);
        if (!r) {
          fail(n, "easgd.rounding[" + std::to_string(i) + "]",
               "expected " + names_or(enum_names<quant::Rounding>()) + ", got '" + rounding[i] +
                   "'");
          continue;
        }
        parsed.push_back(*r);
      }
      if (!parsed.empty()) e.worker_rounding = parsed;
      const bool directed = std::any_of(parsed.begin(), parsed.end(), [](quant::Rounding r) {
        return r != quant::Rounding::Nearest;
      });
      const auto& q = config_.quant;
      const bool remainder_free = quant::surrogate_rules(q.surrogate).remainder_free;
      if (directed && (!q.enabled || q.format != quant::Format::Int || q.ternary() ||
                       q.bits < 1.5 || !remainder_free))
        fail(n, "easgd.rounding",
             "up / down rounding needs an INT weight grid of 2+ bits and a surrogate whose "
             "gradient does not depend on the rounding remainder (" +
                 names_or(enum_names_where<quant::Surrogate>(
                     [](quant::Surrogate s) { return quant::surrogate_rules(s).remainder_free; })) +
                 "), got " + quant::to_string(q.surrogate));
    }
  }

  void read_runner() {
    auto& rn = config_.runner;
    const std::string P = "runner";
    const ConfigNode* sec = r_.section(&root_, "runner", "",
                                       {"kind", "host", "remote_dir", "partition", "gpus",
                                        "time_limit", "nodes", "tasks_per_node", "account"});
    auto* kind_node = read_enum(sec, "kind", P, rn.kind);
    r_.read_string(sec, "host", P, rn.host);
    r_.read_string(sec, "remote_dir", P, rn.remote_dir);
    r_.read_string(sec, "partition", P, rn.partition);
    if (auto* n = r_.read_int(sec, "gpus", P, rn.gpus); n && rn.gpus < 0)
      fail(n, "runner.gpus", "must be >= 0");
    if (auto* n = r_.read_string(sec, "time_limit", P, rn.time_limit);
        n && !rn.time_limit.empty() && !is_slurm_time(rn.time_limit))
      fail(n, "runner.time_limit",
           "expected a Slurm time limit such as 04:00:00, 1-00:00:00 or 90 (minutes), got '" +
               rn.time_limit + "'");
    if (auto* n = r_.read_int(sec, "nodes", P, rn.nodes); n && rn.nodes < 1)
      fail(n, "runner.nodes", "must be >= 1");
    if (auto* n = r_.read_int(sec, "tasks_per_node", P, rn.tasks_per_node);
        n && rn.tasks_per_node < 0)
      fail(n, "runner.tasks_per_node", "must be >= 0 (0: one rank per GPU)");
    if (auto* n = r_.read_string(sec, "account", P, rn.account); n && !is_one_word(rn.account))
      fail(n, "runner.account", "must be one word (a Slurm account name)");
    if (rn.kind == jobs::LauncherKind::Ssh && rn.host.empty())
      fail(kind_node, "runner.host", "the ssh runner needs host (user@host[:port])");
  }

  // Every path the run will open must exist (project check, and before a local run starts):
  // a missing model folder otherwise surfaces only after the run directory was made.
  void check_paths() {
    const auto& m = config_.model;
    for (const auto& p : paths_) {
      if (!p.node || p.path.empty() || p.path.rfind("run:", 0) == 0) continue;
      std::error_code ec;
      const auto st = fs::status(p.path, ec);
      if (!fs::exists(st)) {
        fail(p.node, p.field,
             "no such " +
                 std::string(p.kind == PathKind::ModelFolder ? "folder"
                             : p.kind == PathKind::File      ? "file"
                                                             : "file or folder") +
                 " '" + p.path + "'");
      } else if (p.kind == PathKind::ModelFolder) {
        if (!fs::is_directory(st))
          fail(p.node, p.field, "'" + p.path + "' is not a folder (an HF model folder)");
        else if (!fs::exists(fs::path(p.path) / "config.json", ec))
          fail(p.node, p.field, "'" + p.path + "' has no config.json (not an HF model folder)");
        else if (m.tokenizer == (fs::path(m.path) / "tokenizer.json").string() &&
                 !fs::exists(m.tokenizer, ec))
          fail(p.node, p.field,
               "'" + p.path + "' has no tokenizer.json (set model.tokenizer to one)");
      } else if (p.kind == PathKind::File && fs::is_directory(st)) {
        fail(p.node, p.field, "'" + p.path + "' is a folder, expected a file");
      }
    }
  }

  enum class PathKind { File, ModelFolder, Any };
  struct PathField {
    const ConfigNode* node;
    std::string field;
    std::string path;
    PathKind kind;
  };

  const ConfigNode& root_;
  const ConfigNode* schedule_node_ = nullptr;
  const ConfigNode* zero1_node_ = nullptr;
  bool check_paths_;
  ProjectConfig config_;
  FieldReader r_;
  std::vector<PathField> paths_;
};

}  // namespace

ProjectErrors::ProjectErrors(std::vector<Diagnostic> diagnostics)
    : Error(join_diagnostics(diagnostics)), diagnostics_(std::move(diagnostics)) {}

ProjectConfig type_project(const ConfigNode& root, const std::string& file, bool check_paths) {
  return ProjectTyper(root, file, check_paths).run();
}

ProjectConfig load_project(const std::string& yaml_path, const std::vector<std::string>& overrides,
                           bool check_paths) {
  ConfigNode root = load_yaml_tree(yaml_path);
  std::string file = root.origin.file;
  std::string base_dir = fs::path(file).parent_path().string();
  for (const auto& o : overrides) apply_override(root, o, base_dir);
  return type_project(root, file, check_paths);
}

std::vector<std::string> extends_chain(const std::string& yaml_path) {
  std::vector<std::string> chain;
  load_yaml_tree(yaml_path, &chain);
  return chain;
}

}  // namespace qatwb::project
