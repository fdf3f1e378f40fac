// Added tokens (tokenizer.json "added_tokens"): the input is split on them before
// normalization, taking the longest token that starts at the leftmost position (a byte trie),
// and lstrip / rstrip trim the white space next to a match, as transformers.js does.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace qatwb::text {

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool lstrip = false;
  bool rstrip = false;
  bool special = false;
};

class AddedTokenSplitter {
 public:
  struct Section {
    std::string_view text;  // input text, or the token's content
    int32_t token = -1;     // index into tokens() when the section is an added token
  };

  void add(AddedToken token);
  // Sections in order; text sections are non-empty (after lstrip / rstrip trimming).
  void split(std::string_view text, std::vector<Section>& sections) const;

  const std::vector<AddedToken>& tokens() const { return tokens_; }
  const AddedToken* find_by_id(int32_t id) const;
  const AddedToken* find_by_content(std::string_view content) const;

 private:
  // Index of the longest token matching at `pos`, or -1; `length` receives its byte length.
  int32_t match_at(std::string_view text, size_t pos, size_t& length) const;

  std::vector<AddedToken> tokens_;
  // Trie over token bytes: (node << 8 | byte) -> child node; node 0 is the root.
  std::unordered_map<uint64_t, int32_t> children_;
  std::vector<int32_t> node_token_{-1};  // token ending at each node
  bool first_byte_[256] = {};
  std::unordered_map<int32_t, size_t> by_id_;
};

}  // namespace qatwb::text
