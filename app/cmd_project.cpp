// qatwb project check PROJECT.yaml [--set KEY=VALUE]... [--json] [--no-path-check]
// qatwb project new NAME [--out FILE]
// qatwb project choices [FIELD]
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <regex>

#include "app/command.h"
#include "core/model/llama_config.h"
#include "core/model/training_cost.h"
#include "core/project/project_memory.h"
#include "core/project/project_template.h"
#include "core/project/project_yaml.h"
#include "core/quant/scheme.h"
#include "core/util/cpu_features.h"
#include "core/util/error.h"

namespace {

struct ProjectOptions {
  std::string file;
  std::vector<std::string> overrides;
  bool json = false;
  bool no_path_check = false;
  std::string name;
  std::string out;
  std::string field;
};

// Peak training memory by part, to stderr (stdout carries the resolved project).
void print_memory_estimate(const qatwb::project::ProjectConfig& c) {
  std::cerr << qatwb::project::project_memory_estimate(c);
}

// "0-3,5": layer indices as compact ranges.
std::string ranges(const std::vector<int64_t>& v) {
  if (v.size() == 1 && v[0] < 0) return "-";  // not in a layer (embedding, lm_head)
  std::string out;
  for (size_t i = 0; i < v.size();) {
    size_t j = i;
    while (j + 1 < v.size() && v[j + 1] == v[j] + 1) ++j;
    if (!out.empty()) out += ",";
    out += std::to_string(v[i]);
    if (j > i) out += "-" + std::to_string(v[j]);
    i = j + 1;
  }
  return out;
}

// The field that set a module's group size: the last matching override that sets it, or the
// scheme's own.
std::string group_size_field(const qatwb::quant::QuantScheme& q, const std::string& module) {
  std::string field = "quant.group_size";
  for (size_t i = 0; i < q.overrides.size(); ++i)
    if (q.overrides[i].group_size &&
        std::regex_search(module, std::regex(q.overrides[i].match, std::regex::ECMAScript)))
      field = "quant.overrides[" + std::to_string(i) + "].group_size";
  return field;
}

// The scheme each decoder Linear gets (quant.overrides applied in order) and the bits per weight
// it costs, to stderr: one line per module role and scheme, with the layers it holds for.
// Returns false (after saying which field and module) when a module's group size does not
// divide its rows, which would otherwise stop the run at its start.
bool print_quant_modules(const qatwb::project::ProjectConfig& c) {
  if (!c.quant.enabled) return true;
  std::vector<std::string> problems;
  try {
    const auto mc = qatwb::project::project_model_config(c);
    std::vector<qatwb::quant::LinearShape> linears;
    // (role, scheme) -> layers, in model order of first appearance.
    std::vector<std::pair<std::pair<std::string, std::string>, std::vector<int64_t>>> rows;
    for (const auto& [name, shape] : qatwb::model::quantizable_shapes(mc)) {
      linears.push_back({name, shape[0], shape[1]});
      // "model.layers.12.mlp.down_proj" -> layer 12, role "mlp.down_proj"; the embedding and
      // lm_head are their own role, outside the layers (-1).
      const std::string prefix = "model.layers.";
      int64_t layer = -1;
      std::string role = name;
      if (name.rfind(prefix, 0) == 0) {
        const size_t a = prefix.size(), b = name.find('.', a);
        layer = std::stoll(name.substr(a, b - a));
        role = name.substr(b + 1);
      }
      if (name == qatwb::model::kEmbedModule && mc.tie_word_embeddings) role += " (tied lm_head)";
      const auto own = qatwb::quant::scheme_for_module(c.quant, name);
      if (own.enabled && own.format == qatwb::quant::Format::Int &&
          own.granularity == qatwb::quant::Granularity::PerGroup && shape[1] % own.group_size)
        problems.push_back(group_size_field(c.quant, name) + ": group size " +
                           std::to_string(own.group_size) + " does not divide the row of " + name +
                           " (" + std::to_string(shape[1]) + " inputs)");
      if (own.enabled && own.format == qatwb::quant::Format::Gguf &&
          shape[1] % qatwb::quant::ggml_quant_spec(own.gguf_type).block)
        problems.push_back(std::string("quant.gguf_type: ") +
                           qatwb::quant::to_string(own.gguf_type) + " blocks of " +
                           std::to_string(qatwb::quant::ggml_quant_spec(own.gguf_type).block) +
                           " do not divide the row of " + name + " (" + std::to_string(shape[1]) +
                           " inputs); exclude it (quant.exclude)");
      const std::string what = qatwb::quant::describe_module_scheme(own);
      auto it = std::find_if(rows.begin(), rows.end(),
                             [&](const auto& r) { return r.first == std::make_pair(role, what); });
      if (it == rows.end())
        rows.push_back({{role, what}, {layer}});
      else
        it->second.push_back(layer);
    }
    std::cerr << "quant modules (include/exclude, then quant.overrides in order):\n";
    for (const auto& [key, layers] : rows) {
      char buf[256];
      std::snprintf(buf, sizeof buf, "  %-22s layers %-10s %s\n", key.first.c_str(),
                    ranges(layers).c_str(), key.second.c_str());
      std::cerr << buf;
    }
    const auto bits = qatwb::quant::model_bits(c.quant, linears, mc.num_parameters());
    std::cerr << "bits per weight (scales included): quantized Linears " << bits.quantized_bpw
              << ", whole model " << bits.model_bpw
              << " (embeddings, norms and unquantized Linears at 16)\n";
    if (!c.quant.schedule.empty())
      std::cerr << "quant schedule: " << qatwb::quant::describe_schedule(c.quant) << "\n";
  } catch (const std::exception& e) {
    std::cerr << "quant modules: unavailable (" << e.what() << ")\n";
  }
  for (const auto& p : problems) std::cerr << c.file << ": " << p << "\n";
  return problems.empty();
}

int run_check(const ProjectOptions& o) {
  using namespace qatwb::project;
  try {
    ProjectConfig config = load_project(o.file, o.overrides, !o.no_path_check);
    if (o.json)
      std::cout << to_json(config, 2) << "\n";
    else
      std::cout << to_yaml(config);
    const bool modules_ok = print_quant_modules(config);
    print_memory_estimate(config);
    if (const auto w = qatwb::util::bf16_cpu_warning(config.train.device,
                                                     qatwb::enum_name(config.train.dtype));
        !w.empty())
      std::cerr << w << "\n";
    return modules_ok ? 0 : 1;
  } catch (const ProjectErrors& e) {
    if (o.json) {
      nlohmann::ordered_json j;
      j["ok"] = false;
      j["errors"] = nlohmann::ordered_json::array();
      for (const auto& d : e.diagnostics())
        j["errors"].push_back({{"file", d.file},
                               {"line", d.line},
                               {"col", d.col},
                               {"field", d.field},
                               {"message", d.message}});
      std::cout << j.dump(2) << "\n";
    }
    std::cerr << e.what() << "\n"
              << e.diagnostics().size() << (e.diagnostics().size() == 1 ? " error" : " errors")
              << " in " << o.file << "\n";
    return 1;
  }
}

// Every field whose value is a table's name, with each accepted name and its description (the
// same tables the parser reads and the wizard offers); FIELD picks one field or a section.
int run_choices(const ProjectOptions& o) {
  int shown = 0;
  for (const auto& f : qatwb::project::choice_fields()) {
    if (!o.field.empty() && f.field != o.field && f.field.rfind(o.field + ".", 0) != 0) continue;
    std::vector<std::string> names;
    size_t width = 0;
    for (const auto& c : f.choices) {
      names.push_back(c.name);
      width = std::max(width, c.name.size());
    }
    std::cout << f.field << ": " << qatwb::join_names(names, " | ") << "\n";
    for (const auto& c : f.choices)
      std::cout << "  " << c.name << std::string(width + 2 - c.name.size(), ' ') << c.help << "\n";
    ++shown;
  }
  if (shown == 0)
    throw qatwb::Error("project choices: no field '" + o.field +
                       "' takes a name from a table (`qatwb project choices` lists them)");
  return 0;
}

int run_new(const ProjectOptions& o) {
  std::string text = qatwb::project::render_project_template(o.name);
  if (o.out.empty()) {
    std::cout << text;
    return 0;
  }
  if (std::filesystem::exists(o.out))
    throw qatwb::Error(o.out + ": already exists (not overwritten)");
  std::ofstream f(o.out, std::ios::binary);
  if (!f) throw qatwb::Error(o.out + ": cannot write");
  f << text;
  f.close();
  if (!f) throw qatwb::Error(o.out + ": write failed");
  std::cerr << "wrote " << o.out << "\n";
  return 0;
}

qatwb::cli::CommandRegistration reg(
    "project", "Check a project file or write a new one from the template",
    [](CLI::App& sub) -> std::function<int()> {
      auto o = std::make_shared<ProjectOptions>();
      sub.require_subcommand(1);
      CLI::App* check = sub.add_subcommand("check",
                                           "Validate PROJECT.yaml and print the resolved config "
                                           "(exit 1 listing every mistake as file:line:col)");
      check->add_option("project", o->file, "project YAML file")->required();
      check->add_option("--set", o->overrides,
                        "override a key before validation, e.g. --set quant.bits=3 (repeatable)");
      check->add_flag("--json", o->json, "print the resolved config (or the errors) as JSON");
      check->add_flag("--no-path-check", o->no_path_check,
                      "do not require model.path, model.tokenizer, data.sources and eval.text to "
                      "exist here (a project for another machine)");
      CLI::App* make = sub.add_subcommand("new", "Write a commented project template");
      make->add_option("name", o->name, "project name (letters, digits, '.', '_', '-')")
          ->required();
      make->add_option("--out", o->out, "file to write (default: stdout); never overwritten");
      CLI::App* choices =
          sub.add_subcommand("choices",
                             "List every field that takes one of a set of names (format, "
                             "surrogate, ...) with the names it accepts and what each means");
      choices->add_option("field", o->field,
                          "one field or section, e.g. quant.surrogate or train (default: all)");
      return [o, check, choices]() {
        return check->parsed() ? run_check(*o) : choices->parsed() ? run_choices(*o) : run_new(*o);
      };
    });

}  // namespace
