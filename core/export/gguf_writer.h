// Writes a GGUF v3 file: the metadata, the tensor infos, then each tensor's bytes on an aligned
// offset. Tensor bytes are produced one tensor at a time (in order) so a large model is never
// held twice in memory.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "core/export/gguf_format.h"

namespace qatwb::exporter {

struct GgufTensorOut {
  std::string name;
  std::vector<uint64_t> dims;  // ne0 first
  GgmlType type = GgmlType::F32;
  std::function<std::string()> bytes;  // exactly GgufTensorInfo::nbytes() bytes
};

// Writes `path` (not atomically: stage it with StagedOutput). general.alignment, when present in
// `metadata`, sets the alignment. Throws qatwb::Error naming the tensor when its bytes do not
// have the size its type and dims imply, or the file cannot be written.
void write_gguf(const std::string& path, const GgufMetadata& metadata,
                const std::vector<GgufTensorOut>& tensors);

}  // namespace qatwb::exporter
