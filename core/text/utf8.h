// UTF-8 helpers for the tokenizer: validation with the offending byte offset, WHATWG-style
// replacement of invalid sequences (what a JS TextDecoder does), code point iteration and the
// JavaScript definition of white space (the reference tokenizers run in JS).
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace qatwb::text {

inline constexpr size_t kUtf8Valid = static_cast<size_t>(-1);

// Byte offset of the first byte of the first invalid sequence (overlong forms, surrogates and
// code points past U+10FFFF are invalid), or kUtf8Valid.
size_t find_invalid_utf8(std::string_view s);

// Each maximal subpart of an invalid sequence becomes one U+FFFD (Unicode 6.0 "best practice",
// the WHATWG Encoding Standard and JS TextDecoder).
std::string replace_invalid_utf8(std::string_view s);

// Length in bytes of the (valid) UTF-8 sequence starting with lead byte `c`.
inline size_t utf8_length(unsigned char c) {
  return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

// Decodes the code point at `pos` of valid UTF-8 and advances `pos` past it.
char32_t next_code_point(std::string_view s, size_t& pos);

void append_utf8(std::string& out, char32_t cp);

// WhiteSpace or LineTerminator as String.prototype.trim() sees them.
bool is_js_space(char32_t cp);
std::string_view trim_js_start(std::string_view s);
std::string_view trim_js_end(std::string_view s);

}  // namespace qatwb::text
