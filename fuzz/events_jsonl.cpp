// events.jsonl: every line of the input through the event parser, and each parsed event written
// back and parsed again (the same event).
#include <string_view>

#include "core/run/event_log.h"
#include "core/util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  while (!in.empty()) {
    const size_t nl = in.find('\n');
    const std::string_view line = in.substr(0, nl);
    in = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
    std::string why;
    const auto e = qatwb::run::parse_event_line(line, &why);
    if (!e) continue;
    try {
      const auto again = qatwb::run::parse_event_line(qatwb::run::to_json_line(*e));
      if (!again || again->type != e->type || again->step != e->step) __builtin_trap();
    } catch (const qatwb::Error&) {
    }
  }
  return 0;
}
