#include "core/text/added_tokens.h"

#include "core/text/utf8.h"

namespace qatwb::text {

void AddedTokenSplitter::add(AddedToken token) {
  if (token.content.empty()) return;
  int32_t index = static_cast<int32_t>(tokens_.size());
  int32_t node = 0;
  for (unsigned char c : token.content) {
    uint64_t key = (uint64_t(node) << 8) | c;
    auto it = children_.find(key);
    if (it == children_.end()) {
      int32_t child = static_cast<int32_t>(node_token_.size());
      node_token_.push_back(-1);
      it = children_.emplace(key, child).first;
    }
    node = it->second;
  }
  first_byte_[static_cast<unsigned char>(token.content[0])] = true;
  if (node_token_[node] >= 0) {
    tokens_[node_token_[node]] = std::move(token);  // same content twice: the later wins
    by_id_[tokens_[node_token_[node]].id] = static_cast<size_t>(node_token_[node]);
    return;
  }
  node_token_[node] = index;
  by_id_[token.id] = tokens_.size();
  tokens_.push_back(std::move(token));
}

int32_t AddedTokenSplitter::match_at(std::string_view text, size_t pos, size_t& length) const {
  int32_t node = 0, best = -1;
  for (size_t j = pos; j < text.size(); ++j) {
    auto it = children_.find((uint64_t(node) << 8) | static_cast<unsigned char>(text[j]));
    if (it == children_.end()) break;
    node = it->second;
    if (node_token_[node] >= 0) {
      best = node_token_[node];
      length = j + 1 - pos;
    }
  }
  return best;
}

void AddedTokenSplitter::split(std::string_view text, std::vector<Section>& sections) const {
  sections.clear();
  size_t start = 0;
  if (!tokens_.empty()) {
    for (size_t i = 0; i < text.size();) {
      size_t length = 0;
      int32_t token =
          first_byte_[static_cast<unsigned char>(text[i])] ? match_at(text, i, length) : -1;
      if (token < 0) {
        ++i;
        continue;
      }
      if (i > start) sections.push_back({text.substr(start, i - start), -1});
      sections.push_back({tokens_[token].content, token});
      i += length;
      start = i;
    }
  }
  if (start < text.size()) sections.push_back({text.substr(start), -1});

  for (size_t i = 0; i < sections.size(); ++i) {
    if (sections[i].token < 0) continue;
    const AddedToken& t = tokens_[sections[i].token];
    if (t.lstrip && i > 0 && sections[i - 1].token < 0) {
      sections[i - 1].text = trim_js_end(sections[i - 1].text);
    }
    if (t.rstrip && i + 1 < sections.size() && sections[i + 1].token < 0) {
      sections[i + 1].text = trim_js_start(sections[i + 1].text);
    }
  }
}

const AddedToken* AddedTokenSplitter::find_by_id(int32_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

const AddedToken* AddedTokenSplitter::find_by_content(std::string_view content) const {
  int32_t node = 0;
  for (unsigned char c : content) {
    auto it = children_.find((uint64_t(node) << 8) | c);
    if (it == children_.end()) return nullptr;
    node = it->second;
  }
  return node_token_[node] >= 0 ? &tokens_[node_token_[node]] : nullptr;
}

}  // namespace qatwb::text
