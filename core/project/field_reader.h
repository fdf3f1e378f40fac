// Typed reads from a ConfigNode map that never throw: each mistake becomes a Diagnostic
// ("file:line:col: field.path: message") and reading goes on, so that one pass reports every
// mistake in a project file. Used by project_yaml.cpp.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "core/project/config_node.h"
#include "core/project/project_yaml.h"

namespace qatwb::project {

// "a.b" + "c" -> "a.b.c"
std::string join_field(const std::string& path, const std::string& key);
// Levenshtein distance (for "did you mean").
size_t edit_distance(const std::string& a, const std::string& b);
// The closest candidate within a small edit distance, or "".
std::string closest_name(const std::string& key, const std::vector<std::string>& candidates);

class FieldReader {
 public:
  void error(const Origin& at, const std::string& field, const std::string& message);
  const std::vector<Diagnostic>& diagnostics() const { return diagnostics_; }

  // A section map `key` of `parent` (nullptr when absent or not a map; the latter is reported).
  // Unknown keys inside it are reported with a suggestion from `allowed`.
  const ConfigNode* section(const ConfigNode* parent, const std::string& key,
                            const std::string& path, const std::vector<std::string>& allowed);
  // Reports keys of `map` not in `allowed`.
  void check_keys(const ConfigNode& map, const std::string& path,
                  const std::vector<std::string>& allowed);

  // Each returns the value node when `key` is present and well typed (out is set), else nullptr
  // (a wrong type is reported; an absent key leaves out unchanged).
  const ConfigNode* read_int(const ConfigNode* map, const std::string& key, const std::string& path,
                             int64_t& out);
  const ConfigNode* read_int(const ConfigNode* map, const std::string& key, const std::string& path,
                             int& out);
  const ConfigNode* read_number(const ConfigNode* map, const std::string& key,
                                const std::string& path, double& out);
  const ConfigNode* read_bool(const ConfigNode* map, const std::string& key,
                              const std::string& path, bool& out);
  const ConfigNode* read_string(const ConfigNode* map, const std::string& key,
                                const std::string& path, std::string& out);
  // A string that must be one of `choices` ("expected one of a, b, c, got 'x'").
  const ConfigNode* read_choice(const ConfigNode* map, const std::string& key,
                                const std::string& path, const std::vector<std::string>& choices,
                                std::string& out);
  const ConfigNode* read_string_list(const ConfigNode* map, const std::string& key,
                                     const std::string& path, std::vector<std::string>& out);

  // Typed conversions of one scalar node (report and return false on a mismatch).
  bool to_int(const ConfigNode& n, const std::string& field, int64_t& out);
  bool to_number(const ConfigNode& n, const std::string& field, double& out);
  bool to_bool(const ConfigNode& n, const std::string& field, bool& out);
  bool to_string(const ConfigNode& n, const std::string& field, std::string& out);

 private:
  std::vector<Diagnostic> diagnostics_;
};

}  // namespace qatwb::project
