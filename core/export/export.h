// qatwb's exports in one call: resolve the source (export_source.h), write the format into a
// staging path next to `out`, and rename it into place only when complete.
#pragma once
#include <string>

#include "core/export/export_common.h"
#include "core/export/export_format.h"
#include "core/export/export_source.h"

namespace qatwb::exporter {

// Where an export goes by default: <run>/exports/<format> (GGUF: <run>/exports/model.gguf), or
// <model folder>-<format> (GGUF: <model folder>.gguf) for a source outside a run.
std::string default_export_path(const ExportSource& source, ExportFormat format);

// Writes the export and returns its final path. GGUF is one file, the others are folders.
std::string export_model(const ExportSource& source, ExportFormat format, const std::string& out,
                         const ExportOptions& options);

}  // namespace qatwb::exporter
