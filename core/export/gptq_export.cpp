#include "core/export/gptq_export.h"

#include <sstream>

#include "core/model/hf_checkpoint.h"
#include "core/quant/packing.h"
#include "core/util/error.h"

namespace qatwb::exporter {
namespace {

const char* kFormat = "gptq";

struct Layout {
  int bits = 0;
  bool symmetric = true;
  int64_t group_size = 0;  // elements per group along in (in for per-channel)
  bool per_channel = false;
};

Layout layout_of(const quant::QuantizedTensor& q, const std::string& m) {
  Layout l;
  l.bits = uniform_int_bits(q, m, kFormat);
  if (l.bits != 2 && l.bits != 3 && l.bits != 4 && l.bits != 8)
    throw Error(std::string(kFormat) + ": " + m + ": " + std::to_string(l.bits) +
                "-bit weights are not supported (GPTQ packs 2, 3, 4 and 8 bits)");
  if (q.granularity == quant::Granularity::PerTensor)
    throw Error(std::string(kFormat) + ": " + m +
                ": per-tensor scales are not supported (GPTQ needs per-group or per-channel)");
  if (q.shape.size() != 2) throw Error(std::string(kFormat) + ": " + m + ": weight is not 2-D");
  l.symmetric = q.grid.symmetric;
  l.per_channel = q.granularity == quant::Granularity::PerChannel;
  l.group_size = l.per_channel ? q.shape[1] : q.group_size;
  return l;
}

void check_divisible(int64_t n, int bits, const std::string& what) {
  if ((n * bits) % 32 != 0)
    throw Error(std::string(kFormat) + ": " + what + " (" + std::to_string(n) + " x " +
                std::to_string(bits) + " bits) does not fill whole int32 words");
}

double max_relative_rounding(const torch::Tensor& s, torch::Dtype dtype) {
  auto f = s.to(torch::kFloat);
  auto r = f.to(dtype).to(torch::kFloat);
  return ((r - f).abs() / f.abs().clamp_min(1e-30)).max().item<double>();
}

}  // namespace

void write_gptq_export(const ExportSource& source, const std::string& dir,
                       const ExportOptions& options) {
  torch::NoGradGuard no_grad;
  auto quantized = quantize_modules(source);
  const auto dense = take_embedding_modules(quantized, options.log, "gptq");
  if (quantized.empty())
    throw Error("gptq: the run has no quantized decoder Linears" +
                std::string(dense.empty() ? " (quantization disabled)" : "") + "; use --format hf");
  const torch::Dtype dtype = output_dtype(source, options);
  const torch::Dtype scale_dtype = model::torch_dtype_from_name(options.scale_dtype);
  std::optional<Layout> common;
  std::map<std::string, model::NamedTensors> packed;
  double worst_scale_rounding = 0;
  for (const auto& [m, q] : quantized) {
    const Layout l = layout_of(q, m);
    if (common && (common->bits != l.bits || common->symmetric != l.symmetric ||
                   common->per_channel != l.per_channel ||
                   (!l.per_channel && common->group_size != l.group_size)))
      throw Error("gptq: " + m +
                  ": modules with different bits/group sizes cannot share one "
                  "quantization_config");
    common = l;
    const int64_t out = q.shape[0], in = q.shape[1], groups = in / l.group_size;
    check_divisible(in, l.bits, m + " input dim");
    check_divisible(out, l.bits, m + " output dim");
    const int64_t offset = l.symmetric ? (int64_t{1} << (l.bits - 1)) : 0;
    auto q_u = q.codes.to(torch::kInt) + offset;  // [out, in], unsigned
    auto qweight = quant::pack_int_words(q_u, l.bits).t().contiguous();
    torch::Tensor zeros = l.symmetric ? torch::full({out, groups}, offset, torch::kInt)
                                      : q.zeros.to(torch::kInt).reshape({out, groups});
    if (!l.symmetric && (zeros == 0).any().item<bool>())
      throw Error("gptq: " + m +
                  ": a zero point is 0, which GPTQ v1 stores as z - 1 = -1 and "
                  "vLLM/ExLlama read back as 2^bits; export as compressed-tensors instead");
    auto stored = (zeros - 1).bitwise_and((1 << l.bits) - 1).t().contiguous();  // [groups, out]
    auto qzeros = quant::pack_int_words(stored, l.bits);
    auto scales = q.scales.to(torch::kFloat).reshape({out, groups}).t().contiguous();
    worst_scale_rounding =
        std::max(worst_scale_rounding, max_relative_rounding(scales, scale_dtype));
    auto g_idx = torch::arange(in, torch::kInt).div(l.group_size, "floor").to(torch::kInt);
    packed[m] = {{m + ".qweight", qweight},
                 {m + ".qzeros", qzeros},
                 {m + ".scales", scales.to(scale_dtype)},
                 {m + ".g_idx", g_idx}};
  }
  std::set<std::string> names;
  for (const auto& [m, q] : quantized) names.insert(m);
  for (const auto& [m, w] : dense) names.insert(m);
  model::NamedTensors tensors;
  for (auto& [name, t] : model_tensors(source, names, [&](const std::string& m) {
         auto it = dense.find(m);
         return it == dense.end() ? torch::Tensor() : it->second;
       }))
    tensors.emplace_back(name, t.to(dtype));
  // Packed modules in model order, after their layer's dense tensors.
  for (auto& [m, w] : source.model->linear_weights())
    if (packed.count(m))
      for (auto& nt : packed[m]) tensors.push_back(nt);

  nlohmann::json qc = {{"quant_method", "gptq"},
                       {"bits", common->bits},
                       {"group_size", common->per_channel ? -1 : common->group_size},
                       {"sym", common->symmetric},
                       {"desc_act", false},
                       {"static_groups", false},
                       {"damp_percent", 0.01},
                       {"true_sequential", true},
                       {"checkpoint_format", "gptq"},
                       {"lm_head", false},
                       {"quantizer", "qatwb"}};
  std::vector<std::string> unquantized;
  for (auto& [m, w] : source.model->linear_weights())
    if (!names.count(m)) unquantized.push_back(m);
  if (!unquantized.empty()) {
    // vLLM skips modules matched by a "-:" rule of `dynamic`.
    nlohmann::json dyn = nlohmann::json::object();
    for (const auto& m : unquantized) {
      std::string re;
      for (char c : m) re += c == '.' ? std::string("\\.") : std::string(1, c);
      dyn["-:^" + re + "$"] = nlohmann::json::object();
    }
    qc["dynamic"] = dyn;
    log_line(options, "gptq: " + std::to_string(unquantized.size()) +
                          " decoder Linears are not quantized; listed in quantization_config."
                          "dynamic as skipped");
  }
  model::save_safetensors_sharded(dir, tensors, options.max_shard_bytes, {{"format", "pt"}});
  write_json(dir + "/config.json", config_json(source, dtype, qc));
  write_json(dir + "/quantize_config.json", qc);
  copy_tokenizer_files(source, dir, options.log);
  std::ostringstream msg;
  msg << "gptq: " << quantized.size() << " modules, " << common->bits << "-bit, group "
      << (common->per_channel ? std::string("-1 (per channel)")
                              : std::to_string(common->group_size))
      << (common->symmetric ? ", symmetric" : ", asymmetric") << "; scales " << options.scale_dtype;
  if (worst_scale_rounding > 0)
    msg << " (rounding changes scales by up to " << worst_scale_rounding * 100
        << "% relative; --scale-dtype float32 keeps them exact)";
  log_line(options, msg.str());
}

PackedExport read_gptq_export(const std::string& dir) {
  PackedExport out;
  out.config = read_json(dir + "/config.json");
  const std::string cfg = dir + "/config.json";
  if (!out.config.contains("quantization_config")) throw Error(cfg + ": no quantization_config");
  const auto& qc = out.config["quantization_config"];
  if (qc.value("quant_method", "") != "gptq")
    throw Error(cfg + ": quantization_config.quant_method is not \"gptq\"");
  if (qc.value("checkpoint_format", "gptq") != "gptq")
    throw Error(cfg + ": quantization_config.checkpoint_format '" +
                qc.value("checkpoint_format", "") + "' is not supported (only \"gptq\", v1)");
  if (qc.value("desc_act", false)) throw Error(cfg + ": desc_act (act-order) is not supported");
  const int bits = qc.value("bits", 0);
  if (bits != 2 && bits != 3 && bits != 4 && bits != 8)
    throw Error(cfg + ": quantization_config.bits " + std::to_string(bits) + " not supported");
  const int64_t group_cfg = qc.value("group_size", int64_t{0});
  const bool sym = qc.value("sym", true);
  const torch::Dtype dtype =
      model::torch_dtype_from_name(out.config.value("torch_dtype", std::string("float32")));

  auto reader = model::SafetensorsReader::open(dir);
  std::set<std::string> used;
  for (const auto& m : packed_modules(reader, dir, ".qweight",
                                      {".qweight", ".qzeros", ".scales", ".g_idx"}, used)) {
    auto qweight = reader.tensor(m + ".qweight");
    auto qzeros = reader.tensor(m + ".qzeros");
    auto scales = reader.tensor(m + ".scales");
    auto g_idx = reader.tensor(m + ".g_idx").to(torch::kLong);
    if (qweight.dim() != 2 || qzeros.dim() != 2 || scales.dim() != 2 || g_idx.dim() != 1)
      throw Error(dir + ": " + m + ": qweight/qzeros/scales must be 2-D and g_idx 1-D");
    const int64_t out_f = scales.size(1), groups = scales.size(0), in = g_idx.size(0);
    const int64_t group_size = group_cfg <= 0 ? in : group_cfg;
    if (qweight.size(1) != out_f || qweight.size(0) * 32 != in * bits ||
        groups * group_size != in || qzeros.size(0) != groups ||
        qzeros.size(1) * 32 != out_f * bits)
      throw Error(dir + ": " + m + ": tensor shapes do not agree with " + std::to_string(bits) +
                  "-bit, group " + std::to_string(group_size) + ", in " + std::to_string(in) +
                  ", out " + std::to_string(out_f));
    if (!torch::equal(g_idx, torch::arange(in, torch::kLong).div(group_size, "floor")))
      throw Error(dir + ": " + m + ".g_idx: not i / group_size (act-order is not supported)");
    auto q_u = quant::unpack_int_words(qweight.t().contiguous(), bits, in);  // [out, in]
    auto zeros = (quant::unpack_int_words(qzeros, bits, out_f) + 1).t().contiguous();
    quant::QuantizedTensor q;
    q.format = quant::Format::Int;
    q.bits = bits;
    q.grid = uniform_int_grid(bits, sym);
    q.shape = {out_f, in};
    q.dtype = dtype;
    const bool per_channel = group_size == in;
    q.granularity = per_channel ? quant::Granularity::PerChannel : quant::Granularity::PerGroup;
    q.group_size = group_size;
    q.scales = scales.to(torch::kFloat).t().contiguous().reshape({out_f, groups});
    const int64_t offset = int64_t{1} << (bits - 1);
    if (sym) {
      if (!(zeros == offset).all().item<bool>())
        throw Error(dir + ": " + m + ".qzeros: a symmetric checkpoint must store zero " +
                    std::to_string(offset) + " everywhere");
      q.codes = (q_u - offset).to(torch::kInt8);
    } else {
      if ((zeros >= (int64_t{1} << bits)).any().item<bool>())
        throw Error(dir + ": " + m + ".qzeros: a zero point wrapped (stored z - 1 = -1)");
      q.codes = q_u.to(torch::kUInt8);
      q.zeros = zeros.to(torch::kInt);
    }
    out.quantized[m] = std::move(q);
  }
  for (const auto& name : reader.names())
    if (!used.count(name)) out.dense.emplace_back(name, reader.tensor(name));
  return out;
}

}  // namespace qatwb::exporter
