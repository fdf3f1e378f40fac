// tokenizer.json "decoder": turns token strings back into text. ByteLevel, Sequence, Replace,
// ByteFallback, Fuse, Strip and Metaspace, chained as in transformers.js (decode_chain); no
// decoder joins the tokens with spaces. Invalid UTF-8 produced by byte tokens becomes U+FFFD.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/text/regex.h"

namespace qatwb::text {

class TokenDecoder {
 public:
  // `is_added(token)` tells the ByteLevel step which tokens to pass through unchanged.
  using IsAdded = std::function<bool(const std::string&)>;

  static TokenDecoder from_json(const nlohmann::json& j, const std::string& where,
                                const std::string& field);
  std::string decode(std::vector<std::string> tokens, const IsAdded& is_added) const;

 private:
  struct Step {
    enum class Kind { kByteLevel, kReplace, kByteFallback, kFuse, kStrip, kMetaspace };
    explicit Step(Kind k) : kind(k) {}
    Kind kind;
    std::shared_ptr<Regex> pattern;  // kReplace
    std::string content;             // kReplace: replacement; kStrip: the stripped string
    size_t start = 0, stop = 0;      // kStrip
    bool add_prefix_space = false;   // kMetaspace
  };
  static void add_steps(const nlohmann::json& j, const std::string& where, const std::string& field,
                        std::vector<Step>& steps);
  static void apply(const Step& step, std::vector<std::string>& tokens, const IsAdded& is_added);
  std::vector<Step> steps_;
};

}  // namespace qatwb::text
