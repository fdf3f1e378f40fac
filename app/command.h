// The qatwb CLI's command table. Each subcommand lives in app/cmd_<name>.cpp and registers itself
// with a static CommandRegistration; qatwb_main.cpp builds the CLI11 parser from the table.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

#include "core/util/enum_table.h"

namespace qatwb::cli {

// An option's choices for its help text, from the enum's table: "a: help of a; b: help of b".
template <typename E>
std::string choices_help() {
  std::string out;
  for (const auto& r : enum_rows_of<E>())
    out += (out.empty() ? "" : "; ") + std::string(r.name) + ": " + r.help;
  return out;
}

// Adds the subcommand's options to `sub` and returns the function that runs it once parsed.
// The runner returns the process exit code (0 only for success); it may throw qatwb::Error,
// which main prints as one clear message and turns into exit code 1.
using CommandSetup = std::function<std::function<int()>(CLI::App& sub)>;

struct CommandSpec {
  std::string name;
  std::string description;
  CommandSetup setup;
};

std::vector<CommandSpec>& command_table();

struct CommandRegistration {
  CommandRegistration(std::string name, std::string description, CommandSetup setup) {
    command_table().push_back({std::move(name), std::move(description), std::move(setup)});
  }
};

}  // namespace qatwb::cli
