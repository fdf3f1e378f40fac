// One table per enum: every enum whose values are spelled as text somewhere (project YAML, run
// and job JSON, SQLite, the command line, the GUI's combo boxes, reports) has exactly one table
// of {value, name, one-line description} rows, declared next to the enum as
//
//   EnumRows<Format> enum_rows(Format);   // found by argument-dependent lookup
//
// and defined in one .cpp. The generic functions below are the only enum <-> text mapping:
// enum_name(v), parse_enum<E>(text), enum_names<E>(), enum_list<E>() for "expected one of ..."
// messages, enum_help(v) for help texts and tooltips. Rows are listed in the order messages and
// help texts show them. Plain C++ (no torch, no Qt): the parser, the CLI and the GUI share it.
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qatwb {

template <typename E>
struct EnumRow {
  E value;
  const char* name;  // how text spells the value
  const char* help;  // one line, for help texts and tooltips
};

// A view of one enum's table.
template <typename E>
class EnumRows {
 public:
  template <size_t N>
  constexpr EnumRows(const EnumRow<E> (&rows)[N]) : first_(rows), count_(N) {}  // NOLINT
  const EnumRow<E>* begin() const { return first_; }
  const EnumRow<E>* end() const { return first_ + count_; }
  size_t size() const { return count_; }

 private:
  const EnumRow<E>* first_;
  size_t count_;
};

template <typename E>
EnumRows<E> enum_rows_of() {
  return enum_rows(E{});
}

// The row of `value` (nullptr for a value outside the table).
template <typename E>
const EnumRow<E>* enum_row(E value) {
  for (const auto& r : enum_rows(value))
    if (r.value == value) return &r;
  return nullptr;
}

// "?" for a value outside the table.
template <typename E>
const char* enum_name(E value) {
  const EnumRow<E>* r = enum_row(value);
  return r ? r->name : "?";
}

template <typename E>
const char* enum_help(E value) {
  const EnumRow<E>* r = enum_row(value);
  return r ? r->help : "";
}

// The value spelled exactly `text` (case-sensitive), or nullopt.
template <typename E>
std::optional<E> parse_enum(std::string_view text) {
  for (const auto& r : enum_rows_of<E>())
    if (text == r.name) return r.value;
  return std::nullopt;
}

// Every name, in table order.
template <typename E>
std::vector<std::string> enum_names() {
  std::vector<std::string> out;
  for (const auto& r : enum_rows_of<E>()) out.emplace_back(r.name);
  return out;
}

// The names of the values `keep` accepts, in table order.
template <typename E, typename Pred>
std::vector<std::string> enum_names_where(Pred keep) {
  std::vector<std::string> out;
  for (const auto& r : enum_rows_of<E>())
    if (keep(r.value)) out.emplace_back(r.name);
  return out;
}

// "a, b, c" (sep ", "), "a | b | c" (sep " | ") ...
std::string join_names(const std::vector<std::string>& names, const char* sep = ", ");
// "a, b or c"
std::string names_or(const std::vector<std::string>& names);

template <typename E>
std::string enum_list(const char* sep = ", ") {
  return join_names(enum_names<E>(), sep);
}

// Throws qatwb::Error "unknown <what> '<text>' (expected a, b or c)".
[[noreturn]] void throw_unknown_name(const std::string& what, std::string_view text,
                                     const std::vector<std::string>& names);

template <typename E>
E parse_enum_or_throw(std::string_view text, const std::string& what) {
  if (auto v = parse_enum<E>(text)) return *v;
  throw_unknown_name(what, text, enum_names<E>());
}

}  // namespace qatwb
