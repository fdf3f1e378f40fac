#include "core/jobs/shell_quote.h"

#include "core/util/error.h"

namespace qatwb::jobs {

static bool is_safe_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '_':
    case '@':
    case '%':
    case '+':
    case '=':
    case ':':
    case ',':
    case '.':
    case '/':
    case '-':
      return true;
    default:
      return false;
  }
}

std::string shell_quote(const std::string& arg) {
  bool safe = !arg.empty();
  for (char c : arg) safe = safe && is_safe_char(c);
  if (safe) return arg;
  std::string out = "'";
  for (char c : arg) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  out += "'";
  return out;
}

std::string shell_join(const std::vector<std::string>& argv) {
  std::string out;
  for (size_t i = 0; i < argv.size(); ++i) {
    if (i) out += ' ';
    out += shell_quote(argv[i]);
  }
  return out;
}

std::vector<std::string> split_command_line(const std::string& line) {
  std::vector<std::string> words;
  std::string cur;
  bool in_word = false;
  size_t i = 0;
  const size_t n = line.size();
  while (i < n) {
    char c = line[i];
    if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) words.push_back(cur);
      cur.clear();
      in_word = false;
      ++i;
    } else if (c == '\'') {
      size_t end = line.find('\'', i + 1);
      if (end == std::string::npos) {
        throw Error("command line: unterminated ' quote at column " + std::to_string(i + 1) +
                    " in: " + line);
      }
      cur.append(line, i + 1, end - i - 1);
      in_word = true;
      i = end + 1;
    } else if (c == '"') {
      size_t j = i + 1;
      bool closed = false;
      while (j < n) {
        char d = line[j];
        if (d == '"') {
          closed = true;
          break;
        }
        if (d == '\\' && j + 1 < n &&
            (line[j + 1] == '"' || line[j + 1] == '\\' || line[j + 1] == '$' ||
             line[j + 1] == '`')) {
          cur += line[j + 1];
          j += 2;
          continue;
        }
        cur += d;
        ++j;
      }
      if (!closed) {
        throw Error("command line: unterminated \" quote at column " + std::to_string(i + 1) +
                    " in: " + line);
      }
      in_word = true;
      i = j + 1;
    } else if (c == '\\') {
      if (i + 1 >= n) throw Error("command line: trailing backslash in: " + line);
      cur += line[i + 1];
      in_word = true;
      i += 2;
    } else {
      cur += c;
      in_word = true;
      ++i;
    }
  }
  if (in_word) words.push_back(cur);
  return words;
}

}  // namespace qatwb::jobs
