#include "core/util/error.h"

namespace qatwb {

std::string at_location(const std::string& path, int line, const std::string& message) {
  if (line > 0) return path + ":" + std::to_string(line) + ": " + message;
  return path + ": " + message;
}

}  // namespace qatwb
