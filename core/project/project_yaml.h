// project.yaml <-> ProjectConfig. load_project reads the file (merging `extends:` bases, relative
// to the file naming them), applies sweep overrides, then types and validates every field. All
// mistakes are collected and thrown together as one ProjectErrors, one line per mistake:
//   /abs/p.yaml:12:9: quant.bits: expected one of 1, 1.58, 2, 3, 4, 8, got '5'
// Relative paths (model.path, model.tokenizer, data.sources[].path, eval.text) are resolved against
// the folder of the YAML file that wrote them. to_yaml writes the fully resolved config, which
// loads back to the same ProjectConfig.
#pragma once
#include <string>
#include <vector>

#include "core/project/config_node.h"
#include "core/project/project_config.h"
#include "core/util/error.h"

namespace qatwb::project {

struct Diagnostic {
  std::string file;  // YAML file or "override 'k=v'"
  int line = 0;      // 1-based; 0 when unknown
  int col = 0;
  std::string field;  // "quant.bits", "data.sources[1].path"
  std::string message;
  std::string to_string() const;  // "file:line:col: field: message"
};

class ProjectErrors : public Error {
 public:
  explicit ProjectErrors(std::vector<Diagnostic> diagnostics);
  const std::vector<Diagnostic>& diagnostics() const { return diagnostics_; }

 private:
  std::vector<Diagnostic> diagnostics_;
};

// Reads, merges, overrides, types and validates. Throws ProjectErrors (validation) or Error
// (missing file, YAML syntax "file:line:col: YAML syntax error: ...", malformed override).
// With `check_paths` every path the run opens must exist on this machine as well (model.path an
// HF folder with config.json, model.tokenizer, data.sources[].path, eval.text), reported with
// the same file:line:col: field: message (`project check`, `qatwb run` and local jobs do this;
// an ssh job's paths live on the remote host).
ProjectConfig load_project(const std::string& yaml_path,
                           const std::vector<std::string>& overrides = {},
                           bool check_paths = false);
// Types and validates an already loaded tree; `file` becomes ProjectConfig::file.
ProjectConfig type_project(const ConfigNode& root, const std::string& file,
                           bool check_paths = false);
// The project file and every base its `extends:` chain names (absolute, the file first).
std::vector<std::string> extends_chain(const std::string& yaml_path);

// The config as a tree (every field, typed hints), as YAML, and as JSON (for the start event).
ConfigNode to_node(const ProjectConfig& config);
std::string to_yaml(const ProjectConfig& config);
std::string to_json(const ProjectConfig& config, int indent = -1);

// enum_name of the project's enums (the YAML spelling; tables in project_enums.cpp).
const char* to_string(ScheduleSection::Kind kind);
const char* to_string(DistillSection::Loss loss);
const char* to_string(EasgdSection::Mode mode);
const char* to_string(Precision precision);
// Every field whose value is one name of a table (core/util/enum_table.h): the field ("[]" for
// each item of a list) and each accepted name with its one-line description, in the order the
// parser's "expected one of" messages list them (`qatwb project choices`).
struct Choice {
  std::string name, help;
};
struct ChoiceField {
  std::string field;
  std::vector<Choice> choices;
};
std::vector<ChoiceField> choice_fields();

// Formats a double so that it reads back exactly ("0.1", "1e-08", "1.58").
std::string format_number(double v);

}  // namespace qatwb::project
