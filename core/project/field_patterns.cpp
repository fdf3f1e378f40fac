#include "core/project/field_patterns.h"

#include <regex>

namespace qatwb::project {

bool is_plain_name(const std::string& name) {
  static const std::regex ok(R"(^[A-Za-z0-9_][A-Za-z0-9._-]*$)");
  return std::regex_match(name, ok);
}

bool is_device(const std::string& device) {
  static const std::regex ok(R"(^(cpu|cuda|cuda:\d+)$)");
  return std::regex_match(device, ok);
}

bool is_slurm_time(const std::string& time) {
  static const std::regex ok(R"(^(\d+-)?\d{1,3}(:\d\d){0,2}$)");
  return std::regex_match(time, ok);
}

bool is_one_word(const std::string& text) {
  return text.find_first_of(" \t\r\n") == std::string::npos;
}

std::string regex_error(const std::string& pattern) {
  try {
    std::regex re(pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace qatwb::project
