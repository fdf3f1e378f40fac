// qatwb export SOURCE --format hf|gptq|compressed-tensors|gguf [--out PATH]: packs a run's
// trained model for other tools (HF transformers / lm-eval, vLLM, llama.cpp).
#include <iostream>

#include "app/command.h"
#include "core/export/export.h"
#include "core/train/threads.h"
#include "core/util/error.h"

namespace {

struct ExportArgs {
  std::string source, format, out, dtype, scale_dtype = "float16", gguf_float, gguf_embeddings;
  int threads = 0;
  bool json = false;
};

qatwb::cli::CommandRegistration reg(
    "export", "Export a run (or checkpoint) as HF safetensors, GPTQ, compressed-tensors or GGUF",
    [](CLI::App& sub) {
      auto a = std::make_shared<ExportArgs>();
      sub.add_option("source", a->source,
                     "Run directory, <run>/checkpoints/step-N, or a run's model folder")
          ->required();
      sub.add_option("--format", a->format,
                     qatwb::cli::choices_help<qatwb::exporter::ExportFormat>())
          ->required()
          ->check(CLI::IsMember(qatwb::enum_names<qatwb::exporter::ExportFormat>()));
      sub.add_option("--out", a->out,
                     "Output folder (GGUF: file); default <run>/exports/<format> "
                     "(<run>/exports/model.gguf)");
      sub.add_option("--dtype", a->dtype,
                     "float32, bfloat16 or float16 for float tensors (default: the model's own)");
      sub.add_option("--scale-dtype", a->scale_dtype,
                     "GPTQ scales: float16 (default, what vLLM/ExLlama expect) or float32");
      sub.add_option("--gguf-float", a->gguf_float,
                     "GGUF float tensors: f32 or f16 (default: f32 for float32 models)");
      sub.add_option("--gguf-embeddings", a->gguf_embeddings,
                     "GGUF token embedding and output: f16, q8_0 or q6_k (default: as "
                     "--gguf-float)")
          ->check(CLI::IsMember({"f16", "q8_0", "q6_k"}));
      sub.add_option("--threads", a->threads, "Intra-op threads (default: all cores)");
      sub.add_flag("--json", a->json, "Print one JSON line instead of the path");
      sub.footer(
          "A run that is still training (or ended without a final model) exports its last "
          "checkpoint and says so. The export is written under a hidden .partial name and "
          "renamed into place when complete.");
      return [a]() {
        qatwb::configure_threads(a->threads);
        const auto format =
            qatwb::parse_enum_or_throw<qatwb::exporter::ExportFormat>(a->format, "--format");
        auto log = [](const std::string& line) { std::cerr << line << std::endl; };
        auto source = qatwb::exporter::resolve_export_source(a->source);
        log(source.description);
        if (source.still_training)
          log("warning: the run is still training; this export is a snapshot of " +
              (source.checkpoint.empty() ? std::string("its model") : source.checkpoint));
        qatwb::exporter::ExportOptions o;
        o.dtype = a->dtype;
        o.scale_dtype = a->scale_dtype;
        o.gguf_float = a->gguf_float;
        o.gguf_embeddings = a->gguf_embeddings;
        o.log = log;
        const std::string out =
            a->out.empty() ? qatwb::exporter::default_export_path(source, format) : a->out;
        const std::string path = qatwb::exporter::export_model(source, format, out, o);
        if (a->json) {
          nlohmann::json j = {{"path", path},
                              {"format", a->format},
                              {"source", source.model_dir},
                              {"checkpoint", source.checkpoint},
                              {"still_training", source.still_training}};
          std::cout << j.dump() << std::endl;
        } else {
          std::cout << path << std::endl;
        }
        return 0;
      };
    });

}  // namespace
