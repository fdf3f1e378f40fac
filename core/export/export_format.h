// The export formats of `qatwb export` (and the GUI's export dialog), torch-free so that the GUI
// can list them from the same table.
#pragma once
#include "core/util/enum_table.h"

namespace qatwb::exporter {

enum class ExportFormat { Hf, Gptq, CompressedTensors, Gguf };
EnumRows<ExportFormat> enum_rows(ExportFormat);  // "hf", "gptq", "compressed-tensors", "gguf"
const char* to_string(ExportFormat f);

}  // namespace qatwb::exporter
