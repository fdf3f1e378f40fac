// tokenizer.json "normalizer": Sequence, Prepend, Replace (String or Regex pattern). Anything
// else (NFC, Lowercase, ...) is rejected at load time with the field that names it.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/text/regex.h"

namespace qatwb::text {

class Normalizer {
 public:
  // `j` may be null (no normalizer: normalize() returns its input).
  static Normalizer from_json(const nlohmann::json& j, const std::string& where,
                              const std::string& field);
  std::string normalize(std::string_view text) const;
  bool empty() const { return steps_.empty(); }

 private:
  struct Step {
    enum class Kind { kPrepend, kReplace } kind;
    std::string text;                // prepended string or replacement
    std::shared_ptr<Regex> pattern;  // kReplace
  };
  static void add_steps(const nlohmann::json& j, const std::string& where, const std::string& field,
                        std::vector<Step>& steps);
  std::vector<Step> steps_;
};

// "pattern": {"String": s} or {"Regex": r}, as Replace and Split write it.
Regex pattern_from_json(const nlohmann::json& pattern, const std::string& where,
                        const std::string& field);

// Replaces every match of `pattern` in `text` by `content` (literally).
std::string replace_all(const Regex& pattern, std::string_view text, std::string_view content);

}  // namespace qatwb::text
