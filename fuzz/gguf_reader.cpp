// The GGUF reader: metadata, tensor infos and every tensor's bytes, checked against the file.
#include "core/export/gguf_reader.h"
#include "core/util/error.h"
#include "fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = qatwb::fuzz::input_file(data, size, "model.gguf");
  try {
    const auto g = qatwb::exporter::GgufFile::open(path);
    for (const auto& t : g.tensors()) (void)g.tensor_bytes(t.name);
    (void)g.find("general.architecture");
  } catch (const qatwb::Error&) {
  }
  return 0;
}
