// qatwb: headless command line of the QAT workbench. See README.md for every subcommand.
#include <algorithm>
#include <cstdio>
#include <iostream>

#include "app/command.h"
#include "core/util/allocator.h"
#include "core/util/error.h"
#include "core/util/openmp_env.h"
#include "core/util/version.h"

int main(int argc, char** argv) {
  qatwb::ensure_openmp_wait_policy(argv);
  qatwb::keep_large_allocations_mapped();
  CLI::App app{"qatwb: quantization-aware training workbench (headless)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("qatwb ") + qatwb::kVersion);
  auto& table = qatwb::cli::command_table();
  std::sort(table.begin(), table.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  std::vector<std::pair<CLI::App*, std::function<int()>>> runners;
  for (auto& spec : table) {
    CLI::App* sub = app.add_subcommand(spec.name, spec.description);
    runners.emplace_back(sub, spec.setup(*sub));
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  for (auto& [sub, run] : runners) {
    if (!sub->parsed()) continue;
    try {
      return run();
    } catch (const qatwb::Error& e) {
      std::fflush(stdout);
      std::cerr << "qatwb " << sub->get_name() << ": error: " << e.what() << "\n";
      return e.exit_code();
    } catch (const std::exception& e) {
      std::fflush(stdout);
      std::cerr << "qatwb " << sub->get_name() << ": error: " << e.what() << "\n";
      return 1;
    }
  }
  return 1;
}
