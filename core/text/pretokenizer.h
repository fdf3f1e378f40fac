// tokenizer.json "pre_tokenizer": Sequence, Split (regex or string; Isolated / Removed, invert),
// ByteLevel (as the last step; optional GPT-2 regex and prefix space) and Metaspace, with the
// semantics of the reference transformers.js port.
#pragma once
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/text/regex.h"

namespace qatwb::text {

class PreTokenizer {
 public:
  // `j` may be null (the whole section is one piece).
  static PreTokenizer from_json(const nlohmann::json& j, const std::string& where,
                                const std::string& field);

  // Splits one normalized section into the pieces the model encodes one by one. Pieces view
  // `section` or strings appended to `arena` (which must outlive them).
  void split(std::string_view section, size_t section_index, std::vector<std::string_view>& pieces,
             std::deque<std::string>& arena) const;

  // True when a ByteLevel step ends the chain: the model then sees raw bytes.
  bool byte_level() const { return byte_level_; }

 private:
  struct Step {
    enum class Kind { kSplit, kMetaspace, kByteLevel };
    explicit Step(Kind k) : kind(k) {}
    Kind kind;
    std::shared_ptr<Regex> regex;  // kSplit; kByteLevel when use_regex
    bool invert = false;           // kSplit: keep only the matches
    bool removed = false;          // kSplit: drop the matches
    bool add_prefix_space = false;
    std::string replacement;  // kMetaspace
    bool prepend_first_only = false;
  };
  static void add_steps(const nlohmann::json& j, const std::string& where, const std::string& field,
                        std::vector<Step>& steps);
  static void apply(const Step& step, std::string_view piece, size_t section_index,
                    std::vector<std::string_view>& out, std::deque<std::string>& arena);
  std::vector<Step> steps_;
  bool byte_level_ = false;
};

}  // namespace qatwb::text
