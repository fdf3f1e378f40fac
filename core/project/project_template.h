// The commented default project written by `qatwb project new`. The text is embedded in the
// binary (project_template.cpp) so a lone qatwb on a GPU node can write it; it is kept identical
// to resources/templates/project.yaml (tests/core/tst_project_yaml.cpp checks that).
#pragma once
#include <string>

namespace qatwb::project {

// The template text with the "{{name}}" placeholder.
const char* project_template();
// The template with `name` filled in (throws qatwb::Error if name is not a plain name).
std::string render_project_template(const std::string& name);

}  // namespace qatwb::project
