#include "core/train/checkpoint.h"

#include <filesystem>
#include <fstream>

#include "core/model/hf_checkpoint.h"
#include "core/model/safetensors.h"
#include "core/quant/model_quantizer.h"
#include "core/run/run_dir.h"
#include "core/util/error.h"

namespace fs = std::filesystem;

namespace qatwb::train {
namespace {

nlohmann::json rng_state() {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  auto state = gen.get_state();
  auto bytes = state.contiguous();
  std::vector<uint8_t> v(bytes.data_ptr<uint8_t>(), bytes.data_ptr<uint8_t>() + bytes.numel());
  return v;
}

void restore_rng(const nlohmann::json& j) {
  auto v = j.get<std::vector<uint8_t>>();
  auto t = torch::from_blob(v.data(), {static_cast<int64_t>(v.size())}, torch::kUInt8).clone();
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(t);
}

}  // namespace

void write_checkpoint(const std::string& dir, model::Llama& model, quant::ModelQuantizer* quantizer,
                      torch::optim::Optimizer& optimizer, const nlohmann::json& trainer_state,
                      const std::map<std::string, model::NamedTensors>& extra_files) {
  const fs::path final_dir(dir);
  const fs::path tmp = final_dir.string() + ".tmp";
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp);
  model::save_hf(model, run::checkpoint_model_dir(tmp.string()), torch::kFloat32);
  if (quantizer) {
    model::save_safetensors(run::quantizer_file(tmp.string()), quantizer->state());
  }
  for (const auto& [file, tensors] : extra_files)
    model::save_safetensors((tmp / file).string(), tensors);
  {
    torch::serialize::OutputArchive archive;
    optimizer.save(archive);
    archive.save_to(run::checkpoint_optimizer_file(tmp.string()));
  }
  nlohmann::json state = trainer_state;
  state["rng"] = rng_state();
  {
    std::ofstream out(run::checkpoint_trainer_state(tmp.string()));
    out << state.dump() << "\n";
    out.flush();
    if (!out) throw Error("cannot write " + run::checkpoint_trainer_state(tmp.string()));
  }
  fs::remove_all(final_dir, ec);
  fs::rename(tmp, final_dir, ec);
  if (ec) throw Error("cannot move checkpoint into place at " + dir + ": " + ec.message());
}

model::NamedTensors read_checkpoint_tensors(const std::string& dir, const std::string& file) {
  const fs::path path = fs::path(dir) / file;
  if (!fs::exists(path)) throw Error(path.string() + ": missing from the checkpoint");
  auto reader = model::SafetensorsReader::open(path.string());
  model::NamedTensors tensors;
  for (const auto& name : reader.names()) tensors.emplace_back(name, reader.tensor(name).clone());
  return tensors;
}

void write_optimizer_shard(const std::string& dir, torch::optim::Optimizer& optimizer) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  const fs::path final_file = run::checkpoint_optimizer_file(dir);
  const fs::path tmp = final_file.string() + ".tmp";
  torch::serialize::OutputArchive archive;
  optimizer.save(archive);
  archive.save_to(tmp.string());
  fs::rename(tmp, final_file, ec);
  if (ec) throw Error("cannot move " + tmp.string() + " into place: " + ec.message());
}

nlohmann::json read_checkpoint(const std::string& dir, model::Llama& model,
                               quant::ModelQuantizer* quantizer, torch::optim::Optimizer& optimizer,
                               const std::string& optimizer_dir) {
  if (!fs::exists(run::checkpoint_trainer_state(dir)))
    throw Error(dir + ": not a complete checkpoint (no trainer.json)");
  auto loaded = model::load_hf(run::checkpoint_model_dir(dir), torch::kCPU);
  {
    torch::NoGradGuard no_grad;
    auto src = loaded->named_parameters();
    for (auto& p : model->named_parameters()) p.value().copy_(src[p.key()]);
  }
  if (quantizer) {
    auto reader = model::SafetensorsReader::open(run::quantizer_file(dir));
    model::NamedTensors tensors;
    for (const auto& name : reader.names()) tensors.emplace_back(name, reader.tensor(name));
    quantizer->load_state(tensors);
  }
  {
    const fs::path file =
        run::checkpoint_optimizer_file(optimizer_dir.empty() ? dir : optimizer_dir);
    if (!fs::exists(file)) throw Error(file.string() + ": missing from the checkpoint");
    torch::serialize::InputArchive archive;
    archive.load_from(file.string());
    optimizer.load(archive);
  }
  nlohmann::json state = read_trainer_state(dir);
  if (state.contains("rng")) restore_rng(state["rng"]);
  return state;
}

nlohmann::json read_trainer_state(const std::string& dir) {
  const fs::path file = run::checkpoint_trainer_state(dir);
  std::ifstream in(file);
  if (!in) throw Error(dir + ": not a complete checkpoint (no trainer.json)");
  nlohmann::json state;
  try {
    in >> state;
  } catch (const std::exception& e) {
    throw Error(file.string() + ": " + e.what());
  }
  return state;
}

}  // namespace qatwb::train
