// Training checkpoints: checkpoints/step-NNNNNNNN/ holding the model (HF folder: config.json +
// model.safetensors with the latent weights), quantizer.safetensors (scales, alphas),
// optimizer.pt (AdamW state) and trainer.json (step, data position, statistics, RNG state).
// Written to a temporary folder and renamed, so a crash never leaves a half checkpoint.
#pragma once
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/model/llama.h"

namespace qatwb::quant {
class ModelQuantizer;
}

namespace qatwb::train {

void write_checkpoint(const std::string& dir, model::Llama& model,
                      quant::ModelQuantizer* quantizer, torch::optim::Optimizer& optimizer,
                      const nlohmann::json& trainer_state);

// Loads into the given objects (same architecture and parameter order); returns trainer.json.
nlohmann::json read_checkpoint(const std::string& dir, model::Llama& model,
                               quant::ModelQuantizer* quantizer,
                               torch::optim::Optimizer& optimizer);

}  // namespace qatwb::train
