#include "core/util/enum_table.h"

#include "core/util/error.h"

namespace qatwb {

std::string join_names(const std::vector<std::string>& names, const char* sep) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : sep) + n;
  return out;
}

std::string names_or(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i)
    out += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
  return out;
}

void throw_unknown_name(const std::string& what, std::string_view text,
                        const std::vector<std::string>& names) {
  throw Error("unknown " + what + " '" + std::string(text) + "' (expected " + names_or(names) +
              ")");
}

}  // namespace qatwb
