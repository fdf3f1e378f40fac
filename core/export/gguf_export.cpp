#include "core/export/gguf_export.h"

#include <cmath>
#include <filesystem>
#include <map>
#include <optional>
#include <regex>
#include <sstream>

#include "core/export/gguf_block_map.h"
#include "core/export/gguf_tokenizer.h"
#include "core/export/gguf_writer.h"
#include "core/quant/ggml_reference.h"
#include "core/util/error.h"

namespace qatwb::exporter {
namespace {

const std::regex kLayerRe(R"(^model\.layers\.(\d+)\.(.+)\.weight$)");

const std::map<std::string, std::string>& layer_names() {
  static const std::map<std::string, std::string> m = {
      {"input_layernorm", "attn_norm"}, {"post_attention_layernorm", "ffn_norm"},
      {"self_attn.q_proj", "attn_q"},   {"self_attn.k_proj", "attn_k"},
      {"self_attn.v_proj", "attn_v"},   {"self_attn.o_proj", "attn_output"},
      {"mlp.gate_proj", "ffn_gate"},    {"mlp.up_proj", "ffn_up"},
      {"mlp.down_proj", "ffn_down"}};
  return m;
}

std::vector<uint64_t> ggml_dims(const torch::Tensor& t) {
  std::vector<uint64_t> d;
  for (int64_t k = t.dim() - 1; k >= 0; --k) d.push_back(static_cast<uint64_t>(t.size(k)));
  return d;
}

// Which heads count a q/k weight is permuted with (0: not permuted).
int64_t rope_heads(const std::string& hf_name, const model::LlamaConfig& c) {
  if (hf_name.find(".self_attn.q_proj.weight") != std::string::npos) return c.num_attention_heads;
  if (hf_name.find(".self_attn.k_proj.weight") != std::string::npos) return c.num_key_value_heads;
  return 0;
}

// Why a quantized weight cannot be a ggml block type ("" when it can); sets `type`.
std::string block_type_for(const quant::QuantizedTensor& q, GgmlType& type) {
  if (q.format != quant::Format::Int) return std::string(quant::to_string(q.format)) + " format";
  if (q.grid.kind != quant::GridKind::Int) return "non-uniform grid";
  if (!q.grid.symmetric) return "asymmetric grid (zero points)";
  if (q.granularity != quant::Granularity::PerGroup || q.group_size != 32)
    return std::string(quant::to_string(q.granularity)) + " scales" +
           (q.granularity == quant::Granularity::PerGroup
                ? " with group size " + std::to_string(q.group_size)
                : std::string()) +
           " (ggml blocks are groups of 32)";
  if (q.bits == 4 && q.grid.cmin == -8 && q.grid.cmax == 7) {
    type = GgmlType::Q4_0;
    return "";
  }
  if (q.bits == 8 && q.grid.cmin == -128 && q.grid.cmax == 127) {
    type = GgmlType::Q8_0;
    return "";
  }
  std::ostringstream os;
  os << q.bits << "-bit codes (Q4_0 holds INT4, Q8_0 INT8)";
  return os.str();
}

}  // namespace

std::string gguf_tensor_name(const std::string& hf_name) {
  if (hf_name == "model.embed_tokens.weight") return "token_embd.weight";
  if (hf_name == "model.norm.weight") return "output_norm.weight";
  if (hf_name == "lm_head.weight") return "output.weight";
  std::smatch m;
  if (!std::regex_match(hf_name, m, kLayerRe)) return "";
  auto it = layer_names().find(m[2].str());
  if (it == layer_names().end()) return "";
  return "blk." + m[1].str() + "." + it->second + ".weight";
}

torch::Tensor rope_row_permutation(int64_t rows, int64_t heads) {
  if (heads <= 0 || rows % heads != 0 || (rows / heads) % 2 != 0)
    throw Error("gguf: cannot permute " + std::to_string(rows) + " rows for " +
                std::to_string(heads) + " RoPE heads");
  return torch::arange(rows, torch::kLong)
      .view({heads, 2, rows / heads / 2})
      .transpose(1, 2)
      .reshape({-1});
}

namespace {

// The type of the tensors written in floating point: options.gguf_float, else from the dtype.
struct GgufFloat {
  std::string name;  // "f32" or "f16"
  GgmlType type = GgmlType::F32;
};

GgufFloat gguf_float_choice(const ExportSource& source, const ExportOptions& options) {
  GgufFloat f;
  f.name = options.gguf_float;
  if (f.name.empty()) f.name = output_dtype(source, options) == torch::kFloat32 ? "f32" : "f16";
  if (f.name != "f32" && f.name != "f16")
    throw Error("gguf: float type '" + f.name + "' is not f32 or f16");
  f.type = f.name == "f32" ? GgmlType::F32 : GgmlType::F16;
  return f;
}

// options.gguf_embeddings as a block type; none for "" and "f16".
std::optional<quant::GgmlQuant> gguf_embedding_type(const ExportOptions& options) {
  if (options.gguf_embeddings.empty() || options.gguf_embeddings == "f16") return std::nullopt;
  quant::GgmlQuant t;
  if (!quant::parse(options.gguf_embeddings, t) ||
      (t != quant::GgmlQuant::Q8_0 && t != quant::GgmlQuant::Q6_K))
    throw Error("gguf: embeddings type '" + options.gguf_embeddings + "' is not f16, q8_0 or q6_k");
  return t;
}

// One tensor of the file, its type decided.
struct GgufPlanned {
  std::string gguf_name, hf_name, module;
  torch::Tensor dense;  // float weight (HF rows), undefined for block types
  GgmlType type = GgmlType::F32;
  quant::GgmlBlocks blocks;  // block types other than the Q4_0 / Q8_0 of an INT grid
  bool has_blocks = false;
  std::vector<int64_t> shape;  // reference-quantized embeddings
  int64_t heads = 0;
};

// Every tensor's type, decided before anything is written (the log says why a weight stays in
// floating point), and what the summary reports.
struct GgufPlan {
  std::vector<GgufPlanned> tensors;
  std::map<std::string, int> fallback_reasons;
  std::map<GgmlType, int64_t> block_weights;  // weights per block type (general.file_type)
  std::map<GgmlType, int> block_tensors;
  double worst_scale_rounding = 0;
};

// The model's tensors in llama.cpp's order: token_embd, layers, output_norm, output.
std::vector<std::pair<std::string, torch::Tensor>> gguf_tensor_order(const ExportSource& source) {
  auto hf = source.model->hf_state_dict();
  std::vector<std::pair<std::string, torch::Tensor>> ordered;
  for (auto& nt : hf)
    if (nt.first == "model.embed_tokens.weight") ordered.push_back(nt);
  for (auto& nt : hf)
    if (nt.first.rfind("model.layers.", 0) == 0) ordered.push_back(nt);
  for (auto& nt : hf)
    if (nt.first == "model.norm.weight" || nt.first == "lm_head.weight") ordered.push_back(nt);
  if (ordered.size() != hf.size()) throw Error("gguf: the model has tensors with no ggml name");
  return ordered;
}

// A quantized module's weight: Q4_0 / Q8_0 of its INT grid, else a K-quant or other block type
// that holds its values, else its dequantized values in floating point.
void plan_quantized_weight(GgufPlanned& pl, const quant::QuantizedTensor& q, const GgufFloat& fl,
                           const ExportOptions& options, GgufPlan& plan) {
  GgmlType bt = GgmlType::F32;
  std::string why = block_type_for(q, bt);
  double rounding = 0;
  std::string why_k;
  if (!why.empty()) why_k = ggml_blocks_for(q, pl.blocks, rounding);
  if (!why.empty() && why_k.empty()) {
    pl.has_blocks = true;
    pl.type = ggml_type_of(pl.blocks.type);
    plan.block_weights[pl.type] += pl.blocks.numel;
    ++plan.block_tensors[pl.type];
    plan.worst_scale_rounding = std::max(plan.worst_scale_rounding, rounding);
  } else if (why.empty()) {
    plan.block_weights[bt] += q.codes.numel();
    ++plan.block_tensors[bt];
    pl.type = bt;
    auto s = q.scales.to(torch::kFloat);
    auto r = s.to(torch::kHalf).to(torch::kFloat);
    plan.worst_scale_rounding = std::max(
        plan.worst_scale_rounding, ((r - s).abs() / s.abs().clamp_min(1e-30)).max().item<double>());
  } else {
    ++plan.fallback_reasons[why + "; K-quants: " + why_k];
    pl.dense = quant::dequantize(q).to(torch::kFloat);
    pl.type = fl.type;
    log_line(options, "gguf: " + pl.hf_name + " written as " + fl.name + ": " + why +
                          "; K-quants: " + why_k);
  }
}

GgufPlan plan_gguf_tensors(const ExportSource& source,
                           const std::map<std::string, quant::QuantizedTensor>& quantized,
                           const GgufFloat& fl, const ExportOptions& options) {
  const model::LlamaConfig& c = source.model->config();
  const std::optional<quant::GgmlQuant> embed_type = gguf_embedding_type(options);
  GgufPlan plan;
  for (auto& [name, p] : gguf_tensor_order(source)) {
    GgufPlanned pl;
    pl.hf_name = name;
    pl.gguf_name = gguf_tensor_name(name);
    if (pl.gguf_name.empty()) throw Error("gguf: tensor " + name + " has no ggml name");
    pl.module = module_of(name);
    pl.heads = rope_heads(name, c);
    auto it = quantized.find(pl.module);
    const bool embedding = name == "model.embed_tokens.weight" || name == "lm_head.weight";
    if (it != quantized.end()) {
      plan_quantized_weight(pl, it->second, fl, options, plan);
    } else if (embedding && embed_type) {
      auto w = p.detach().to(torch::kFloat).contiguous();
      pl.blocks = quant::ggml_reference_quantize(*embed_type, w.data_ptr<float>(), w.numel(), name);
      pl.has_blocks = true;
      pl.type = ggml_type_of(*embed_type);
      pl.shape = p.sizes().vec();
    } else if (embedding && options.gguf_embeddings == "f16") {
      pl.dense = p.detach().to(torch::kFloat);
      pl.type = GgmlType::F16;
    } else {
      pl.dense = p.detach().to(torch::kFloat);
      pl.type = p.dim() == 1 ? GgmlType::F32 : fl.type;
    }
    plan.tensors.push_back(std::move(pl));
  }
  return plan;
}

// general.file_type: the block type holding most quantized weights (llama_ftype).
uint32_t gguf_file_type(const GgufPlan& plan, GgmlType float_type) {
  uint32_t file_type = float_type == GgmlType::F32 ? 0 : 1;
  int64_t most = 0;
  for (const auto& [t, n] : plan.block_weights)
    if (n > most) {
      most = n;
      file_type = quant::ggml_quant_spec(*ggml_quant_of(t)).file_type;
    }
  return file_type;
}

// general.* and llama.* (shapes, attention, RoPE base).
GgufMetadata gguf_model_metadata(const ExportSource& source, uint32_t file_type) {
  const model::LlamaConfig& c = source.model->config();
  GgufMetadata md;
  md.emplace_back("general.architecture", GgufValue::str("llama"));
  const std::string name = source.run_dir.empty()
                               ? std::string("qatwb-export")
                               : std::filesystem::path(source.run_dir).filename().string();
  md.emplace_back("general.name", GgufValue::str(name));
  md.emplace_back("general.alignment",
                  GgufValue::u32(static_cast<uint32_t>(kGgufDefaultAlignment)));
  md.emplace_back("general.file_type", GgufValue::u32(file_type));
  md.emplace_back("general.quantization_version", GgufValue::u32(2));
  md.emplace_back("llama.vocab_size", GgufValue::u32(static_cast<uint32_t>(c.vocab_size)));
  md.emplace_back("llama.context_length",
                  GgufValue::u32(static_cast<uint32_t>(c.max_position_embeddings)));
  md.emplace_back("llama.embedding_length", GgufValue::u32(static_cast<uint32_t>(c.hidden_size)));
  md.emplace_back("llama.block_count", GgufValue::u32(static_cast<uint32_t>(c.num_hidden_layers)));
  md.emplace_back("llama.feed_forward_length",
                  GgufValue::u32(static_cast<uint32_t>(c.intermediate_size)));
  md.emplace_back("llama.attention.head_count",
                  GgufValue::u32(static_cast<uint32_t>(c.num_attention_heads)));
  md.emplace_back("llama.attention.head_count_kv",
                  GgufValue::u32(static_cast<uint32_t>(c.num_key_value_heads)));
  md.emplace_back("llama.rope.freq_base", GgufValue::f32(static_cast<float>(c.rope_theta)));
  md.emplace_back("llama.attention.layer_norm_rms_epsilon",
                  GgufValue::f32(static_cast<float>(c.rms_norm_eps)));
  md.emplace_back("llama.rope.dimension_count", GgufValue::u32(static_cast<uint32_t>(c.head_dim)));
  if (c.head_dim * c.num_attention_heads != c.hidden_size) {
    md.emplace_back("llama.attention.key_length",
                    GgufValue::u32(static_cast<uint32_t>(c.head_dim)));
    md.emplace_back("llama.attention.value_length",
                    GgufValue::u32(static_cast<uint32_t>(c.head_dim)));
  }
  return md;
}

// RoPE scaling: linear as metadata; llama3 as the rope_freqs tensor (returned; undefined
// otherwise), by which llama.cpp divides each frequency.
torch::Tensor gguf_rope_scaling(const model::LlamaConfig& c, GgufMetadata& md) {
  if (c.rope_scaling && c.rope_scaling->type == "linear") {
    md.emplace_back("llama.rope.scaling.type", GgufValue::str("linear"));
    md.emplace_back("llama.rope.scaling.factor",
                    GgufValue::f32(static_cast<float>(c.rope_scaling->factor)));
  } else if (c.rope_scaling && c.rope_scaling->type == "llama3") {
    const auto scaled = model::rope_inv_freq(c);
    std::vector<float> factors;
    for (size_t i = 0; i < scaled.size(); ++i) {
      const double base =
          std::pow(c.rope_theta, -2.0 * static_cast<double>(i) / static_cast<double>(c.head_dim));
      factors.push_back(static_cast<float>(base / scaled[i]));
    }
    return torch::tensor(factors, torch::kFloat);
  }
  return {};
}

// tokenizer.ggml.* from the source's tokenizer.json (none without one: llama.cpp refuses that).
void append_gguf_tokenizer(const ExportSource& source, const ExportOptions& options,
                           GgufMetadata& md) {
  if (source.tokenizer_path.empty()) {
    log_line(options,
             "gguf: note: no tokenizer.json; the file has no tokenizer.ggml.* metadata "
             "and llama.cpp will refuse it");
    return;
  }
  const GgufVocab vocab =
      gguf_vocab_from_tokenizer_json(source.tokenizer_path, source.model->config().vocab_size);
  append_vocab_metadata(vocab, md);
  for (const auto& n : vocab.notes) log_line(options, "gguf: " + n);
  log_line(options, "gguf: tokenizer " + vocab.model + " (pre " + vocab.pre + "), " +
                        std::to_string(vocab.tokens.size()) + " tokens");
}

// A planned tensor as the writer takes it: its bytes are made when written (Q and K rows
// permuted for llama.cpp's RoPE). `pl` and `q` must outlive the write.
GgufTensorOut gguf_tensor_out(const GgufPlanned& pl, const quant::QuantizedTensor* q) {
  GgufTensorOut t;
  t.name = pl.gguf_name;
  t.type = pl.type;
  const std::vector<int64_t> shape = pl.dense.defined() ? pl.dense.sizes().vec()
                                     : q                ? q->shape
                                                        : pl.shape;
  for (auto k = shape.rbegin(); k != shape.rend(); ++k) t.dims.push_back(*k);
  const GgufPlanned* pp = &pl;
  t.bytes = [pp, q]() -> std::string {
    torch::NoGradGuard ng;
    torch::Tensor perm;
    if (pp->heads > 0) {
      const int64_t rows = pp->dense.defined() ? pp->dense.size(0) : q->shape[0];
      perm = rope_row_permutation(rows, pp->heads);
    }
    auto rows_of = [&](const torch::Tensor& x) {
      return perm.defined() ? x.index_select(0, perm) : x;
    };
    if (pp->has_blocks) {  // whole rows of blocks: permute the rows of bytes
      const std::string packed = quant::pack_ggml_blocks(pp->blocks, pp->gguf_name);
      if (!perm.defined()) return packed;
      const size_t row = packed.size() / static_cast<size_t>(q ? q->shape[0] : 1);
      std::string out(packed.size(), '\0');
      const int64_t* pr = perm.data_ptr<int64_t>();
      for (int64_t r = 0; r < perm.numel(); ++r)
        out.replace(static_cast<size_t>(r) * row, row, packed, static_cast<size_t>(pr[r]) * row,
                    row);
      return out;
    }
    if (pp->type == GgmlType::Q4_0 || pp->type == GgmlType::Q8_0) {
      const int64_t out_f = q->shape[0];
      auto codes = rows_of(q->codes.to(torch::kInt).reshape({out_f, -1}));
      auto scales = rows_of(q->scales.to(torch::kFloat).reshape({out_f, -1}));
      return pp->type == GgmlType::Q4_0 ? q4_0_bytes(codes, scales, pp->gguf_name)
                                        : q8_0_bytes(codes, scales, pp->gguf_name);
    }
    auto w = rows_of(pp->dense);
    return pp->type == GgmlType::F32 ? f32_bytes(w) : f16_bytes(w);
  };
  return t;
}

void log_gguf_summary(const GgufPlan& plan, size_t tensors, const GgufFloat& fl, uint32_t file_type,
                      const ExportOptions& options) {
  std::ostringstream msg;
  msg << "gguf: " << tensors << " tensors;";
  for (const auto& [t, n] : plan.block_tensors) msg << " " << n << " " << to_string(t) << ",";
  msg << " quantized weights; other weights " << fl.name << " (general.file_type " << file_type
      << ")";
  log_line(options, msg.str());
  for (const auto& [why, n] : plan.fallback_reasons)
    log_line(options, "gguf: " + std::to_string(n) + " quantized weights written as " + fl.name +
                          " of their dequantized values: " + why);
  if (plan.worst_scale_rounding > 0) {
    std::ostringstream os;
    os << "gguf: block scales rounded to fp16 (ggml's d) change by up to "
       << plan.worst_scale_rounding * 100 << "% relative; the codes are exact";
    log_line(options, os.str());
  }
}

}  // namespace

void write_gguf_export(const ExportSource& source, const std::string& path,
                       const ExportOptions& options) {
  torch::NoGradGuard no_grad;
  const model::LlamaConfig& c = source.model->config();
  if (c.model_type != "llama" && c.model_type != "mistral")
    throw Error("gguf: model_type '" + c.model_type + "' is not supported");
  const GgufFloat fl = gguf_float_choice(source, options);
  const auto quantized = quantize_modules(source);
  const GgufPlan plan = plan_gguf_tensors(source, quantized, fl, options);

  const uint32_t file_type = gguf_file_type(plan, fl.type);
  GgufMetadata md = gguf_model_metadata(source, file_type);
  const torch::Tensor rope_freqs = gguf_rope_scaling(c, md);
  append_gguf_tokenizer(source, options, md);

  std::vector<GgufTensorOut> out;
  if (rope_freqs.defined()) {
    GgufTensorOut t;
    t.name = "rope_freqs.weight";
    t.type = GgmlType::F32;
    t.dims = ggml_dims(rope_freqs);
    t.bytes = [rope_freqs]() { return f32_bytes(rope_freqs); };
    out.push_back(std::move(t));
  }
  for (const auto& pl : plan.tensors)
    out.push_back(
        gguf_tensor_out(pl, quantized.count(pl.module) ? &quantized.at(pl.module) : nullptr));
  write_gguf(path, md, out);
  log_gguf_summary(plan, out.size(), fl, file_type, options);
}

GgufModel read_gguf_model(const std::string& path) {
  const GgufFile f = GgufFile::open(path);
  if (f.at("general.architecture").as_string("general.architecture") != "llama")
    throw Error(path + ": general.architecture is not \"llama\"");
  auto u = [&](const std::string& k) { return f.at(k).as_int(k); };
  GgufModel m;
  model::LlamaConfig& c = m.config;
  c.vocab_size = u("llama.vocab_size");
  c.hidden_size = u("llama.embedding_length");
  c.intermediate_size = u("llama.feed_forward_length");
  c.num_hidden_layers = u("llama.block_count");
  c.num_attention_heads = u("llama.attention.head_count");
  c.num_key_value_heads = u("llama.attention.head_count_kv");
  c.head_dim = f.find("llama.attention.key_length") ? u("llama.attention.key_length")
                                                    : c.hidden_size / c.num_attention_heads;
  c.max_position_embeddings = u("llama.context_length");
  c.rope_theta = f.at("llama.rope.freq_base").as_double("llama.rope.freq_base");
  c.rms_norm_eps = f.at("llama.attention.layer_norm_rms_epsilon")
                       .as_double("llama.attention.layer_norm_rms_epsilon");
  std::map<std::string, std::string> hf_of;
  {
    std::vector<std::string> names = {"model.embed_tokens.weight", "model.norm.weight",
                                      "lm_head.weight"};
    for (int64_t l = 0; l < c.num_hidden_layers; ++l)
      for (const auto& [hf_part, g] : layer_names())
        names.push_back("model.layers." + std::to_string(l) + "." + hf_part + ".weight");
    for (const auto& n : names) hf_of[gguf_tensor_name(n)] = n;
  }
  c.tie_word_embeddings = f.find_tensor("output.weight") == nullptr;
  for (const auto& t : f.tensors()) {
    if (t.name == "rope_freqs.weight") continue;
    auto it = hf_of.find(t.name);
    if (it == hf_of.end()) throw Error(path + ": unexpected tensor " + t.name);
    const std::string& hf = it->second;
    if (t.dims.size() > 2) throw Error(path + ": " + t.name + ": more than 2 dimensions");
    const int64_t cols = static_cast<int64_t>(t.dims[0]);
    const int64_t rows = t.dims.size() == 2 ? static_cast<int64_t>(t.dims[1]) : 1;
    const std::string bytes = f.tensor_bytes(t.name);
    const int64_t heads = rope_heads(hf, c);
    torch::Tensor inverse;
    if (heads > 0) inverse = torch::argsort(rope_row_permutation(rows, heads));
    auto rows_of = [&](const torch::Tensor& x) {
      return inverse.defined() ? x.index_select(0, inverse) : x;
    };
    torch::Tensor w;
    if (t.type == GgmlType::Q4_0 || t.type == GgmlType::Q8_0) {
      DecodedBlocks b = t.type == GgmlType::Q4_0 ? decode_q4_0(bytes, rows, cols)
                                                 : decode_q8_0(bytes, rows, cols);
      b.codes = rows_of(b.codes);
      b.scales = rows_of(b.scales);
      w = dequantize_blocks(b);
      m.blocks[module_of(hf)] = b;
    } else if (auto gq = ggml_quant_of(t.type)) {
      const auto blocks = quant::unpack_ggml_blocks(*gq, bytes.data(), bytes.size(), rows * cols,
                                                    path + ": " + t.name);
      auto d = torch::empty({rows, cols}, torch::kFloat);
      quant::dequantize_ggml_blocks(blocks, d.data_ptr<float>());
      w = rows_of(d);
    } else {
      w = rows_of(decode_float(bytes, t.type == GgmlType::F16, rows, cols));
    }
    m.types[hf] = t.type;
    m.tensors[hf] = t.dims.size() == 1 ? w.reshape({cols}) : w;
  }
  return m;
}

}  // namespace qatwb::exporter
