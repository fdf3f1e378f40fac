// Small string and path helpers shared by core's readers and error messages (no torch, no Qt).
#pragma once
#include <filesystem>
#include <sstream>
#include <string>

namespace qatwb {

inline bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// A number as a stream prints it by default (6 significant digits, no trailing zeros): the form
// error messages and schedule descriptions quote values in.
inline std::string number_text(double x) {
  std::ostringstream os;
  os << x;
  return os.str();
}

// `p` made absolute and normalised; `p` unchanged if the working directory cannot be read.
inline std::string absolute_path(const std::string& p) {
  std::error_code ec;
  std::filesystem::path a = std::filesystem::absolute(p, ec);
  return (ec ? std::filesystem::path(p) : a).lexically_normal().string();
}

// One CSV field: quoted (inner quotes doubled) when it holds a comma, quote or line break.
inline std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace qatwb
