// tokenizer.json load + encode/decode. The input is "<tokenizer.json>\n---TEXT---\n<text>": the
// first part is the file, the rest (or a fixed sentence) is encoded and decoded back.
#include <string>
#include <string_view>

#include "core/text/tokenizer.h"
#include "core/util/error.h"
#include "fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  static constexpr std::string_view kSep = "\n---TEXT---\n";
  std::string_view json = in, text = "Hello world, 123 <s> caf\xC3\xA9!";
  if (size_t at = in.find(kSep); at != std::string_view::npos) {
    json = in.substr(0, at);
    text = in.substr(at + kSep.size());
  }
  const std::string path = qatwb::fuzz::input_file(reinterpret_cast<const uint8_t*>(json.data()),
                                                   json.size(), "tokenizer.json");
  try {
    const auto tok = qatwb::text::Tokenizer::from_file(path);
    for (bool special : {false, true}) {
      std::vector<int32_t> ids;
      try {
        ids = tok.encode(text, special, /*replace_invalid=*/true);
      } catch (const qatwb::Error&) {
        continue;
      }
      for (int32_t id : ids)
        if (id < 0 || id >= tok.vocab_size()) __builtin_trap();
      (void)tok.decode(ids, special);
    }
  } catch (const qatwb::Error&) {
  }
  return 0;
}
