// Reads a GGUF v3 file: metadata, tensor infos and tensor bytes, validating every length,
// count, type and offset against the file size, so a truncated or corrupt file is a clear
// qatwb::Error naming the file and what is wrong, never an out-of-bounds read.
#pragma once
#include <string>
#include <vector>

#include "core/export/gguf_format.h"

namespace qatwb::exporter {

class GgufFile {
 public:
  static GgufFile open(const std::string& path);

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }  // start of the data section
  const GgufMetadata& metadata() const { return metadata_; }
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }

  const GgufValue* find(const std::string& key) const;  // null when absent
  const GgufValue& at(const std::string& key) const;    // throws naming the key
  const GgufTensorInfo* find_tensor(const std::string& name) const;
  std::string tensor_bytes(const std::string& name) const;  // throws when absent

 private:
  std::string path_;
  uint32_t version_ = 0;
  uint64_t alignment_ = kGgufDefaultAlignment;
  uint64_t data_offset_ = 0;
  uint64_t file_size_ = 0;
  GgufMetadata metadata_;
  std::vector<GgufTensorInfo> tensors_;
};

}  // namespace qatwb::exporter
