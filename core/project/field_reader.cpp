#include "core/project/field_reader.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace qatwb::project {

std::string join_field(const std::string& path, const std::string& key) {
  if (path.empty()) return key;
  if (!key.empty() && key.front() == '[') return path + key;
  return path + "." + key;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string closest_name(const std::string& key, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = static_cast<size_t>(-1);
  for (const auto& c : candidates) {
    size_t d = edit_distance(key, c);
    if (d < best_d) best_d = d, best = c;
  }
  size_t limit = std::max<size_t>(2, std::min(key.size(), best.size()) / 3);
  return best_d <= limit ? best : std::string();
}

void FieldReader::error(const Origin& at, const std::string& field, const std::string& message) {
  Diagnostic d;
  d.file = at.file;
  d.line = at.line;
  d.col = at.col;
  d.field = field;
  d.message = message;
  diagnostics_.push_back(std::move(d));
}

void FieldReader::check_keys(const ConfigNode& map, const std::string& path,
                             const std::vector<std::string>& allowed) {
  for (const auto& e : map.entries) {
    if (std::find(allowed.begin(), allowed.end(), e.key) != allowed.end()) continue;
    std::string msg = "unknown key '" + e.key + "'";
    std::string hint = closest_name(e.key, allowed);
    if (!hint.empty()) msg += " (did you mean '" + hint + "'?)";
    error(e.key_origin, join_field(path, e.key), msg);
  }
}

const ConfigNode* FieldReader::section(const ConfigNode* parent, const std::string& key,
                                       const std::string& path,
                                       const std::vector<std::string>& allowed) {
  if (!parent) return nullptr;
  const ConfigNode* n = parent->find(key);
  if (!n || n->kind == ConfigNode::Kind::Null) return nullptr;
  std::string field = join_field(path, key);
  if (!n->is_map()) {
    error(n->origin, field, "expected a map, got " + n->describe());
    return nullptr;
  }
  check_keys(*n, field, allowed);
  return n;
}

bool FieldReader::to_int(const ConfigNode& n, const std::string& field, int64_t& out) {
  if (n.kind == ConfigNode::Kind::Scalar && !n.scalar.empty()) {
    const char* s = n.scalar.c_str();
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(s, &end, 10);
    if (*end == '\0' && errno == 0 && n.scalar.find_first_of(" \t") == std::string::npos) {
      out = v;
      return true;
    }
    // 1e3 and 2048.0 are integers too when they are exact.
    double d = std::strtod(s, &end);
    if (*end == '\0' && std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15) {
      out = static_cast<int64_t>(d);
      return true;
    }
  }
  error(n.origin, field, "expected an integer, got " + n.describe());
  return false;
}

bool FieldReader::to_number(const ConfigNode& n, const std::string& field, double& out) {
  if (n.kind == ConfigNode::Kind::Scalar && !n.scalar.empty()) {
    char* end = nullptr;
    double d = std::strtod(n.scalar.c_str(), &end);
    if (*end == '\0' && std::isfinite(d) && n.scalar.find_first_of(" \t") == std::string::npos) {
      out = d;
      return true;
    }
  }
  error(n.origin, field, "expected a number, got " + n.describe());
  return false;
}

bool FieldReader::to_bool(const ConfigNode& n, const std::string& field, bool& out) {
  if (n.kind == ConfigNode::Kind::Scalar) {
    std::string s = n.scalar;
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    if (s == "true" || s == "yes" || s == "on") return out = true, true;
    if (s == "false" || s == "no" || s == "off") return out = false, true;
  }
  error(n.origin, field, "expected true or false, got " + n.describe());
  return false;
}

bool FieldReader::to_string(const ConfigNode& n, const std::string& field, std::string& out) {
  if (n.kind == ConfigNode::Kind::Scalar) {
    out = n.scalar;
    return true;
  }
  error(n.origin, field, "expected a string, got " + n.describe());
  return false;
}

const ConfigNode* FieldReader::read_int(const ConfigNode* map, const std::string& key,
                                        const std::string& path, int64_t& out) {
  const ConfigNode* n = map ? map->find(key) : nullptr;
  if (!n) return nullptr;
  return to_int(*n, join_field(path, key), out) ? n : nullptr;
}

const ConfigNode* FieldReader::read_int(const ConfigNode* map, const std::string& key,
                                        const std::string& path, int& out) {
  int64_t v = out;
  const ConfigNode* n = read_int(map, key, path, v);
  if (!n) return nullptr;
  if (v < -2147483647 || v > 2147483647) {
    error(n->origin, join_field(path, key), "value " + n->scalar + " is out of range");
    return nullptr;
  }
  out = static_cast<int>(v);
  return n;
}

const ConfigNode* FieldReader::read_number(const ConfigNode* map, const std::string& key,
                                           const std::string& path, double& out) {
  const ConfigNode* n = map ? map->find(key) : nullptr;
  if (!n) return nullptr;
  return to_number(*n, join_field(path, key), out) ? n : nullptr;
}

const ConfigNode* FieldReader::read_bool(const ConfigNode* map, const std::string& key,
                                         const std::string& path, bool& out) {
  const ConfigNode* n = map ? map->find(key) : nullptr;
  if (!n) return nullptr;
  return to_bool(*n, join_field(path, key), out) ? n : nullptr;
}

const ConfigNode* FieldReader::read_string(const ConfigNode* map, const std::string& key,
                                           const std::string& path, std::string& out) {
  const ConfigNode* n = map ? map->find(key) : nullptr;
  if (!n) return nullptr;
  return to_string(*n, join_field(path, key), out) ? n : nullptr;
}

const ConfigNode* FieldReader::read_choice(const ConfigNode* map, const std::string& key,
                                           const std::string& path,
                                           const std::vector<std::string>& choices,
                                           std::string& out) {
  const ConfigNode* n = map ? map->find(key) : nullptr;
  if (!n) return nullptr;
  std::string field = join_field(path, key);
  if (n->kind == ConfigNode::Kind::Scalar &&
      std::find(choices.begin(), choices.end(), n->scalar) != choices.end()) {
    out = n->scalar;
    return n;
  }
  std::string list;
  for (const auto& c : choices) list += (list.empty() ? "" : ", ") + c;
  std::string msg = "expected one of " + list + ", got " + n->describe();
  if (n->kind == ConfigNode::Kind::Scalar) {
    std::string hint = closest_name(n->scalar, choices);
    if (!hint.empty()) msg += " (did you mean '" + hint + "'?)";
  }
  error(n->origin, field, msg);
  return nullptr;
}

const ConfigNode* FieldReader::read_string_list(const ConfigNode* map, const std::string& key,
                                                const std::string& path,
                                                std::vector<std::string>& out) {
  const ConfigNode* n = map ? map->find(key) : nullptr;
  if (!n) return nullptr;
  std::string field = join_field(path, key);
  if (n->kind == ConfigNode::Kind::Null) {
    out.clear();
    return n;
  }
  if (n->kind != ConfigNode::Kind::Sequence) {
    error(n->origin, field, "expected a list of strings, got " + n->describe());
    return nullptr;
  }
  std::vector<std::string> values;
  bool ok = true;
  for (size_t i = 0; i < n->items.size(); ++i) {
    std::string s;
    if (to_string(n->items[i], field + "[" + std::to_string(i) + "]", s))
      values.push_back(s);
    else
      ok = false;
  }
  if (!ok) return nullptr;
  out = std::move(values);
  return n;
}

}  // namespace qatwb::project
