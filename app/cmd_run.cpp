// qatwb run PROJECT.yaml [--run-dir D] | --resume D
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>

#include "app/command.h"
#include "app/environment.h"
#include "core/project/project_yaml.h"
#include "core/run/event_log.h"
#include "core/run/run_dir.h"
#include "core/run/run_history.h"
#include "core/store/store.h"
#include "core/train/data_parallel.h"
#include "core/train/run_pipeline.h"
#include "core/util/error.h"
#include "core/util/progress.h"

namespace {

volatile std::sig_atomic_t g_stop_signal = 0;
extern "C" void on_stop_signal(int) { g_stop_signal = 1; }

void log_line(const std::string& line) {
  std::fflush(stdout);
  std::cerr << "qatwb run: " << line << std::endl;
}

// What the environment says (app/environment.h): the data-parallel rank, the data cache, threads
// per rank, the OpenMP policy note and the test hooks.
void read_environment(qatwb::train::RunRequest& req) {
  const auto& env = qatwb::app::environment();
  req.dist = env.dist();
  req.cache_root = env.cache_root();
  req.threads_per_rank = env.threads_per_rank();
  req.openmp_note = env.openmp_note();
  req.test_hooks = env.test_hooks();
}

// Trains in this process: signals stop the run after the current step (with a checkpoint),
// progress goes to stderr, the outcome becomes the exit code (0 finished, 1 failed, 130 stopped).
int run_here(const qatwb::train::RunRequest& req) {
  using qatwb::train::TrainStatus;
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
  std::unique_ptr<qatwb::Progress> bar;
  qatwb::train::RunHooks hooks;
  hooks.log = log_line;
  hooks.progress_begin = [&bar](int64_t total, int64_t first) {
    bar = std::make_unique<qatwb::Progress>("train", total);
    bar->update(first);
  };
  hooks.progress_step = [&bar](int64_t step, double loss, double tps) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "train  loss %.4f  %.0f tok/s", loss, tps);
    bar->set_label(buf);
    bar->update(step + 1);
  };
  hooks.progress_end = [&bar]() { bar->finish(); };
  hooks.stop_requested = []() { return g_stop_signal != 0; };
  const auto outcome = qatwb::train::run_project(req, hooks);
  const int code = outcome.status == TrainStatus::Finished  ? 0
                   : outcome.status == TrainStatus::Stopped ? 130
                                                            : 1;
  if (!req.dist.is_main()) return code;
  for (const auto& [k, v] : outcome.final_eval) log_line("final " + k + " = " + std::to_string(v));
  if (code != 0) log_line(std::string(to_string(outcome.status)) + ": " + outcome.reason);
  return code;
}

// When a rank fails, the launcher stops the others (they would wait for it in their next
// all-reduce); rank 0 may then have had no chance to write its end event. The run must still
// end with one, so that the store, `qatwb jobs` and the GUI see it failed rather than running.
void close_run_after_rank_failure(const std::string& run_dir, int code) {
  const std::string path = qatwb::run::RunDir(run_dir).events_path();
  std::vector<qatwb::run::LogLine> lines;
  int64_t offset = 0;
  bool open = false;
  for (;;) {
    lines.clear();
    const int64_t next = qatwb::run::read_complete_lines(path, offset, lines);
    if (next == offset) break;
    offset = next;
    for (const auto& l : lines)
      if (auto e = qatwb::run::parse_event_line(l.text)) {
        if (e->type == qatwb::run::EventType::Start) open = true;
        if (e->type == qatwb::run::EventType::End) open = false;
      }
  }
  if (!open) return;
  qatwb::run::EventWriter events(path);
  events.end(code == 130 ? "stopped" : "failed",
             "a data-parallel rank exited with code " + std::to_string(code) +
                 "; the launcher stopped the other ranks (resume from the last checkpoint)");
}

