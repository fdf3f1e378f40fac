// qatwb compare RUN_DIR...: FP / RTN / QAT post-quantization perplexity and recovery side by side.
#include <iostream>

#include "app/command.h"
#include "core/report/run_comparison.h"

namespace {

qatwb::cli::CommandRegistration reg(
    "compare", "Compare runs: FP, RTN and post-quantization perplexity, recovery",
    [](CLI::App& sub) {
      auto dirs = std::make_shared<std::vector<std::string>>();
      auto json = std::make_shared<bool>(false);
      sub.add_option("runs", *dirs, "Run directories")->required()->check(CLI::ExistingDirectory);
      sub.add_flag("--json", *json, "Machine-readable output (a JSON array)");
      sub.footer("recovery = (PPL_RTN - PPL_QAT) / (PPL_RTN - PPL_FP), all on the same held-out "
                 "windows; 100% means QAT closed the whole gap RTN left.");
      return [dirs, json]() {
        std::vector<qatwb::report::RunResult> rows;
        for (const auto& d : *dirs) rows.push_back(qatwb::report::read_run_result(d));
        if (*json)
          std::cout << qatwb::report::comparison_json(rows).dump(2) << std::endl;
        else
          std::cout << qatwb::report::format_comparison(rows);
        return 0;
      };
    });

}  // namespace
