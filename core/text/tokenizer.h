// HF tokenizer.json: byte-level BPE with Split regex (Llama-3, GPT-2 family) and SentencePiece-
// style BPE with Metaspace / byte_fallback (Llama-2, Mistral). Token-exact against the reference
// JS tokenizers (tests/core/tst_tokenizer.cpp). Immutable after loading; encode/decode are
// thread-safe.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace qatwb::text {

class Tokenizer {
 public:
  // Throws qatwb::Error naming the file and the field on anything unsupported or malformed.
  static Tokenizer from_file(const std::string& tokenizer_json_path);

  // `utf8` must be valid UTF-8: invalid input throws qatwb::Error naming the byte offset, unless
  // replace_invalid is set, in which case each invalid sequence becomes U+FFFD first (what a JS
  // TextDecoder does). add_special_tokens applies the post-processor (e.g. BOS).
  std::vector<int32_t> encode(std::string_view utf8, bool add_special_tokens,
                              bool replace_invalid = false) const;
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const;

  int32_t bos_id() const;      // -1 when the tokenizer has none
  int32_t eos_id() const;      // -1 when the tokenizer has none
  int64_t vocab_size() const;  // model vocabulary including added tokens (max id + 1)
  const std::string& path() const;

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace qatwb::text
