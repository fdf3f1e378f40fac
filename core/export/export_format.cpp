#include "core/export/export_format.h"

namespace qatwb::exporter {
namespace {

const EnumRow<ExportFormat> kExportFormats[] = {
    {ExportFormat::Hf, "hf", "HF safetensors, dequantized (transformers, lm-eval)"},
    {ExportFormat::Gptq, "gptq", "GPTQ packed INT weights (vLLM, ExLlama)"},
    {ExportFormat::CompressedTensors, "compressed-tensors", "compressed-tensors (vLLM)"},
    {ExportFormat::Gguf, "gguf", "one GGUF file (llama.cpp)"}};

}  // namespace

EnumRows<ExportFormat> enum_rows(ExportFormat) { return kExportFormats; }
const char* to_string(ExportFormat f) { return enum_name(f); }

}  // namespace qatwb::exporter
