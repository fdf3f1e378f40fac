#include "core/export/export.h"

#include <filesystem>

#include "core/export/compressed_tensors_export.h"
#include "core/export/gguf_export.h"
#include "core/export/gptq_export.h"
#include "core/export/hf_export.h"
#include "core/export/staged_output.h"
#include "core/run/run_dir.h"
#include "core/util/error.h"

namespace fs = std::filesystem;

namespace qatwb::exporter {

std::string default_export_path(const ExportSource& source, ExportFormat format) {
  if (!source.run_dir.empty()) {
    const run::RunDir run(source.run_dir);
    return format == ExportFormat::Gguf ? run.gguf_export_path()
                                        : run.export_dir(to_string(format));
  }
  if (source.model_dir.empty()) throw Error("export: no output path given");
  fs::path m = fs::path(source.model_dir).lexically_normal();
  if (m.filename().empty()) m = m.parent_path();
  return format == ExportFormat::Gguf ? m.string() + ".gguf" : m.string() + "-" + to_string(format);
}

std::string export_model(const ExportSource& source, ExportFormat format, const std::string& out,
                         const ExportOptions& options) {
  const bool folder = format != ExportFormat::Gguf;
  StagedOutput staged(out, folder);
  switch (format) {
    case ExportFormat::Hf:
      write_hf_export(source, staged.path(), options);
      break;
    case ExportFormat::Gptq:
      write_gptq_export(source, staged.path(), options);
      break;
    case ExportFormat::CompressedTensors:
      write_compressed_tensors_export(source, staged.path(), options);
      break;
    case ExportFormat::Gguf:
      write_gguf_export(source, staged.path(), options);
      break;
  }
  staged.commit();
  return staged.final_path();
}

}  // namespace qatwb::exporter
