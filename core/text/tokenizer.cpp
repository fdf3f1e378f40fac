// Tokenizer::encode / decode: added-token split -> normalizer -> pre-tokenizer -> BPE ->
// post-processor, and ids -> token strings -> decoder chain.
#include "core/text/tokenizer.h"

#include <cstdio>
#include <deque>

#include "core/text/tokenizer_impl.h"
#include "core/text/utf8.h"
#include "core/util/error.h"

namespace qatwb::text {

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

int32_t Tokenizer::bos_id() const { return impl_->bos_id; }
int32_t Tokenizer::eos_id() const { return impl_->eos_id; }
int64_t Tokenizer::vocab_size() const { return impl_->vocab_size; }
const std::string& Tokenizer::path() const { return impl_->path; }

std::vector<int32_t> Tokenizer::encode(std::string_view utf8, bool add_special_tokens,
                                       bool replace_invalid) const {
  std::string replaced;
  size_t bad = find_invalid_utf8(utf8);
  if (bad != kUtf8Valid) {
    if (!replace_invalid) {
      char byte[8];
      std::snprintf(byte, sizeof(byte), "0x%02X", static_cast<unsigned char>(utf8[bad]));
      throw Error("invalid UTF-8 at byte offset " + std::to_string(bad) + " (byte " + byte +
                  ") of the input to encode");
    }
    replaced = replace_invalid_utf8(utf8);
    utf8 = replaced;
  }

  const Impl& impl = *impl_;
  std::vector<int32_t> ids;
  ids.reserve(utf8.size() / 3 + 4);
  if (add_special_tokens) ids = impl.post.prefix;

  thread_local std::vector<AddedTokenSplitter::Section> sections;
  thread_local std::vector<std::string_view> pieces;
  std::deque<std::string> arena;
  impl.added.split(utf8, sections);
  for (size_t i = 0; i < sections.size(); ++i) {
    const auto& section = sections[i];
    if (section.token >= 0) {
      ids.push_back(impl.added.tokens()[section.token].id);
      continue;
    }
    if (section.text.empty()) continue;
    std::string_view text = section.text;
    if (!impl.normalizer.empty()) {
      arena.push_back(impl.normalizer.normalize(text));
      text = arena.back();
      if (text.empty()) continue;
    }
    impl.pre_tokenizer.split(text, i, pieces, arena);
    for (std::string_view piece : pieces) impl.model.encode(piece, ids);
  }
  if (add_special_tokens) ids.insert(ids.end(), impl.post.suffix.begin(), impl.post.suffix.end());
  return ids;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  const Impl& impl = *impl_;
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    if (const AddedToken* added = impl.added.find_by_id(ids[i])) {
      if (!(skip_special_tokens && added->special)) tokens.push_back(added->content);
      continue;
    }
    const std::string& token = impl.model.id_to_token(ids[i]);
    if (token.empty()) {
      throw Error("decode: id " + std::to_string(ids[i]) + " at position " + std::to_string(i) +
                  " is not in the vocabulary of " + impl.path + " (size " +
                  std::to_string(impl.vocab_size) + ")");
    }
    tokens.push_back(token);
  }
  return impl.decoder.decode(std::move(tokens), [&](const std::string& t) {
    return impl.added.find_by_content(t) != nullptr;
  });
}

}  // namespace qatwb::text
