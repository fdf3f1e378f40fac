#include "core/export/compressed_tensors_export.h"

#include <sstream>

#include "core/model/hf_checkpoint.h"
#include "core/quant/packing.h"
#include "core/util/error.h"

namespace qatwb::exporter {
namespace {

const char* kFormat = "compressed-tensors";

const char* strategy_of(quant::Granularity g) {
  switch (g) {
    case quant::Granularity::PerTensor:
      return "tensor";
    case quant::Granularity::PerChannel:
      return "channel";
    case quant::Granularity::PerGroup:
      return "group";
  }
  return "group";
}

}  // namespace

void write_compressed_tensors_export(const ExportSource& source, const std::string& dir,
                                     const ExportOptions& options) {
  torch::NoGradGuard no_grad;
  auto quantized = quantize_modules(source);
  const auto dense = take_embedding_modules(quantized, options.log, kFormat);
  if (quantized.empty())
    throw Error(std::string(kFormat) +
                ": the run has no quantized weights (quantization disabled); use --format hf");
  const torch::Dtype dtype = output_dtype(source, options);
  std::map<std::string, model::NamedTensors> packed;
  nlohmann::json weights_cfg;
  for (const auto& [m, q] : quantized) {
    const int bits = uniform_int_bits(q, m, kFormat);
    if (q.shape.size() != 2) throw Error(std::string(kFormat) + ": " + m + ": weight is not 2-D");
    const bool sym = q.grid.symmetric;
    const int64_t out = q.shape[0], in = q.shape[1];
    if (!sym && q.granularity == quant::Granularity::PerTensor)
      throw Error(std::string(kFormat) + ": " + m +
                  ": asymmetric per-tensor weights are not supported");
    nlohmann::json w = {{"num_bits", bits},      {"type", "int"},
                        {"symmetric", sym},      {"strategy", strategy_of(q.granularity)},
                        {"group_size", nullptr}, {"block_structure", nullptr},
                        {"dynamic", false},      {"actorder", nullptr},
                        {"observer", "minmax"},  {"observer_kwargs", nlohmann::json::object()}};
    if (q.granularity == quant::Granularity::PerGroup) w["group_size"] = q.group_size;
    if (!weights_cfg.is_null() && weights_cfg != w)
      throw Error(std::string(kFormat) + ": " + m +
                  ": modules with different schemes are not supported in one export");
    weights_cfg = w;
    const int64_t offset = int64_t{1} << (bits - 1);
    auto q_u = q.codes.to(torch::kInt) + (sym ? offset : 0);
    model::NamedTensors t = {
        {m + ".weight_packed", quant::pack_int_words(q_u, bits)},
        {m + ".weight_scale", q.scales.to(torch::kFloat)
                                  .reshape(q.granularity == quant::Granularity::PerTensor
                                               ? std::vector<int64_t>{1}
                                               : std::vector<int64_t>{out, q.scales.numel() / out})
                                  .to(dtype)},
        {m + ".weight_shape", torch::tensor({out, in}, torch::kLong)}};
    if (!sym) {
      auto z = q.zeros.to(torch::kInt).reshape({out, -1}).t().contiguous();  // [groups, out]
      t.emplace_back(m + ".weight_zero_point", quant::pack_int_words(z, bits).t().contiguous());
    }
    packed[m] = std::move(t);
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
  std::vector<std::string> ignore = {"lm_head"};
  for (auto& [m, w] : source.model->linear_weights()) {
    if (packed.count(m))
      for (auto& nt : packed[m]) tensors.push_back(nt);
    else
      ignore.push_back(m);
  }
  nlohmann::json qc = {{"quant_method", "compressed-tensors"},
                       {"format", "pack-quantized"},
                       {"quantization_status", "compressed"},
                       {"config_groups",
                        {{"group_0",
                          {{"targets", {"Linear"}},
                           {"weights", weights_cfg},
                           {"input_activations", nullptr},
                           {"output_activations", nullptr},
                           {"format", "pack-quantized"}}}}},
                       {"ignore", ignore},
                       {"kv_cache_scheme", nullptr},
                       {"global_compression_ratio", nullptr},
                       {"sparsity_config", nlohmann::json::object()}};
  model::save_safetensors_sharded(dir, tensors, options.max_shard_bytes, {{"format", "pt"}});
  write_json(dir + "/config.json", config_json(source, dtype, qc));
  copy_tokenizer_files(source, dir, options.log);
  std::ostringstream msg;
  msg << kFormat << ": " << quantized.size() << " modules packed (" << weights_cfg["num_bits"]
      << "-bit, " << weights_cfg["strategy"].get<std::string>()
      << (weights_cfg["symmetric"].get<bool>() ? ", symmetric" : ", asymmetric") << "), "
      << ignore.size() << " ignored";
  log_line(options, msg.str());
}

PackedExport read_compressed_tensors_export(const std::string& dir) {
  PackedExport out;
  const std::string cfg = dir + "/config.json";
  out.config = read_json(cfg);
  if (!out.config.contains("quantization_config")) throw Error(cfg + ": no quantization_config");
  const auto& qc = out.config["quantization_config"];
  if (qc.value("quant_method", "") != "compressed-tensors" ||
      qc.value("format", "") != "pack-quantized")
    throw Error(cfg + ": not a compressed-tensors pack-quantized checkpoint");
  if (!qc.contains("config_groups") || qc["config_groups"].size() != 1)
    throw Error(cfg + ": exactly one config group is supported");
  const auto& w = qc["config_groups"].begin().value().at("weights");
  const int bits = w.value("num_bits", 0);
  if (bits < 2 || bits > 8 || w.value("type", "") != "int")
    throw Error(cfg + ": weights: only int types of 2..8 bits are supported");
  const bool sym = w.value("symmetric", true);
  const std::string strategy = w.value("strategy", "");
  const torch::Dtype dtype =
      model::torch_dtype_from_name(out.config.value("torch_dtype", std::string("float32")));

  auto reader = model::SafetensorsReader::open(dir);
  std::set<std::string> used;
  std::vector<std::string> parts = {".weight_packed", ".weight_scale", ".weight_shape"};
  if (!sym) parts.push_back(".weight_zero_point");
  for (const auto& m : packed_modules(reader, dir, ".weight_packed", parts, used)) {
    auto shape_t = reader.tensor(m + ".weight_shape").to(torch::kLong);
    if (shape_t.numel() != 2) throw Error(dir + ": " + m + ".weight_shape: expected 2 values");
    const int64_t out_f = shape_t[0].item<int64_t>(), in = shape_t[1].item<int64_t>();
    auto packed = reader.tensor(m + ".weight_packed");
    auto scale = reader.tensor(m + ".weight_scale").to(torch::kFloat);
    if (out_f <= 0 || in <= 0 || packed.dim() != 2 || packed.size(0) != out_f ||
        packed.size(1) != (in * bits + 31) / 32)
      throw Error(dir + ": " + m + ".weight_packed: shape does not match weight_shape");
    quant::QuantizedTensor q;
    q.format = quant::Format::Int;
    q.bits = bits;
    q.grid = uniform_int_grid(bits, sym);
    q.shape = {out_f, in};
    q.dtype = dtype;
    int64_t groups = 1;
    if (strategy == "tensor") {
      q.granularity = quant::Granularity::PerTensor;
      q.group_size = 0;
      if (scale.numel() != 1) throw Error(dir + ": " + m + ".weight_scale: expected 1 value");
      q.scales = scale.reshape({1});
    } else if (strategy == "channel" || strategy == "group") {
      const int64_t g = strategy == "channel" ? in : w.value("group_size", int64_t{0});
      if (g <= 0 || in % g != 0)
        throw Error(cfg + ": group_size " + std::to_string(g) + " does not divide " + m +
                    "'s input dim " + std::to_string(in));
      groups = in / g;
      q.granularity =
          strategy == "channel" ? quant::Granularity::PerChannel : quant::Granularity::PerGroup;
      q.group_size = g;
      if (scale.dim() != 2 || scale.size(0) != out_f || scale.size(1) != groups)
        throw Error(dir + ": " + m + ".weight_scale: expected [" + std::to_string(out_f) + ", " +
                    std::to_string(groups) + "]");
      q.scales = scale.contiguous();
    } else {
      throw Error(cfg + ": weights.strategy '" + strategy + "' is not supported");
    }
    auto q_u = quant::unpack_int_words(packed, bits, in);
    const int64_t offset = int64_t{1} << (bits - 1);
    if (sym) {
      q.codes = (q_u - offset).to(torch::kInt8);
    } else {
      auto zp = reader.tensor(m + ".weight_zero_point");
      if (zp.dim() != 2 || zp.size(0) != (out_f * bits + 31) / 32 || zp.size(1) != groups)
        throw Error(dir + ": " + m + ".weight_zero_point: shape does not match");
      q.zeros = quant::unpack_int_words(zp.t().contiguous(), bits, out_f).t().contiguous();
      q.codes = q_u.to(torch::kUInt8);
    }
    out.quantized[m] = std::move(q);
  }
  for (const auto& name : reader.names())
    if (!used.count(name)) out.dense.emplace_back(name, reader.tensor(name));
  return out;
}

}  // namespace qatwb::exporter
