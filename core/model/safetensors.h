// safetensors files: an 8-byte little-endian header length, a JSON header naming each tensor's
// dtype, shape and [begin, end) byte range in the data section, then the data. The reader maps
// the file and validates the whole header before handing out a tensor; the writer pads the
// header with spaces to a multiple of 8, writes the tensors contiguously in the given order, and
// replaces the target atomically (temporary file + rename).
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/model/safetensors_header.h"

namespace qatwb::model {

// "F32" -> torch::kFloat32, ...; throws qatwb::Error (prefixed by `context`) for other names.
torch::ScalarType safetensors_scalar_type(const std::string& dtype, const std::string& context);
// torch::kBFloat16 -> "BF16", ...; throws qatwb::Error for types safetensors cannot hold here.
std::string safetensors_dtype_name(torch::ScalarType type, const std::string& context);

// One memory-mapped .safetensors file. The mapping lives as long as this object or any tensor
// returned by tensor() (they share ownership).
class SafetensorsFile {
 public:
  // Throws qatwb::Error naming the file (and the tensor) when the file is unreadable, truncated
  // or its header is malformed.
  static std::shared_ptr<const SafetensorsFile> open(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::vector<SafetensorsEntry>& entries() const { return entries_; }  // data order
  const SafetensorsEntry* find(const std::string& name) const;               // null when absent
  // A CPU tensor over the mapped bytes (zero-copy when suitably aligned, else a copy). Writing
  // into it never changes the file (the mapping is private).
  torch::Tensor tensor(const std::string& name) const;

 private:
  struct Mapping;
  SafetensorsFile() = default;
  std::string path_;
  std::shared_ptr<Mapping> mapping_;
  const uint8_t* data_ = nullptr;  // start of the data section
  std::map<std::string, std::string> metadata_;
  std::vector<SafetensorsEntry> entries_;
  std::map<std::string, size_t> index_;
};

// A checkpoint: one .safetensors file, or the shards listed by a *.safetensors.index.json.
class SafetensorsReader {
 public:
  // `path`: a .safetensors file, a .safetensors.index.json, or a directory holding
  // model.safetensors or model.safetensors.index.json.
  static SafetensorsReader open(const std::string& path);

  std::vector<std::string> names() const;  // file order, then data order within each file
  bool contains(const std::string& name) const;
  const SafetensorsEntry& entry(const std::string& name) const;
  const std::string& file_of(const std::string& name) const;
  torch::Tensor tensor(const std::string& name) const;
  // Metadata of the first file; shards written by this project all carry the same.
  const std::map<std::string, std::string>& metadata() const;
  std::vector<std::string> files() const;

 private:
  std::vector<std::shared_ptr<const SafetensorsFile>> files_;
  std::vector<std::pair<std::string, size_t>> order_;  // name -> index into files_
  std::map<std::string, size_t> where_;
};

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// Writes `tensors` (any device; moved to CPU one at a time) in the given order. Floating-point
// tensors are converted to `float_dtype` when it is set. Atomic: a temporary file in the same
// directory is renamed over `path`.
void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata = {},
                      std::optional<torch::ScalarType> float_dtype = std::nullopt);

// Splits the tensors (in order) into shards of at most max_shard_bytes (a larger tensor gets a
// shard of its own) named <stem>-00001-of-0000N.safetensors plus <stem>.safetensors.index.json
// ({"metadata": {"total_size": N}, "weight_map": {...}}), as HF does. A single shard is written
// as <stem>.safetensors without an index. Returns the file names written (relative to dir).
std::vector<std::string> save_safetensors_sharded(
    const std::string& dir, const NamedTensors& tensors, int64_t max_shard_bytes,
    const std::map<std::string, std::string>& metadata = {},
    std::optional<torch::ScalarType> float_dtype = std::nullopt, const std::string& stem = "model");

// Writes `bytes` to `path` atomically (temporary file in the same directory, fsync, rename).
void write_file_atomic(const std::string& path, const std::string& bytes);

}  // namespace qatwb::model
