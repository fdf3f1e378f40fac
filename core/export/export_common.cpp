#include "core/export/export_common.h"

#include <filesystem>
#include <fstream>

#include "core/model/hf_checkpoint.h"
#include "core/model/llama_config.h"
#include "core/project/project_yaml.h"
#include "core/util/error.h"

namespace fs = std::filesystem;

namespace qatwb::exporter {

std::map<std::string, quant::QuantizedTensor> quantize_modules(const ExportSource& source) {
  if (!source.quantizer) return {};
  torch::NoGradGuard no_grad;
  return source.quantizer->quantize_all();
}

std::map<std::string, torch::Tensor> take_embedding_modules(
    std::map<std::string, quant::QuantizedTensor>& quantized, const Log& log,
    const std::string& format) {
  std::map<std::string, torch::Tensor> dense;
  for (const char* m : {model::kEmbedModule, model::kLmHeadModule}) {
    auto it = quantized.find(m);
    if (it == quantized.end()) continue;
    dense[m] = quant::dequantize(it->second);
    quantized.erase(it);
    if (log)
      log(format + ": " + m + " is quantized; written dense as its dequantized values (" + format +
          " packs decoder Linears only)");
  }
  return dense;
}

std::string module_of(const std::string& tensor_name) {
  const std::string suffix = ".weight";
  if (tensor_name.size() <= suffix.size() ||
      tensor_name.compare(tensor_name.size() - suffix.size(), suffix.size(), suffix) != 0)
    return "";
  return tensor_name.substr(0, tensor_name.size() - suffix.size());
}

model::NamedTensors model_tensors(
    const ExportSource& source, const std::set<std::string>& quantized,
    const std::function<torch::Tensor(const std::string& module)>& replacement) {
  model::NamedTensors out;
  for (auto& [name, p] : source.model->hf_state_dict()) {
    const std::string module = module_of(name);
    if (!module.empty() && quantized.count(module)) {
      torch::Tensor r = replacement(module);
      if (r.defined()) out.emplace_back(name, r);
      continue;
    }
    out.emplace_back(name, p.detach());
  }
  return out;
}

nlohmann::json config_json(const ExportSource& source, torch::Dtype dtype,
                           const nlohmann::json& quantization_config) {
  model::LlamaConfig c = source.model->config();
  c.torch_dtype = model::torch_dtype_name(dtype);
  nlohmann::json j = c.to_json();
  if (!quantization_config.is_null()) j["quantization_config"] = quantization_config;
  return j;
}

void write_json(const std::string& path, const nlohmann::json& j) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << j.dump(2) << "\n";
  out.flush();
  if (!out) throw Error(path + ": cannot write");
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open");
  try {
    return nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    throw Error(path + ": invalid JSON: " + e.what());
  }
}

void copy_tokenizer_files(const ExportSource& source, const std::string& dir, const Log& log) {
  if (!model::copy_tokenizer_files(source.tokenizer_path, dir) && log)
    log("note: no tokenizer.json found for this model; the export has none");
}

nlohmann::json scheme_json(const quant::QuantScheme& s) {
  nlohmann::json j = {{"enabled", s.enabled},
                      {"format", quant::to_string(s.format)},
                      {"bits", s.bits},
                      {"granularity", quant::to_string(s.granularity)},
                      {"group_size", s.group_size},
                      {"symmetric", s.symmetric},
                      {"scale_mode", quant::to_string(s.scale_mode)},
                      {"surrogate", quant::to_string(s.surrogate)},
                      {"include", s.include},
                      {"exclude", s.exclude}};
  return j;
}

torch::Dtype output_dtype(const ExportSource& source, const ExportOptions& options) {
  return model::torch_dtype_from_name(options.dtype.empty() ? source.original_dtype
                                                            : options.dtype);
}

int uniform_int_bits(const quant::QuantizedTensor& q, const std::string& module,
                     const std::string& format) {
  const std::string where = format + ": " + module + ": ";
  if (q.format != quant::Format::Int)
    throw Error(where + quant::to_string(q.format) + " weights are not supported (only " +
                "uniform INT grids can be packed in this format)");
  if (q.grid.kind != quant::GridKind::Int)
    throw Error(where + "the " +
                std::string(q.grid.kind == quant::GridKind::Binary
                                ? "binary (1-bit)"
                                : "ParetoQ stretched (SEQ/ternary)") +
                " grid is not supported (only uniform INT grids can be packed)");
  const int bits = static_cast<int>(q.bits);
  if (bits != q.bits || bits < 1 || bits > 8)
    throw Error(where + std::to_string(q.bits) + "-bit weights are not supported");
  const quant::WeightGrid expect = uniform_int_grid(bits, q.grid.symmetric);
  if (q.grid.cmin != expect.cmin || q.grid.cmax != expect.cmax)
    throw Error(where + "the grid " + std::to_string(q.grid.cmin) + ".." +
                std::to_string(q.grid.cmax) + " is not the uniform " + std::to_string(bits) +
                "-bit grid");
  return bits;
}

quant::WeightGrid uniform_int_grid(int bits, bool symmetric) {
  quant::QuantScheme scheme;
  scheme.bits = bits;
  scheme.symmetric = symmetric;
  scheme.surrogate = quant::Surrogate::Ste;
  return quant::make_weight_grid(scheme, "int" + std::to_string(bits));
}

void log_line(const ExportOptions& options, const std::string& line) {
  if (options.log) options.log(line);
}

std::vector<std::string> packed_modules(const model::SafetensorsReader& reader,
                                        const std::string& dir, const std::string& key_suffix,
                                        const std::vector<std::string>& parts,
                                        std::set<std::string>& used) {
  std::vector<std::string> modules;
  for (const auto& name : reader.names()) {
    if (name.size() <= key_suffix.size() ||
        name.compare(name.size() - key_suffix.size(), key_suffix.size(), key_suffix) != 0)
      continue;
    const std::string m = name.substr(0, name.size() - key_suffix.size());
    for (const auto& part : parts) {
      if (!reader.contains(m + part)) throw Error(dir + ": " + m + part + " is missing");
      used.insert(m + part);
    }
    modules.push_back(m);
  }
  return modules;
}

}  // namespace qatwb::exporter
