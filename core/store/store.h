// The run database: SQLite (WAL, busy_timeout, foreign keys, schema versioned by user_version)
// filled by ingesting run directories' events.jsonl, read by `qatwb runs`, `qatwb watch` and the
// GUI. Tables (store_schema.cpp): projects, runs, params (flattened start config), metric_keys,
// metrics (run, key, step) -> (time, value), events (every non-metric line, by byte offset),
// ingest_state (run -> byte offset already ingested), run_tags (run, tag) and runs.note (v3: what
// a person wrote about a run; ingest never touches them).
//  - Ingest is incremental (from the saved offset, complete lines only), one transaction per
//    batch together with the new offset, so an interrupted ingest resumes where it stopped.
//  - Idempotent: a metric (run, key, step) seen again is overwritten by the later line, an event
//    line identical to one already stored is ignored; the same line twice gives the same rows.
//  - eval values are stored as metrics named "eval/<key>"; NaN is stored as NULL.
//  - Garbage lines become warning events (code "bad_event_line") naming file:line, never fatal.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

struct sqlite3;

namespace qatwb::store {

constexpr int kSchemaVersion = 3;

struct RunInfo {
  int64_t id = 0;
  std::string name;
  std::string project;
  std::string run_dir;
  std::string status;  // unknown | running | finished | failed | stopped
  double started = 0;  // unix seconds; 0: unknown
  double ended = 0;
  std::string host;
  std::string device;
  std::string reason;
  int64_t last_step = -1;         // highest metric step; -1: none
  std::vector<std::string> tags;  // sorted
  std::string note;
  // Metric steps are the 0-based index of the optimizer step just taken (the trainer's), so a
  // run whose last metric is step 99 has done 100 steps.
  int64_t steps_done() const { return last_step + 1; }
};

struct RunFilter {
  std::string project;  // "" : any
  std::string status;   // "" : any
  int limit = 0;        // 0 : all (newest first)
};

struct Bucket {
  int64_t step_first = 0;  // first and last step present in the bucket
  int64_t step_last = 0;
  int64_t count = 0;
  double min = 0;  // NaN when every value in the bucket is NaN
  double max = 0;
  double last = 0;       // value at step_last
  double time_last = 0;  // unix seconds of step_last (NaN when unknown)
};

struct RunSummary {
  RunInfo run;
  std::map<std::string, double> last_metrics;  // latest value of each training metric
  std::map<std::string, double> eval;          // latest value of each eval metric (no prefix)
  std::map<std::string, double> end_values;    // values of the end event
  std::map<std::string, std::string> params;   // flattened config ("quant.bits" -> "2.0")
  int64_t warnings = 0;
  std::vector<std::pair<int64_t, std::string>> checkpoints;  // (step, path)
};

class Store {
 public:
  // Opens (creating if missing, with its folder) a run database. Throws qatwb::Error naming the
  // file when it cannot be opened, is not a database, is corrupt or is from a newer qatwb.
  static Store open(const std::string& path);
  // Opens an existing database without creating it (Error if it does not exist).
  static Store open_existing(const std::string& path);
  ~Store();
  Store(Store&& other) noexcept;
  Store& operator=(Store&& other) noexcept;
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  const std::string& path() const { return path_; }
  // SQLite's quick_check plus a write transaction that is rolled back: throws qatwb::Error
  // naming the file and the first problem when the database is damaged or read-only. `qatwb run`
  // calls it before training, so a run never trains to the end and then fails on its store.
  void verify_usable() const;

  // Reads the new complete lines of <run_dir>/events.jsonl into the database and returns how
  // many lines were consumed (garbage included, blank lines not). `batch_bytes` bounds one
  // transaction. Registers the run even when it has no events yet. A line that is not a valid
  // event is kept as a `bad_event_line` warning event; `warnings`, when given, also receives
  // "<events.jsonl>:<line>: bad event line: <why>" for each one read now.
  int64_t ingest_run_dir(const std::string& run_dir, size_t batch_bytes = size_t{8} << 20,
                         std::vector<std::string>* warnings = nullptr);

  // Run lookup: by id, run directory (any spelling of the path), name or "project/name". Throws
  // qatwb::Error when nothing matches or a name is ambiguous.
  int64_t find_run(const std::string& run) const;
  std::optional<RunInfo> run_info(int64_t run) const;
  std::vector<RunInfo> list_runs(const RunFilter& filter = {}) const;
  RunSummary run_summary(int64_t run) const;
  std::vector<std::string> metric_keys(int64_t run) const;
  // The series of `key` cut into about `buckets` equal step ranges over [step_min, step_max]
  // (default: the steps present); empty buckets are left out.
  std::vector<Bucket> series(int64_t run, const std::string& key, int buckets,
                             std::optional<int64_t> step_min = std::nullopt,
                             std::optional<int64_t> step_max = std::nullopt) const;
  // Bytes of <run_dir>/events.jsonl ingested so far (by any process): a version of the run's
  // data, for caches. -1 for an unknown run.
  int64_t ingested_bytes(int64_t run) const;
  // Time (unix seconds) of the lowest step of a series; nullopt when empty or unknown.
  std::optional<double> first_time(int64_t run, const std::string& key) const;
  // Every point of a series (for small ones and tests), sorted by step.
  std::vector<std::pair<int64_t, double>> points(int64_t run, const std::string& key) const;
  // Tags and note (store_tags.cpp). A tag is 1-64 characters without whitespace, control
  // characters or commas ("baseline", "w2/final", "lr=2e-4"); a bad one throws qatwb::Error
  // naming it, before anything is written. Throws for an unknown run id.
  void add_tags(int64_t run, const std::vector<std::string>& tags);
  void remove_tags(int64_t run, const std::vector<std::string>& tags);
  void set_tags(int64_t run, const std::vector<std::string>& tags);  // replaces all
  std::vector<std::string> tags(int64_t run) const;                  // sorted
  void set_note(int64_t run, const std::string& note);               // "" clears it
  std::string note(int64_t run) const;

  // Row counts per table (for tests and `runs show --json`).
  std::map<std::string, int64_t> table_counts() const;
  std::string journal_mode() const;

  sqlite3* handle() const { return db_; }

 private:
  Store(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  static Store open_impl(const std::string& path, bool create);
  int64_t ensure_run(const std::string& run_dir);
  sqlite3* db_ = nullptr;
  std::string path_;
};

// Throws qatwb::Error saying what is wrong with `tag` (see Store::add_tags).
void check_tag(const std::string& tag);
// "a, b,c" or "a b" -> {"a", "b", "c"}: the GUI's tag field and the CLI's words.
std::vector<std::string> split_tags(const std::string& text);

// The run database when neither --db nor $QATWB_DB names one.
inline constexpr const char* kDefaultDbPath = "runs/qatwb.sqlite";
// `from_environment` ($QATWB_DB, read by the program's edge) when not empty, else kDefaultDbPath.
std::string default_db_path(const std::string& from_environment);

}  // namespace qatwb::store
