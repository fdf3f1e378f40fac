// ProjectConfig -> tree -> YAML / JSON (the resolved config a run records).
#include <cstdio>
#include <cstdlib>

#include "core/project/project_yaml.h"

namespace qatwb::project {

std::string format_number(double v) {
  char buf[64];
  for (int precision = 6; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  std::string s = buf;
  // Keep it a float in YAML/JSON readers that care ("4" would read back as an integer: fine for
  // us, but "4.0" says what the field is).
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

namespace {

using Hint = ConfigNode::Hint;

struct MapBuilder {
  ConfigNode node = ConfigNode::make_map();
  MapBuilder& str(const std::string& key, const std::string& v) {
    node.set(key, ConfigNode::make_scalar(v, Hint::String));
    return *this;
  }
  MapBuilder& integer(const std::string& key, int64_t v) {
    node.set(key, ConfigNode::make_scalar(std::to_string(v), Hint::Integer));
    return *this;
  }
  MapBuilder& number(const std::string& key, double v) {
    node.set(key, ConfigNode::make_scalar(format_number(v), Hint::Number));
    return *this;
  }
  MapBuilder& boolean(const std::string& key, bool v) {
    node.set(key, ConfigNode::make_scalar(v ? "true" : "false", Hint::Boolean));
    return *this;
  }
  MapBuilder& child(const std::string& key, ConfigNode v) {
    node.set(key, std::move(v));
    return *this;
  }
};

ConfigNode string_list(const std::vector<std::string>& values) {
  ConfigNode seq = ConfigNode::make_sequence();
  for (const auto& v : values) seq.items.push_back(ConfigNode::make_scalar(v, Hint::String));
  return seq;
}

ConfigNode quant_node(const quant::QuantScheme& q) {
  MapBuilder params;
  params.number("amplitude", q.params.amplitude)
      .integer("fourier_order", q.params.fourier_order)
      .number("alpha", q.params.dsq_alpha)
      .boolean("learn_alpha", q.params.dsq_learn_alpha)
      .str("scale_grad", quant::to_string(q.params.dsq_scale_grad))
      .number("delta", q.params.ewgs_delta)
      .number("lsq_grad_scale", q.params.lsq_grad_scale)
      .number("reg_weight", q.params.adaround_reg_weight)
      .number("beta_start", q.params.adaround_beta_start)
      .number("beta_end", q.params.adaround_beta_end)
      .number("reg_warmup", q.params.adaround_reg_warmup);
  MapBuilder act;
  act.str("kind", enum_name(q.activations.kind))
      .boolean("signed", q.activations.pact_signed)
      .integer("bits", q.activations.pact_bits)
      .number("alpha_init", q.activations.pact_alpha_init)
      .number("l2", q.activations.pact_l2);
  MapBuilder m;
  m.boolean("enabled", q.enabled).str("format", quant::to_string(q.format));
  if (q.format == quant::Format::Int) m.number("bits", q.bits);
  if (q.format == quant::Format::Gguf) m.str("gguf_type", quant::to_string(q.gguf_type));
  const bool ggml = q.format == quant::Format::Gguf;  // the type fixes layout and init
  if (!ggml)
    m.str("granularity", quant::to_string(q.granularity))
        .integer("group_size", q.group_size)
        .boolean("symmetric", q.symmetric);
  m.str("scale", quant::to_string(q.scale_mode));
  if (!ggml) m.str("scale_init", quant::to_string(q.scale_init));
  m.str("surrogate", quant::to_string(q.surrogate))
      .child("surrogate_params", params.node)
      .child("activations", act.node)
      .child("include", string_list(q.include))
      .child("exclude", string_list(q.exclude));
  if (!q.overrides.empty()) {
    ConfigNode seq = ConfigNode::make_sequence();
    for (const auto& o : q.overrides) {
      MapBuilder e;
      e.str("match", o.match);
      if (o.enabled) e.boolean("enabled", *o.enabled);
      if (o.format) e.str("format", quant::to_string(*o.format));
      if (o.bits) e.number("bits", *o.bits);
      if (o.granularity) e.str("granularity", quant::to_string(*o.granularity));
      if (o.group_size) e.integer("group_size", *o.group_size);
      if (o.surrogate) e.str("surrogate", quant::to_string(*o.surrogate));
      seq.items.push_back(std::move(e.node));
    }
    m.child("overrides", std::move(seq));
  }
  if (!q.schedule.empty()) {
    ConfigNode seq = ConfigNode::make_sequence();
    for (const auto& p : q.schedule) {
      MapBuilder e;
      e.integer("until", p.until);
      if (p.bits) e.number("bits", *p.bits);
      if (p.amplitude) e.number("amplitude", *p.amplitude);
      if (p.ewgs_delta) e.number("ewgs_delta", *p.ewgs_delta);
      if (p.linear) e.str("ramp", "linear");
      seq.items.push_back(std::move(e.node));
    }
    m.child("schedule", std::move(seq));
  }
  return m.node;
}

ConfigNode train_node(const TrainSection& t) {
  ConfigNode betas = ConfigNode::make_sequence();
  betas.items.push_back(ConfigNode::make_scalar(format_number(t.beta1), Hint::Number));
  betas.items.push_back(ConfigNode::make_scalar(format_number(t.beta2), Hint::Number));
  MapBuilder sched;
  sched.str("kind", enum_name(t.schedule.kind))
      .integer("warmup_steps", t.schedule.warmup_steps)
      .number("min_lr_ratio", t.schedule.min_lr_ratio);
  MapBuilder m;
  m.integer("steps", t.steps)
      .integer("batch_size", t.batch_size)
      .integer("grad_accum", t.grad_accum)
      .number("lr", t.lr)
      .number("quant_lr", t.quant_lr)
      .number("weight_decay", t.weight_decay)
      .child("betas", betas)
      .number("eps", t.eps)
      .number("grad_clip", t.grad_clip)
      .child("schedule", sched.node)
      .integer("seed", t.seed)
      .str("device", t.device)
      .str("dtype", enum_name(t.dtype))
      .boolean("activation_checkpointing", t.activation_checkpointing)
      .str("optimizer_states", enum_name(t.optimizer_states))
      .boolean("zero1", t.zero1)
      .integer("threads", t.threads)
      .integer("checkpoint_every", t.checkpoint_every)
      .integer("max_bad_steps", t.max_bad_steps)
      .integer("log_every", t.log_every)
      .integer("detail_every", t.detail_every)
      .number("spike_k", t.spike_k)
      .integer("spike_window", t.spike_window);
  if (t.distill.enabled) {
    MapBuilder d;
    d.boolean("enabled", true)
        .str("teacher", t.distill.teacher)
        .number("temperature", t.distill.temperature)
        .str("loss", enum_name(t.distill.loss));
    if (t.distill.loss == DistillSection::Loss::CeKl) d.number("weight", t.distill.weight);
    m.child("distill", d.node);
  }
  return m.node;
}

}  // namespace

ConfigNode to_node(const ProjectConfig& c) {
  MapBuilder model;
  if (!c.model.path.empty()) model.str("path", c.model.path);
  if (!c.model.preset.empty()) model.str("preset", c.model.preset);
  if (!c.model.tokenizer.empty()) model.str("tokenizer", c.model.tokenizer);
  model.integer("seed", c.model.seed);

  ConfigNode sources = ConfigNode::make_sequence();
  for (const auto& s : c.data.sources) {
    MapBuilder src;
    src.str("path", s.path).str("text_field", s.text_field).number("weight", s.weight);
    sources.items.push_back(src.node);
  }
  MapBuilder data;
  data.child("sources", sources)
      .integer("seed", c.data.seed)
      .integer("max_documents", c.data.max_documents)
      .integer("max_tokens", c.data.max_tokens)
      .number("heldout_fraction", c.data.heldout_fraction)
      .boolean("stop_on_bad_line", c.data.stop_on_bad_line);

  MapBuilder tok;
  tok.integer("seq_len", c.tokenize.seq_len)
      .str("bos", enum_name(c.tokenize.bos))
      .boolean("eos_between_documents", c.tokenize.eos_between_documents)
      .integer("threads", c.tokenize.threads);

  MapBuilder eval;
  eval.integer("every", c.eval.every)
      .integer("seq_len", c.eval.seq_len)
      .integer("max_windows", c.eval.max_windows)
      .boolean("post_quant_ppl", c.eval.post_quant_ppl);
  if (!c.eval.text.empty()) eval.str("text", c.eval.text);

  MapBuilder easgd;
  if (c.easgd.enabled) {
    std::vector<std::string> rounding;
    for (auto r : c.easgd.worker_rounding) rounding.push_back(quant::to_string(r));
    easgd.boolean("enabled", true)
        .str("mode", enum_name(c.easgd.mode))
        .number("alpha", c.easgd.alpha)
        .number("beta", c.easgd.beta)
        .integer("tau", c.easgd.tau)
        .integer("stickiness", c.easgd.stickiness)
        .child("rounding", string_list(rounding));
    if (!c.easgd.worker_betas.empty()) {
      ConfigNode betas = ConfigNode::make_sequence();
      for (double b : c.easgd.worker_betas)
        betas.items.push_back(ConfigNode::make_scalar(format_number(b), Hint::Number));
      easgd.child("worker_betas", betas);
    }
  }

  MapBuilder runner;
  runner.str("kind", enum_name(c.runner.kind))
      .str("host", c.runner.host)
      .str("remote_dir", c.runner.remote_dir)
      .str("partition", c.runner.partition)
      .integer("gpus", c.runner.gpus)
      .str("time_limit", c.runner.time_limit)
      .integer("nodes", c.runner.nodes)
      .integer("tasks_per_node", c.runner.tasks_per_node)
      .str("account", c.runner.account);

  MapBuilder root;
  root.str("name", c.name)
      .str("description", c.description)
      .child("model", model.node)
      .child("data", data.node)
      .child("tokenize", tok.node)
      .child("quant", quant_node(c.quant))
      .child("train", train_node(c.train))
      .child("eval", eval.node);
  if (c.easgd.enabled) root.child("easgd", easgd.node);
  root.child("runner", runner.node);
  return root.node;
}

std::string to_yaml(const ProjectConfig& config) {
  std::string header = "# Resolved project";
  if (!config.file.empty()) header += " (from " + config.file + ")";
  return header + "\n" + emit_yaml(to_node(config));
}

std::string to_json(const ProjectConfig& config, int indent) {
  return emit_json(to_node(config), indent);
}

}  // namespace qatwb::project
