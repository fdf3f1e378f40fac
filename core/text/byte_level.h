// GPT-2's reversible mapping between bytes and printable code points (the "ByteLevel"
// pre-tokenizer / decoder alphabet): printable Latin-1 bytes map to themselves, the other 68
// bytes to U+0100.. in byte order.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace qatwb::text {

char32_t byte_to_unicode(uint8_t byte);
// The byte a code point of the alphabet stands for, or -1.
int unicode_to_byte(char32_t cp);

// A token written in the alphabet (as in tokenizer.json) -> raw bytes; false when a code point
// is outside the alphabet.
bool byte_level_to_bytes(std::string_view token, std::string& bytes);

}  // namespace qatwb::text
