// project.yaml: parse, type and validate, with a `--set` override taken from the input's last
// line when it looks like KEY=VALUE (the same parser reads the override's value).
#include <string>

#include "core/project/config_node.h"
#include "core/project/project_yaml.h"
#include "core/util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  std::string override_text;
  if (size_t nl = text.rfind('\n');
      nl != std::string::npos && nl + 1 < text.size() && text.find('=', nl) != std::string::npos) {
    override_text = text.substr(nl + 1);
    text.resize(nl + 1);
  }
  using namespace qatwb::project;
  try {
    ConfigNode root = parse_yaml(text, "/fuzz/p.yaml", "/fuzz");
    if (!override_text.empty()) apply_override(root, override_text, "/fuzz");
    const ProjectConfig c = type_project(root, "/fuzz/p.yaml");
    (void)to_yaml(c);
    (void)to_json(c);
    (void)emit_json(root);
  } catch (const qatwb::Error&) {
  }
  return 0;
}
