// Training checkpoints: checkpoints/step-NNNNNNNN/ holding the model (HF folder: config.json +
// model.safetensors with the latent weights), quantizer.safetensors (scales, alphas),
// optimizer.pt (AdamW state) and trainer.json (step, data position, statistics, RNG state).
// Written to a temporary folder and renamed, so a crash never leaves a half checkpoint.
#pragma once
#include <torch/torch.h>
#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/model/llama.h"
#include "core/model/safetensors.h"

namespace qatwb::quant {
class ModelQuantizer;
}

namespace qatwb::train {

// `extra_files`: more tensors to keep with the checkpoint, by file name (e.g. EASGD's centre in
// "easgd_centre.safetensors"), written inside the same atomic rename.
void write_checkpoint(const std::string& dir, model::Llama& model, quant::ModelQuantizer* quantizer,
                      torch::optim::Optimizer& optimizer, const nlohmann::json& trainer_state,
                      const std::map<std::string, model::NamedTensors>& extra_files = {});

// Reads one of the extra files of a checkpoint; throws qatwb::Error naming it when missing.
model::NamedTensors read_checkpoint_tensors(const std::string& dir, const std::string& file);

// The trainer state (trainer.json) of a checkpoint, without restoring anything.
nlohmann::json read_trainer_state(const std::string& dir);

// ZeRO-1: a rank other than 0 keeps its share of the optimizer states in `dir`/optimizer.pt
// (written through a temporary file and a rename).
void write_optimizer_shard(const std::string& dir, torch::optim::Optimizer& optimizer);

// Loads into the given objects (same architecture and parameter order); returns trainer.json.
// The optimizer is read from `optimizer_dir` when given (a ZeRO-1 rank's own shard).
nlohmann::json read_checkpoint(const std::string& dir, model::Llama& model,
                               quant::ModelQuantizer* quantizer, torch::optim::Optimizer& optimizer,
                               const std::string& optimizer_dir = "");

}  // namespace qatwb::train
