// A compiled PCRE2 pattern (UTF + UCP, JIT when available) used by the Split pre-tokenizer and
// the Replace normalizer. Patterns in tokenizer.json are written for Oniguruma/Rust; the
// reference tokenizers run them as JS RegExp with the "u" flag, so compile() first rewrites the
// constructs whose meaning differs between JS and PCRE2 (\s, \d, \w, ".", "$", the (?i:...)
// contraction group that transformers.js expands to ASCII case pairs).
#pragma once
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace qatwb::text {

class Regex {
 public:
  // Throws qatwb::Error naming `where` (e.g. "tokenizer.json: pre_tokenizer.pattern") on a
  // pattern PCRE2 rejects.
  static Regex compile(const std::string& js_pattern, const std::string& where);
  // Escapes `literal` so that it matches itself.
  static Regex literal(const std::string& literal, const std::string& where);

  // Calls on_match(begin, end) for each successive non-overlapping match in valid UTF-8 `text`
  // (empty matches included, advancing one code point past them, as String.matchAll does).
  void for_each_match(std::string_view text,
                      const std::function<void(size_t, size_t)>& on_match) const;

  const std::string& pattern() const { return pattern_; }  // as given to PCRE2

  Regex(Regex&&) noexcept;
  Regex& operator=(Regex&&) noexcept;
  ~Regex();

 private:
  struct Code;
  Regex(std::string pattern, std::unique_ptr<Code> code);
  std::string pattern_;
  std::unique_ptr<Code> code_;
};

// The JS -> PCRE2 rewriting used by compile(), exposed for tests.
std::string js_pattern_to_pcre2(const std::string& js_pattern, const std::string& where);

}  // namespace qatwb::text
