#include "core/text/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/util/error.h"

namespace qatwb::text {
namespace {

// JS \s: WhiteSpace and LineTerminator (PCRE2's \s with UCP adds U+0085 and lacks U+FEFF).
constexpr const char* kJsSpaceItems =
    "\\t\\n\\x{0B}\\f\\r \\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}"
    "\\x{205F}\\x{3000}\\x{FEFF}";
constexpr const char* kJsDigitItems = "0-9";
constexpr const char* kJsWordItems = "A-Za-z0-9_";

// transformers.js rewrites this group, which JS RegExp cannot parse, to ASCII case pairs (so
// it does not fold U+017F LATIN SMALL LETTER LONG S or U+212A KELVIN SIGN as PCRE2 would).
constexpr std::string_view kCaselessContractions = "(?i:'s|'t|'re|'ve|'m|'ll|'d)";
constexpr std::string_view kAsciiContractions =
    "(?:'([sS]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD]))";

std::string pcre2_message(int code) {
  PCRE2_UCHAR buffer[256];
  pcre2_get_error_message(code, buffer, sizeof(buffer));
  return reinterpret_cast<const char*>(buffer);
}

// Per-thread match state: match data (group 0 only) and a JIT stack larger than the default.
struct ThreadMatchState {
  pcre2_match_data* data = pcre2_match_data_create(1, nullptr);
  pcre2_match_context* context = pcre2_match_context_create(nullptr);
  pcre2_jit_stack* stack = pcre2_jit_stack_create(32 * 1024, 1024 * 1024, nullptr);
  ThreadMatchState() {
    if (context && stack) pcre2_jit_stack_assign(context, nullptr, stack);
  }
  ~ThreadMatchState() {
    pcre2_jit_stack_free(stack);
    pcre2_match_context_free(context);
    pcre2_match_data_free(data);
  }
};

ThreadMatchState& thread_match_state() {
  thread_local ThreadMatchState state;
  return state;
}

}  // namespace

std::string js_pattern_to_pcre2(const std::string& js_pattern, const std::string& where) {
  std::string p;
  // transformers.js drops the needless escapes \# \& \~ (harmless here, kept for parity).
  for (size_t i = 0; i < js_pattern.size(); ++i) {
    if (js_pattern[i] == '\\' && i + 1 < js_pattern.size() &&
        (js_pattern[i + 1] == '#' || js_pattern[i + 1] == '&' || js_pattern[i + 1] == '~')) {
      continue;
    }
    p += js_pattern[i];
    if (js_pattern[i] == '\\' && i + 1 < js_pattern.size()) p += js_pattern[++i];
  }
  for (size_t at = p.find(kCaselessContractions); at != std::string::npos;
       at = p.find(kCaselessContractions, at + kAsciiContractions.size())) {
    p.replace(at, kCaselessContractions.size(), kAsciiContractions);
  }

  std::string out;
  bool in_class = false;
  for (size_t i = 0; i < p.size(); ++i) {
    char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      char e = p[++i];
      const char* items = e == 's' || e == 'S'   ? kJsSpaceItems
                          : e == 'd' || e == 'D' ? kJsDigitItems
                          : e == 'w' || e == 'W' ? kJsWordItems
                                                 : nullptr;
      bool negated = e == 'S' || e == 'D' || e == 'W';
      if (items && in_class && negated) {
        throw Error(where + ": \\" + std::string(1, e) +
                    " inside a character class is not supported in pattern " + js_pattern);
      }
      if (items && in_class) {
        out += items;
      } else if (items) {
        out += negated ? "[^" : "[";
        out += items;
        out += "]";
      } else {
        out += '\\';
        out += e;
      }
      continue;
    }
    if (in_class) {
      if (c == ']') in_class = false;
      out += c;
      continue;
    }
    if (c == '[') {
      in_class = true;
      out += c;
      // A ']' right after '[' or '[^' is a literal in PCRE2 but an empty class in JS.
      if (i + 1 < p.size() && p[i + 1] == '^') out += p[++i];
      if (i + 1 < p.size() && p[i + 1] == ']') {
        throw Error(where + ": empty character class is not supported in pattern " + js_pattern);
      }
      continue;
    }
    if (c == '.') {
      out += "[^\\n\\r\\x{2028}\\x{2029}]";  // JS "." stops at line terminators
      continue;
    }
    out += c;
  }
  return out;
}

struct Regex::Code {
  pcre2_code* code = nullptr;
  bool jit = false;
  ~Code() { pcre2_code_free(code); }
};

Regex::Regex(std::string pattern, std::unique_ptr<Code> code)
    : pattern_(std::move(pattern)), code_(std::move(code)) {}
Regex::Regex(Regex&&) noexcept = default;
Regex& Regex::operator=(Regex&&) noexcept = default;
Regex::~Regex() = default;

Regex Regex::compile(const std::string& js_pattern, const std::string& where) {
  std::string pattern = js_pattern_to_pcre2(js_pattern, where);
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  auto code = std::make_unique<Code>();
  code->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                             PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY, &error_code,
                             &error_offset, nullptr);
  if (!code->code) {
    throw Error(where + ": invalid regex at offset " + std::to_string(error_offset) + " (" +
                pcre2_message(error_code) + "): " + js_pattern);
  }
  code->jit = pcre2_jit_compile(code->code, PCRE2_JIT_COMPLETE) == 0;
  return Regex(std::move(pattern), std::move(code));
}

Regex Regex::literal(const std::string& literal, const std::string& where) {
  std::string quoted = "\\Q";
  for (size_t i = 0; i < literal.size(); ++i) {
    if (literal.compare(i, 2, "\\E") == 0) {
      quoted += "\\E\\\\E\\Q";
      ++i;
    } else {
      quoted += literal[i];
    }
  }
  quoted += "\\E";
  // Bypass the JS rewriting: \Q...\E content is literal.
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  auto code = std::make_unique<Code>();
  code->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(quoted.data()), quoted.size(),
                             PCRE2_UTF | PCRE2_UCP, &error_code, &error_offset, nullptr);
  if (!code->code) {
    throw Error(where + ": cannot compile literal pattern (" + pcre2_message(error_code) + ")");
  }
  code->jit = pcre2_jit_compile(code->code, PCRE2_JIT_COMPLETE) == 0;
  return Regex(std::move(quoted), std::move(code));
}

void Regex::for_each_match(std::string_view text,
                           const std::function<void(size_t, size_t)>& on_match) const {
  ThreadMatchState& state = thread_match_state();
  if (!state.data || !state.context) throw Error("regex: out of memory for match data");
  auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t offset = 0;
  while (offset <= text.size()) {
    int rc = pcre2_match(code_->code, subject, text.size(), offset, PCRE2_NO_UTF_CHECK, state.data,
                         state.context);
    if (rc == PCRE2_ERROR_NOMATCH) return;
    if (rc < 0) {
      throw Error("regex " + pattern_ + ": match failed at byte " + std::to_string(offset) + " (" +
                  pcre2_message(rc) + ")");
    }
    PCRE2_SIZE* ov = pcre2_get_ovector_pointer(state.data);
    size_t begin = ov[0], end = ov[1];
    on_match(begin, end);
    if (end > begin) {
      offset = end;
    } else {
      if (end >= text.size()) return;
      offset = end + 1;  // step over one code point
      while (offset < text.size() && (static_cast<unsigned char>(text[offset]) & 0xC0) == 0x80) {
        ++offset;
      }
    }
  }
}

}  // namespace qatwb::text
