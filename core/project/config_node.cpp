#include "core/project/config_node.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "core/text/utf8.h"
#include "core/util/error.h"

namespace fs = std::filesystem;

namespace qatwb::project {

std::string Origin::where() const {
  if (line <= 0) return file;
  return file + ":" + std::to_string(line) + ":" + std::to_string(col);
}

const ConfigEntry* ConfigNode::find_entry(const std::string& key) const {
  for (const auto& e : entries)
    if (e.key == key) return &e;
  return nullptr;
}

const ConfigNode* ConfigNode::find(const std::string& key) const {
  const ConfigEntry* e = find_entry(key);
  return e ? &e->value : nullptr;
}

ConfigNode* ConfigNode::find(const std::string& key) {
  for (auto& e : entries)
    if (e.key == key) return &e.value;
  return nullptr;
}

ConfigNode& ConfigNode::set(const std::string& key, ConfigNode value) {
  if (kind == Kind::Null) kind = Kind::Map;
  for (auto& e : entries)
    if (e.key == key) {
      e.value = std::move(value);
      return e.value;
    }
  Origin key_origin = value.origin;
  entries.push_back({key, key_origin, std::move(value)});
  return entries.back().value;
}

bool ConfigNode::erase(const std::string& key) {
  for (auto it = entries.begin(); it != entries.end(); ++it)
    if (it->key == key) {
      entries.erase(it);
      return true;
    }
  return false;
}

std::string ConfigNode::describe() const {
  switch (kind) {
    case Kind::Null:
      return "nothing (null)";
    case Kind::Map:
      return "a map";
    case Kind::Sequence:
      return "a list";
    case Kind::Scalar:
      break;
  }
  return "'" + scalar + "'";
}

ConfigNode ConfigNode::make_scalar(std::string text, Hint hint) {
  ConfigNode n;
  n.kind = Kind::Scalar;
  n.scalar = std::move(text);
  n.hint = hint;
  return n;
}

ConfigNode ConfigNode::make_map() {
  ConfigNode n;
  n.kind = Kind::Map;
  return n;
}

ConfigNode ConfigNode::make_sequence() {
  ConfigNode n;
  n.kind = Kind::Sequence;
  return n;
}

namespace {

Origin origin_of(const YAML::Mark& m, const std::string& file, const std::string& base_dir) {
  Origin o;
  o.file = file;
  o.base_dir = base_dir;
  if (m.line >= 0) {
    o.line = m.line + 1;
    o.col = m.column + 1;
  }
  return o;
}

// Limits on the tree a document expands to. yaml-cpp shares the node an alias points to, so a
// few lines of anchors and aliases ("a1: [*a0, *a0, ...]", nine levels deep) stand for a billion
// nodes; copying them into a ConfigNode tree would exhaust memory. A project is a few hundred
// nodes, so the caps leave room for any real file.
constexpr size_t kMaxNodes = 100000;
constexpr int kMaxDepth = 64;

struct ConvertState {
  const std::string& file;
  const std::string& base_dir;
  size_t nodes = 0;
  std::vector<std::string> duplicates;  // every duplicate key, reported together at the end
};

// YAML is text; yaml-cpp passes stray bytes through, and a value that is not UTF-8 cannot be
// written to JSON (the run's config, a sweep point's override) later on.
void check_utf8(const std::string& s, const Origin& o, const char* what) {
  const size_t bad = text::find_invalid_utf8(s);
  if (bad != text::kUtf8Valid)
    throw Error(o.where() + ": the " + what + " is not valid UTF-8 (byte " + std::to_string(bad) +
                " of it)");
}

ConfigNode convert(const YAML::Node& y, ConvertState& st, int depth) {
  ConfigNode n;
  n.origin = origin_of(y.Mark(), st.file, st.base_dir);
  if (++st.nodes > kMaxNodes)
    throw Error(n.origin.where() + ": the YAML document expands to more than " +
                std::to_string(kMaxNodes) + " values (aliases of aliases?); refusing to expand it");
  if (depth > kMaxDepth)
    throw Error(n.origin.where() + ": the YAML document nests deeper than " +
                std::to_string(kMaxDepth) + " levels; refusing to expand it");
  switch (y.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      n.kind = ConfigNode::Kind::Null;
      break;
    case YAML::NodeType::Scalar:
      n.kind = ConfigNode::Kind::Scalar;
      n.scalar = y.Scalar();
      check_utf8(n.scalar, n.origin, "value");
      // Quoted scalars carry the "!" tag: they are strings even when they look like numbers.
      n.hint = y.Tag() == "!" ? ConfigNode::Hint::String : ConfigNode::Hint::None;
      break;
    case YAML::NodeType::Sequence:
      n.kind = ConfigNode::Kind::Sequence;
      for (const auto& item : y) n.items.push_back(convert(item, st, depth + 1));
      break;
    case YAML::NodeType::Map: {
      n.kind = ConfigNode::Kind::Map;
      for (auto it = y.begin(); it != y.end(); ++it) {
        Origin ko = origin_of(it->first.Mark(), st.file, st.base_dir);
        if (!it->first.IsScalar()) throw Error(ko.where() + ": a map key must be a plain name");
        std::string key = it->first.Scalar();
        check_utf8(key, ko, "key");
        if (n.find_entry(key)) {
          st.duplicates.push_back(ko.where() + ": duplicate key '" + key + "'");
          continue;
        }
        n.entries.push_back({key, ko, convert(it->second, st, depth + 1)});
      }
      break;
    }
  }
  return n;
}

std::string read_project_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open project file");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

ConfigNode load_chain(const std::string& path, std::vector<std::string>& chain) {
  std::error_code ec;
  fs::path abs = fs::weakly_canonical(fs::absolute(path), ec);
  if (ec) abs = fs::absolute(path);
  std::string file = abs.string();
  for (const auto& f : chain)
    if (f == file) throw Error(file + ": 'extends' forms a cycle (" + chain.front() + " ... )");
  chain.push_back(file);
  ConfigNode root = parse_yaml(read_project_file(file), file, abs.parent_path().string());
  if (root.kind == ConfigNode::Kind::Null) {
    root = ConfigNode::make_map();
    root.origin.file = file;
    root.origin.base_dir = abs.parent_path().string();
  }
  if (!root.is_map())
    throw Error(root.origin.where() + ": a project file must be a map of sections, got " +
                root.describe());
  const ConfigEntry* ext = root.find_entry("extends");
  if (!ext) return root;
  if (ext->value.kind != ConfigNode::Kind::Scalar || ext->value.scalar.empty())
    throw Error(ext->value.origin.where() + ": extends: expected a file name, got " +
                ext->value.describe());
  fs::path base_path = ext->value.scalar;
  if (base_path.is_relative()) base_path = abs.parent_path() / base_path;
  if (!fs::exists(base_path))
    throw Error(ext->value.origin.where() + ": extends: no such file '" + base_path.string() + "'");
  ConfigNode base = load_chain(base_path.string(), chain);
  root.erase("extends");
  merge_into(base, root);
  base.origin = root.origin;
  return base;
}

// "a.b[2].c" -> {"a", "b", "[2]", "c"}; false on a malformed path.
bool split_path(const std::string& path, std::vector<std::string>& out) {
  std::string cur;
  for (size_t i = 0; i < path.size(); ++i) {
    char c = path[i];
    if (c == '.') {
      if (cur.empty() && (out.empty() || out.back().front() != '[')) return false;
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else if (c == '[') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
      size_t close = path.find(']', i);
      if (close == std::string::npos || close == i + 1) return false;
      std::string idx = path.substr(i + 1, close - i - 1);
      if (idx.find_first_not_of("0123456789") != std::string::npos) return false;
      out.push_back("[" + idx + "]");
      i = close;
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return !out.empty() && (path.back() != '.');
}

void set_origin_recursive(ConfigNode& n, const Origin& o) {
  n.origin = o;
  for (auto& item : n.items) set_origin_recursive(item, o);
  for (auto& e : n.entries) {
    e.key_origin = o;
    set_origin_recursive(e.value, o);
  }
}

void emit_node(YAML::Emitter& out, const ConfigNode& n) {
  switch (n.kind) {
    case ConfigNode::Kind::Null:
      out << YAML::Null;
      break;
    case ConfigNode::Kind::Scalar:
      if (n.hint == ConfigNode::Hint::String || n.hint == ConfigNode::Hint::None)
        out << YAML::DoubleQuoted << n.scalar;
      else
        out << n.scalar;
      break;
    case ConfigNode::Kind::Sequence: {
      bool flat = true;
      for (const auto& item : n.items) flat = flat && item.kind == ConfigNode::Kind::Scalar;
      out << (flat && !n.items.empty() ? YAML::Flow : YAML::Block) << YAML::BeginSeq;
      for (const auto& item : n.items) emit_node(out, item);
      out << YAML::EndSeq;
      break;
    }
    case ConfigNode::Kind::Map:
      out << YAML::Block << YAML::BeginMap;
      for (const auto& e : n.entries) {
        out << YAML::Key << e.key << YAML::Value;
        emit_node(out, e.value);
      }
      out << YAML::EndMap;
      break;
  }
}

nlohmann::ordered_json to_json_value(const ConfigNode& n) {
  using J = nlohmann::ordered_json;
  switch (n.kind) {
    case ConfigNode::Kind::Null:
      return nullptr;
    case ConfigNode::Kind::Scalar:
      switch (n.hint) {
        case ConfigNode::Hint::Integer:
          return std::strtoll(n.scalar.c_str(), nullptr, 10);
        case ConfigNode::Hint::Number:
          return std::strtod(n.scalar.c_str(), nullptr);
        case ConfigNode::Hint::Boolean:
          return n.scalar == "true";
        default:
          return n.scalar;
      }
    case ConfigNode::Kind::Sequence: {
      J arr = J::array();
      for (const auto& item : n.items) arr.push_back(to_json_value(item));
      return arr;
    }
    case ConfigNode::Kind::Map: {
      J obj = J::object();
      for (const auto& e : n.entries) obj[e.key] = to_json_value(e.value);
      return obj;
    }
  }
  return nullptr;
}

}  // namespace

ConfigNode parse_yaml(const std::string& text, const std::string& file,
                      const std::string& base_dir) {
  YAML::Node doc;
  try {
    doc = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    Origin o = origin_of(e.mark, file, base_dir);
    std::string where = e.mark.is_null() ? file : o.where();
    throw Error(where + ": YAML syntax error: " + e.msg);
  }
  ConvertState st{file, base_dir, 0, {}};
  ConfigNode root = convert(doc, st, 0);
  if (!st.duplicates.empty()) {
    std::string all;
    for (const auto& d : st.duplicates) all += (all.empty() ? "" : "\n") + d;
    throw Error(all);
  }
  return root;
}

ConfigNode load_yaml_tree(const std::string& path, std::vector<std::string>* chain) {
  std::vector<std::string> files;
  ConfigNode root = load_chain(path, files);
  if (chain) *chain = files;
  return root;
}

void merge_into(ConfigNode& base, const ConfigNode& over) {
  if (base.is_map() && over.is_map()) {
    for (const auto& e : over.entries) {
      ConfigNode* existing = base.find(e.key);
      if (existing && existing->is_map() && e.value.is_map()) {
        merge_into(*existing, e.value);
        for (auto& be : base.entries)
          if (be.key == e.key) be.key_origin = e.key_origin;
      } else if (existing) {
        for (auto& be : base.entries)
          if (be.key == e.key) be = e;
      } else {
        base.entries.push_back(e);
      }
    }
    return;
  }
  base = over;
}

void apply_override(ConfigNode& root, const std::string& assignment, const std::string& base_dir) {
  Origin o;
  o.file = "override '" + assignment + "'";
  o.base_dir = base_dir;
  size_t eq = assignment.find('=');
  std::vector<std::string> path;
  if (eq == std::string::npos || !split_path(assignment.substr(0, eq), path))
    throw Error(o.file + ": expected KEY=VALUE with a dotted key such as quant.bits=3");
  if (path.front() == "extends") throw Error(o.file + ": 'extends' cannot be overridden");
  ConfigNode value;
  try {
    value = parse_yaml(assignment.substr(eq + 1), o.file, base_dir);
  } catch (const Error& e) {
    // The inner error starts with the same "override '...'" (and :line:col); say it once.
    std::string why = e.what();
    if (why.rfind(o.file, 0) == 0) {
      why = why.substr(o.file.size());
      const size_t start = why.find_first_not_of(":0123456789 ");
      why = start == std::string::npos ? std::string() : why.substr(start);
    }
    throw Error(o.file + ": the value is not valid YAML: " + why);
  }
  set_origin_recursive(value, o);
  ConfigNode* cur = &root;
  std::string walked;
  for (size_t i = 0; i < path.size(); ++i) {
    const std::string& seg = path[i];
    bool last = i + 1 == path.size();
    if (seg.front() == '[') {
      size_t idx = std::strtoull(seg.c_str() + 1, nullptr, 10);
      if (cur->kind != ConfigNode::Kind::Sequence || idx >= cur->items.size())
        throw Error(o.file + ": " + walked + " has no element " + seg);
      cur = &cur->items[idx];
      walked += seg;
      if (last) *cur = value;
      continue;
    }
    if (cur->kind == ConfigNode::Kind::Null) {
      cur->kind = ConfigNode::Kind::Map;
      cur->origin = o;
    }
    if (!cur->is_map())
      throw Error(o.file + ": " + (walked.empty() ? "the document" : walked) +
                  " is not a map, cannot set '" + seg + "'");
    walked += (walked.empty() ? "" : ".") + seg;
    ConfigNode* next = cur->find(seg);
    if (last) {
      if (next) {
        *next = value;
        for (auto& e : cur->entries)
          if (e.key == seg) e.key_origin = o;
      } else {
        cur->entries.push_back({seg, o, value});
      }
      return;
    }
    if (!next) {
      ConfigNode m = ConfigNode::make_map();
      m.origin = o;
      cur->entries.push_back({seg, o, m});
      next = &cur->entries.back().value;
    }
    cur = next;
  }
}

std::string emit_yaml(const ConfigNode& node) {
  YAML::Emitter out;
  out.SetIndent(2);
  emit_node(out, node);
  return std::string(out.c_str()) + "\n";
}

std::string emit_json(const ConfigNode& node, int indent) {
  return to_json_value(node).dump(indent);
}

}  // namespace qatwb::project
