// qatwb compare RUN... [--db PATH] [--json|--markdown|--csv]: the summary table of runs (FP / RTN /
// post-quantization perplexity, recovery, gradient-norm stability, flips, step time, overhead).
// Run directories are ingested into the run database first; other arguments are run names or ids
// already in it.
#include <filesystem>
#include <iostream>

#include "app/command.h"
#include "app/environment.h"
#include "core/report/summary_table.h"
#include "core/store/store.h"

namespace {

struct CompareOptions {
  std::vector<std::string> runs;
  std::string db;
  bool json = false, markdown = false, csv = false;
};

qatwb::cli::CommandRegistration reg(
    "compare", "Compare runs: perplexity (FP, RTN, QAT), recovery, stability, speed",
    [](CLI::App& sub) {
      auto o = std::make_shared<CompareOptions>();
      sub.add_option("runs", o->runs, "Run directories (ingested first), run names or ids")
          ->required();
      sub.add_option("--db", o->db, "Run database (default: $QATWB_DB or ./runs/qatwb.sqlite)");
      auto* json = sub.add_flag("--json", o->json, "Machine-readable output (a JSON array)");
      auto* md = sub.add_flag("--markdown", o->markdown, "A Markdown table");
      auto* csv = sub.add_flag("--csv", o->csv, "CSV with every column");
      json->excludes(md)->excludes(csv);
      md->excludes(csv);
      sub.footer(
          "recovery = (PPL_RTN - PPL_QAT) / (PPL_RTN - PPL_FP), all on the same held-out windows; "
          "100% means QAT closed the whole gap RTN left. overhead = median ms/step relative to the "
          "first unquantized run given (else the first STE run).");
      return [o]() {
        auto store =
            qatwb::store::Store::open(o->db.empty() ? qatwb::app::environment().db_path() : o->db);
        std::vector<int64_t> ids;
        for (const auto& r : o->runs) {
          std::error_code ec;
          if (std::filesystem::is_directory(r, ec)) store.ingest_run_dir(r);
          ids.push_back(store.find_run(r));
        }
        const auto rows = qatwb::report::summary_rows(store, ids);
        if (o->json)
          std::cout << qatwb::report::summary_json(rows).dump(2) << std::endl;
        else if (o->markdown)
          std::cout << qatwb::report::summary_markdown(rows);
        else if (o->csv)
          std::cout << qatwb::report::summary_csv(rows);
        else
          std::cout << qatwb::report::summary_text(rows);
        return 0;
      };
    });

}  // namespace
