// config.json -> LlamaConfig (typed fields, validation, parameter count).
#include <nlohmann/json.hpp>

#include "core/model/llama_config.h"
#include "core/util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto j = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  try {
    const auto c = qatwb::model::LlamaConfig::from_json(j, "config.json");
    c.validate("config.json");
    (void)c.num_parameters();
    (void)c.to_json().dump();
    (void)qatwb::model::rope_inv_freq(c);
  } catch (const qatwb::Error&) {
  }
  return 0;
}
