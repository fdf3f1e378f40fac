#include "core/text/byte_level.h"

#include <array>

#include "core/text/utf8.h"

namespace qatwb::text {
namespace {

bool is_printable_byte(int b) {
  return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

struct Table {
  std::array<char32_t, 256> to_unicode{};
  std::array<int16_t, 324> to_byte{};  // every code point of the alphabet is below 0x144
  Table() {
    to_byte.fill(-1);
    int extra = 0;
    for (int b = 0; b < 256; ++b) {
      char32_t cp = is_printable_byte(b) ? char32_t(b) : char32_t(256 + extra++);
      to_unicode[b] = cp;
      to_byte[cp] = static_cast<int16_t>(b);
    }
  }
};

const Table& table() {
  static const Table t;
  return t;
}

}  // namespace

char32_t byte_to_unicode(uint8_t byte) { return table().to_unicode[byte]; }

int unicode_to_byte(char32_t cp) { return cp < table().to_byte.size() ? table().to_byte[cp] : -1; }

bool byte_level_to_bytes(std::string_view token, std::string& bytes) {
  bytes.clear();
  size_t pos = 0;
  while (pos < token.size()) {
    int b = unicode_to_byte(next_code_point(token, pos));
    if (b < 0) return false;
    bytes += static_cast<char>(b);
  }
  return true;
}

}  // namespace qatwb::text
