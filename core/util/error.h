// One exception type for every user-facing failure: the message already names the file, line,
// field or tensor involved, so the CLI/GUI boundary can print it as is.
#pragma once
#include <stdexcept>
#include <string>

namespace qatwb {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message, int exit_code = 1)
      : std::runtime_error(message), exit_code_(exit_code) {}
  int exit_code() const { return exit_code_; }

 private:
  int exit_code_;
};

// "path:line: message" (line omitted when 0).
std::string at_location(const std::string& path, int line, const std::string& message);

}  // namespace qatwb
