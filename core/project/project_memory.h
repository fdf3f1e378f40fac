// The peak-training-memory estimate of a project (core/model/training_cost.h applied to the
// project's model, batch, seq, dtype, device, quantization and distillation teacher), as the
// text `qatwb project check` prints and the wizard's summary page shows. Torch-free.
#pragma once
#include <string>

#include "core/model/llama_config.h"
#include "core/project/project_config.h"

namespace qatwb::project {

// The model a project trains: its config.json, or the preset at the tokenizer's vocabulary.
// Throws qatwb::Error naming the file when it cannot be read.
model::LlamaConfig project_model_config(const ProjectConfig& c);

// "memory estimate (peak per rank, ...):" and one line per part, the total, and the total with
// activation checkpointing when it is off; "memory estimate: unavailable (why)" when the model
// cannot be read.
std::string project_memory_estimate(const ProjectConfig& c);

}  // namespace qatwb::project
