// What an export reads: a run directory, one of its checkpoints, or an HF model folder written by
// a run, resolved to the trained model, the quantizer rebuilt from the run's scheme with its
// learned state, and the tokenizer. A run that is still training (no "end" event) or that ended
// without a final model exports its last checkpoint, and says so.
#pragma once
#include <memory>
#include <string>

#include "core/model/llama.h"
#include "core/quant/model_quantizer.h"
#include "core/quant/scheme.h"

namespace qatwb::exporter {

struct ExportSource {
  model::Llama model{nullptr};                       // latent (trained) weights, float32, CPU
  std::shared_ptr<quant::ModelQuantizer> quantizer;  // null when the scheme is disabled
  quant::QuantScheme scheme;
  std::string model_dir;                   // HF folder the weights came from
  std::string tokenizer_path;              // tokenizer.json ("" when none was found)
  std::string config_yaml;                 // the run's resolved config.yaml ("" when none)
  std::string run_dir;                     // "" when the source is not inside a run
  std::string checkpoint;                  // checkpoint folder used ("" for the final model)
  bool still_training = false;             // the run has no "end" event yet
  std::string description;                 // one line for the log: what was exported and why
  std::string original_dtype = "float32";  // config.json torch_dtype of the model
};

// `path`: a run directory, <run>/checkpoints/step-N, <run>/model, or any HF folder holding
// quantizer.safetensors next to a config.yaml one or two levels up. Throws qatwb::Error naming
// the path when nothing exportable is there.
ExportSource resolve_export_source(const std::string& path);

// Builds a source from objects in memory (tests, or a caller that already holds them).
ExportSource make_export_source(model::Llama model, const quant::QuantScheme& scheme,
                                std::shared_ptr<quant::ModelQuantizer> quantizer,
                                const std::string& tokenizer_path);

}  // namespace qatwb::exporter
