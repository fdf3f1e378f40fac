#include "core/export/export_source.h"

#include <filesystem>

#include "core/model/hf_checkpoint.h"
#include "core/model/llama_config.h"
#include "core/model/safetensors.h"
#include "core/project/project_yaml.h"
#include "core/run/event_log.h"
#include "core/run/run_dir.h"
#include "core/util/error.h"

namespace fs = std::filesystem;

namespace qatwb::exporter {
namespace {

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

bool is_hf_folder(const fs::path& p) { return is_file(p / "config.json"); }

// The last "end" event of a run's log, if any.
std::optional<run::Event> end_event(const run::RunDir& rd) {
  std::optional<run::Event> end;
  std::vector<run::LogLine> lines;
  int64_t offset = 0;
  for (;;) {
    lines.clear();
    const int64_t next = run::read_complete_lines(rd.events_path(), offset, lines);
    for (const auto& l : lines) {
      auto e = run::parse_event_line(l.text);
      if (e && e->type == run::EventType::End) end = e;
    }
    if (next == offset) break;
    offset = next;
  }
  return end;
}

std::string step_name(const std::string& checkpoint) {
  return fs::path(checkpoint).filename().string();
}

struct Located {
  std::string model_dir, quantizer_file, config_yaml, run_dir, checkpoint, description;
  bool still_training = false;
};

Located locate(const std::string& path) {
  const fs::path p = fs::absolute(path).lexically_normal();
  std::error_code ec;
  if (!fs::exists(p, ec)) throw Error(path + ": no such run directory, checkpoint or model folder");
  Located out;
  run::RunDir rd(p.string());
  if (rd.looks_like_run()) {
    out.run_dir = rd.path();
    out.config_yaml = rd.config_path();
    const auto end = end_event(rd);
    out.still_training = !end.has_value();
    const bool finished = end && end->status == "finished" && is_hf_folder(rd.model_dir());
    if (finished) {
      out.model_dir = rd.model_dir();
      out.quantizer_file = run::quantizer_file(rd.model_dir());
      out.description = "run " + rd.name() + ": exporting its final model";
      return out;
    }
    const auto checkpoints = rd.checkpoints();
    std::string why = out.still_training ? "is still training"
                                         : "ended (" + end->status + ") without a final model";
    if (checkpoints.empty())
      throw Error(path + ": the run " + why + " and has no checkpoint yet; nothing to export");
    out.checkpoint = checkpoints.back().second;
    out.model_dir = run::checkpoint_model_dir(out.checkpoint);
    out.quantizer_file = run::quantizer_file(out.checkpoint);
    out.description = "run " + rd.name() + " " + why + ": exporting its last checkpoint " +
                      step_name(out.checkpoint);
    return out;
  }
  if (is_file(run::checkpoint_trainer_state(p.string())) &&
      is_hf_folder(run::checkpoint_model_dir(p.string()))) {
    out.checkpoint = p.string();
    out.model_dir = run::checkpoint_model_dir(p.string());
    out.quantizer_file = run::quantizer_file(p.string());
    const fs::path run = p.parent_path().parent_path();
    if (run::RunDir(run.string()).looks_like_run()) {
      out.run_dir = run.string();
      out.config_yaml = run::RunDir(run.string()).config_path();
      out.still_training = !end_event(run::RunDir(run.string())).has_value();
    }
    out.description = "checkpoint " + step_name(out.checkpoint) +
                      (out.still_training ? " (its run is still training)" : "");
    return out;
  }
  if (is_hf_folder(p)) {
    out.model_dir = p.string();
    out.quantizer_file = run::quantizer_file(p.string());
    for (const fs::path& up : {p.parent_path(), p.parent_path().parent_path()}) {
      if (is_file(run::RunDir(up.string()).config_path())) {
        out.config_yaml = run::RunDir(up.string()).config_path();
        break;
      }
    }
    out.description = "model folder " + p.string();
    return out;
  }
  throw Error(path +
              ": not a run directory (config.yaml / events.jsonl), a checkpoint "
              "(trainer.json + model/) or an HF model folder (config.json)");
}

}  // namespace

ExportSource make_export_source(model::Llama model, const quant::QuantScheme& scheme,
                                std::shared_ptr<quant::ModelQuantizer> quantizer,
                                const std::string& tokenizer_path) {
  ExportSource s;
  s.original_dtype = model->config().torch_dtype;
  s.model = std::move(model);
  s.scheme = scheme;
  s.quantizer = std::move(quantizer);
  s.tokenizer_path = tokenizer_path;
  s.description = "model in memory";
  return s;
}

ExportSource resolve_export_source(const std::string& path) {
  const Located loc = locate(path);
  ExportSource s;
  s.model_dir = loc.model_dir;
  s.config_yaml = loc.config_yaml;
  s.run_dir = loc.run_dir;
  s.checkpoint = loc.checkpoint;
  s.still_training = loc.still_training;
  s.description = loc.description;
  s.model = model::load_hf(loc.model_dir, torch::kCPU, torch::kFloat32);
  s.original_dtype = model::LlamaConfig::from_file(loc.model_dir + "/config.json").torch_dtype;

  std::optional<project::ProjectConfig> project;
  if (!loc.config_yaml.empty() && is_file(loc.config_yaml))
    project = project::load_project(loc.config_yaml);
  if (project) {
    s.scheme = project->quant;
  } else if (is_file(loc.quantizer_file)) {
    throw Error(loc.model_dir +
                ": has quantizer.safetensors but no run config.yaml above it; "
                "cannot tell which scheme it belongs to");
  } else {
    s.scheme.enabled = false;
  }

  if (s.scheme.enabled) {
    s.quantizer = std::make_shared<quant::ModelQuantizer>(s.scheme, s.model->quantizable_weights());
    if (is_file(loc.quantizer_file)) {
      auto reader = model::SafetensorsReader::open(loc.quantizer_file);
      model::NamedTensors state;
      for (const auto& name : reader.names()) state.emplace_back(name, reader.tensor(name));
      try {
        s.quantizer->load_state(state);
      } catch (const Error& e) {
        throw Error(loc.quantizer_file + ": " + e.what());
      }
    } else if (s.scheme.scale_mode != quant::ScaleMode::MinMax) {
      throw Error(loc.model_dir + ": the scheme has learned/frozen scales but there is no " +
                  loc.quantizer_file);
    }
  }

  const fs::path own_tok = fs::path(loc.model_dir) / "tokenizer.json";
  if (is_file(own_tok)) {
    s.tokenizer_path = own_tok.string();
  } else if (project && !project->model.tokenizer.empty()) {
    s.tokenizer_path = project->model.tokenizer;
  } else if (project && !project->model.path.empty() &&
             is_file(fs::path(project->model.path) / "tokenizer.json")) {
    s.tokenizer_path = (fs::path(project->model.path) / "tokenizer.json").string();
  }
  return s;
}

}  // namespace qatwb::exporter
