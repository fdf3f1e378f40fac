#include "core/export/hf_export.h"

#include <filesystem>

#include "core/model/hf_checkpoint.h"
#include "core/quant/fp4.h"
#include "core/util/error.h"

namespace fs = std::filesystem;

namespace qatwb::exporter {
namespace {

nlohmann::json module_json(const quant::QuantizedTensor& q) {
  nlohmann::json j = {{"format", quant::to_string(q.format)},
                      {"bits", q.bits},
                      {"granularity", quant::to_string(q.granularity)},
                      {"group_size", q.group_size},
                      {"shape", q.shape}};
  if (q.format == quant::Format::Int) {
    j["grid"] = {{"kind", q.grid.kind == quant::GridKind::Int         ? "int"
                          : q.grid.kind == quant::GridKind::Stretched ? "stretched"
                                                                      : "binary"},
                 {"symmetric", q.grid.symmetric},
                 {"cmin", q.grid.cmin},
                 {"cmax", q.grid.cmax},
                 {"n", q.grid.n},
                 {"h", q.grid.h}};
  }
  return j;
}

// Codes of a uniform INT grid from its dequantized values: round(w/s) (+ z), clamped.
quant::QuantizedTensor recover_int(const std::string& module, const nlohmann::json& mj,
                                   const torch::Tensor& weight, const torch::Tensor& scales,
                                   const torch::Tensor& zeros) {
  quant::QuantizedTensor q;
  q.format = quant::Format::Int;
  q.bits = mj.at("bits").get<double>();
  q.granularity = parse_enum<quant::Granularity>(mj.at("granularity").get<std::string>())
                      .value_or(q.granularity);
  q.group_size = mj.at("group_size").get<int64_t>();
  q.shape = weight.sizes().vec();
  q.dtype = weight.scalar_type();
  const auto& g = mj.at("grid");
  q.grid = uniform_int_grid(static_cast<int>(q.bits), g.at("symmetric").get<bool>());
  q.scales = scales.to(torch::kFloat);
  if (!q.grid.symmetric) q.zeros = zeros.to(torch::kInt);
  const quant::BlockLayout l = q.layout();
  auto w2 = weight.to(torch::kFloat).reshape({l.rows, l.cols});
  auto s = q.scales.reshape({-1, 1}).repeat_interleave(l.rows_per_scale, 0);
  auto v = (w2 / s).round();
  if (q.zeros.defined())
    v = v + q.zeros.reshape({-1, 1}).repeat_interleave(l.rows_per_scale, 0).to(torch::kFloat);
  v = v.clamp(q.grid.cmin, q.grid.cmax);
  q.codes = v.to(q.grid.symmetric ? torch::kInt8 : torch::kUInt8).view(q.shape);
  if (!torch::equal(quant::dequantize(q), weight))
    throw Error(module + ".weight: the stored weight is not on the grid its sidecar describes");
  return q;
}

}  // namespace

void write_hf_export(const ExportSource& source, const std::string& dir,
                     const ExportOptions& options) {
  torch::NoGradGuard no_grad;
  const torch::Dtype dtype = output_dtype(source, options);
  const auto quantized = quantize_modules(source);
  std::set<std::string> names;
  for (const auto& [m, q] : quantized) names.insert(m);
  auto tensors = model_tensors(
      source, names, [&](const std::string& m) { return quant::dequantize(quantized.at(m)); });
  if (dtype != torch::kFloat32)
    log_line(options, "note: weights written as " + model::torch_dtype_name(dtype) +
                          "; the dequantized values are rounded to it");
  model::save_safetensors_sharded(dir, tensors, options.max_shard_bytes, {{"format", "pt"}}, dtype);
  write_json(dir + "/config.json", config_json(source, dtype));
  copy_tokenizer_files(source, dir, options.log);
  if (quantized.empty()) {
    log_line(options, "note: the run has no quantizer; the export holds its plain weights");
    return;
  }
  nlohmann::json meta = {{"version", 1}, {"scheme", scheme_json(source.scheme)}};
  model::NamedTensors side;
  for (const auto& [m, q] : quantized) {
    meta["modules"][m] = module_json(q);
    side.emplace_back(m + ".scales", q.scales.to(torch::kFloat).contiguous());
    if (q.zeros.defined()) side.emplace_back(m + ".zeros", q.zeros.to(torch::kInt).contiguous());
    if (q.scale_2.defined()) side.emplace_back(m + ".scale_2", q.scale_2.to(torch::kFloat));
  }
  model::save_safetensors(dir + "/" + kHfSidecar, side, {{"qatwb_quantization", meta.dump()}});
  log_line(options, "hf: " + std::to_string(quantized.size()) +
                        " quantized weights dequantized; grid kept in " + kHfSidecar);
}

HfExport read_hf_export(const std::string& dir) {
  HfExport out;
  auto reader = model::SafetensorsReader::open(dir);
  for (const auto& n : reader.names()) out.tensors.emplace_back(n, reader.tensor(n));
  const std::string side_path = dir + "/" + kHfSidecar;
  if (!fs::exists(side_path)) return out;
  auto side = model::SafetensorsFile::open(side_path);
  auto it = side->metadata().find("qatwb_quantization");
  if (it == side->metadata().end()) throw Error(side_path + ": no qatwb_quantization metadata");
  try {
    out.quantization = nlohmann::json::parse(it->second);
  } catch (const std::exception& e) {
    throw Error(side_path + ": qatwb_quantization: invalid JSON: " + e.what());
  }
  if (!out.quantization.contains("modules")) return out;
  for (const auto& [module, mj] : out.quantization["modules"].items()) {
    const std::string wname = module + ".weight";
    if (!reader.contains(wname))
      throw Error(dir + ": the sidecar names " + module + " but there is no tensor " + wname);
    if (mj.value("format", "") != "int" || !mj.contains("grid") ||
        mj["grid"].value("kind", "") != "int")
      continue;  // FP4 / stretched / binary: the sidecar keeps the scales only
    const auto* se = side->find(module + ".scales");
    if (!se) throw Error(side_path + ": missing " + module + ".scales");
    torch::Tensor zeros;
    if (side->find(module + ".zeros")) zeros = side->tensor(module + ".zeros");
    try {
      out.quantized[module] =
          recover_int(module, mj, reader.tensor(wname), side->tensor(module + ".scales"), zeros);
    } catch (const nlohmann::json::exception& e) {
      throw Error(side_path + ": " + module + ": " + e.what());
    }
  }
  return out;
}

}  // namespace qatwb::exporter