// Everything that can be known to fail before a run starts is checked here, before the run
// directory is touched: the store (a damaged one would otherwise fail the run after it finished
// training) and, for a new run, the project with every path it names. A run folder whose run
// failed before its first step is cleared for the new run; a resume first cuts the events that
// it will replay off events.jsonl, so that the file keeps one row per step.
void prepare_run(const qatwb::train::RunRequest& req) {
  using namespace qatwb;
  if (!req.db_path.empty()) {
    try {
      store::Store::open(req.db_path).verify_usable();
    } catch (const Error& e) {
      throw Error(std::string(e.what()) +
                  " (repair or move the database, or pass --db with another file or --no-db)");
    }
  }
  const run::RunDir dir(req.run_dir);
  if (!req.resume) {
    project::load_project(req.project_path, req.overrides, /*check_paths=*/true);
    if (req.run_dir.empty()) return;
    if (const auto reason = run::failed_before_first_step(dir)) {
      run::RunLock lock(dir);
      run::clear_failed_attempt(dir);
      std::cerr << "qatwb run: " << req.run_dir
                << ": its previous run failed before step 0 and is replaced (" << *reason << ")\n";
    }
    return;
  }
  std::error_code ec;
  if (!std::filesystem::exists(dir.events_path(), ec)) return;
  run::RunLock lock(dir);  // not while another process runs in it
  const auto checkpoints = dir.checkpoints();
  const std::optional<int64_t> step =
      checkpoints.empty() ? std::nullopt : std::optional<int64_t>(checkpoints.back().first);
  if (const int64_t cut = run::rewind_events_for_resume(dir, step))
    std::cerr << "qatwb run: " << dir.events_path() << ": cut " << cut
              << " bytes of events that resuming from "
              << (step ? "step " + std::to_string(*step) : std::string("the start"))
              << " replays\n";
}

qatwb::cli::CommandRegistration reg(
    "run", "Train a project: sample, tokenize, (quantize), train, evaluate, save",
    [](CLI::App& sub) {
      auto req = std::make_shared<qatwb::train::RunRequest>();
      auto resume_dir = std::make_shared<std::string>();
      auto no_db = std::make_shared<bool>(false);
      auto nproc = std::make_shared<int>(1);
      sub.add_option("project", req->project_path, "Project YAML file")->check(CLI::ExistingFile);
      sub.add_option("--run-dir", req->run_dir,
                     "Run directory (default: runs/<project-name>/<timestamp>)");
      sub.add_option("--resume", *resume_dir,
                     "Continue the run in this directory from its last checkpoint");
      sub.add_option("--db", req->db_path,
                     "SQLite store to ingest the run into (default: $QATWB_DB or "
                     "runs/qatwb.sqlite)");
      sub.add_flag("--no-db", *no_db, "Do not ingest the run into a store");
      sub.add_option("--threads", req->threads, "Intra-op threads (overrides train.threads)");
      sub.add_option("--nproc", *nproc,
                     "Data-parallel ranks on this machine (c10d/Gloo); under srun or torchrun "
                     "the RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT environment is used instead");
      sub.add_option("--set", req->overrides,
                     "Override a project key before validation, e.g. --set quant.bits=3 "
                     "(repeatable)");
      sub.footer(
          "Exit code: 0 finished, 1 failed (error, or too many non-finite steps), 130 stopped by "
          "SIGINT/SIGTERM after writing a checkpoint.");
      return [req, resume_dir, no_db, nproc]() {
        if (!resume_dir->empty()) {
          if (!req->project_path.empty() || !req->run_dir.empty())
            throw qatwb::Error("--resume takes the run directory alone (no project, no --run-dir)",
                               2);
          req->resume = true;
          req->run_dir = *resume_dir;
        } else if (req->project_path.empty()) {
          throw qatwb::Error("a project YAML file or --resume DIR is required", 2);
        }
        if (*no_db)
          req->db_path.clear();
        else if (req->db_path.empty())
          req->db_path = qatwb::app::environment().db_path();
        read_environment(*req);
        const auto& dist = req->dist;
        if (!dist.enabled() || dist.is_main()) prepare_run(*req);
        if (*nproc > 1 && !dist.enabled()) {
          // The launcher: fix the run directory, then start one `qatwb run` per rank.
          if (req->run_dir.empty()) {
            const auto config = qatwb::project::load_project(req->project_path, req->overrides);
            req->run_dir = qatwb::run::RunDir::create_new("runs", config.name).path();
          }
          std::vector<std::string> argv = {"qatwb", "run"};
          if (req->resume) {
            argv.insert(argv.end(), {"--resume", req->run_dir});
          } else {
            argv.insert(argv.end(), {req->project_path, "--run-dir", req->run_dir});
            for (const auto& o : req->overrides) argv.insert(argv.end(), {"--set", o});
          }
          if (req->db_path.empty())
            argv.push_back("--no-db");
          else
            argv.insert(argv.end(), {"--db", req->db_path});
          if (req->threads > 0)
            argv.insert(argv.end(), {"--threads", std::to_string(req->threads)});
          const int code = qatwb::train::launch_local_ranks(*nproc, argv, req->threads_per_rank);
          if (code != 0) close_run_after_rank_failure(req->run_dir, code);
          return code;
        }
        return run_here(*req);
      };
    });

}  // namespace
