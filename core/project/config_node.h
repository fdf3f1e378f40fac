// A YAML document as a small tree that remembers where every value came from (file:line:col, or
// the `--set` override that put it there). project.yaml is read into this tree, bases named by
// `extends:` are merged into it key by key, sweep overrides are applied to it, and only then is it
// typed into a ProjectConfig (project_yaml.h). yaml-cpp stays inside config_node.cpp.
#pragma once
#include <string>
#include <vector>

namespace qatwb::project {

// Where a node was written. `file` is the YAML file (absolute) or, for a node that an override
// created, the override text ("override 'quant.bits=3'"); line/col are 1-based (0: unknown).
struct Origin {
  std::string file;
  int line = 0;
  int col = 0;
  std::string base_dir;       // folder that relative paths in this node are resolved against
  std::string where() const;  // "file:line:col" / "file"
};

struct ConfigEntry;

struct ConfigNode {
  enum class Kind { Null, Scalar, Sequence, Map };
  // Only for emitting (to_yaml/to_json): how a typed value should be written back.
  enum class Hint { None, String, Integer, Number, Boolean };

  Kind kind = Kind::Null;
  Hint hint = Hint::None;
  std::string scalar;                // Scalar: the text as written
  std::vector<ConfigNode> items;     // Sequence
  std::vector<ConfigEntry> entries;  // Map, in document order
  Origin origin;

  bool is_map() const { return kind == Kind::Map; }
  const ConfigNode* find(const std::string& key) const;
  ConfigNode* find(const std::string& key);
  const ConfigEntry* find_entry(const std::string& key) const;
  // Adds (or replaces) a map entry; the node becomes a map if it was null.
  ConfigNode& set(const std::string& key, ConfigNode value);
  bool erase(const std::string& key);
  // "a map", "a list", "null" or "'text'": for "expected X, got Y" messages.
  std::string describe() const;

  static ConfigNode make_scalar(std::string text, Hint hint = Hint::String);
  static ConfigNode make_map();
  static ConfigNode make_sequence();
};

struct ConfigEntry {
  std::string key;
  Origin key_origin;
  ConfigNode value;
};

// Parses YAML text into a tree (no `extends` handling). `file` names the source in origins and
// errors; `base_dir` is recorded in every node. Throws qatwb::Error "file:line:col: YAML syntax
// error: ..." on broken YAML and on duplicate keys.
ConfigNode parse_yaml(const std::string& text, const std::string& file,
                      const std::string& base_dir);
// Reads a YAML file and merges the chain of `extends:` bases (each relative to the file naming
// it; cycles are an error). The result has no `extends` key.
// `chain`, when given, receives the absolute path of every file read (the file first).
ConfigNode load_yaml_tree(const std::string& path, std::vector<std::string>* chain = nullptr);
// Merges `over` into `base`: maps key by key (recursively), anything else replaced.
void merge_into(ConfigNode& base, const ConfigNode& over);
// Applies one sweep override "dotted.key=value" (value is YAML: 3, cosine, [a, b], {x: 1});
// list elements as "data.sources[0].weight=2". Missing maps are created. Throws qatwb::Error
// naming the override when it is malformed or walks through a value that is not a map/list.
// Unknown keys are left in the tree so that validation reports them with a suggestion.
void apply_override(ConfigNode& root, const std::string& assignment,
                    const std::string& base_dir = {});

// Writes the tree as block-style YAML (strings double-quoted) or as JSON (typed by the hints).
std::string emit_yaml(const ConfigNode& node);
std::string emit_json(const ConfigNode& node, int indent = -1);

}  // namespace qatwb::project
