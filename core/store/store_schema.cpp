// Opening the run database: pragmas, schema creation and version checks.
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>

#include "core/store/sqlite_util.h"
#include "core/store/store.h"
#include "core/util/error.h"

namespace fs = std::filesystem;

namespace qatwb::store {

namespace {

// Version 1. Metrics are WITHOUT ROWID on (run, key, step): appends stay in order, a series is
// one range of the primary key, and re-ingest overwrites instead of duplicating.
const char* kSchemaV1 = R"SQL(
CREATE TABLE projects(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE);
CREATE TABLE runs(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  project TEXT REFERENCES projects(name),
  run_dir TEXT NOT NULL UNIQUE,
  status TEXT NOT NULL DEFAULT 'unknown',
  started REAL,
  ended REAL,
  host TEXT,
  device TEXT,
  pid INTEGER,
  reason TEXT,
  last_step INTEGER);
CREATE INDEX runs_by_project ON runs(project);
CREATE INDEX runs_by_name ON runs(name);
CREATE TABLE params(
  run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  key TEXT NOT NULL,
  value TEXT,
  PRIMARY KEY(run, key)) WITHOUT ROWID;
CREATE TABLE metric_keys(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE);
CREATE TABLE metrics(
  run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  key INTEGER NOT NULL REFERENCES metric_keys(id),
  step INTEGER NOT NULL,
  time REAL,
  value REAL,
  PRIMARY KEY(run, key, step)) WITHOUT ROWID;
CREATE TABLE events(
  run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  byte_offset INTEGER NOT NULL,
  type TEXT NOT NULL,
  step INTEGER,
  time REAL,
  json TEXT NOT NULL,
  PRIMARY KEY(run, byte_offset)) WITHOUT ROWID;
CREATE UNIQUE INDEX events_by_content ON events(run, json);
CREATE INDEX events_by_type ON events(run, type);
CREATE TABLE ingest_state(
  run INTEGER PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
  byte_offset INTEGER NOT NULL DEFAULT 0,
  lines INTEGER NOT NULL DEFAULT 0);
PRAGMA user_version = 1;
)SQL";

const char* kSchemaV2 = R"SQL(
ALTER TABLE ingest_state ADD COLUMN last_offset INTEGER;
ALTER TABLE ingest_state ADD COLUMN last_line TEXT;
PRAGMA user_version = 2;
)SQL";

// Version 3: what a person says about a run. Tags (many per run, "baseline", "w2-final") and one
// free-text note; both survive re-ingest (ingest never writes them) and go with the run when it
// is deleted.
const char* kSchemaV3 = R"SQL(
ALTER TABLE runs ADD COLUMN note TEXT NOT NULL DEFAULT '';
CREATE TABLE run_tags(
  run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  tag TEXT NOT NULL,
  PRIMARY KEY(run, tag)) WITHOUT ROWID;
CREATE INDEX run_tags_by_tag ON run_tags(tag);
PRAGMA user_version = 3;
)SQL";

int64_t query_int(sqlite3* db, const std::string& path, const char* sql) {
  Stmt s(db, path, sql);
  return s.step() ? s.col_int(0) : 0;
}

}  // namespace

Store Store::open_impl(const std::string& path, bool create) {
  if (!create && !fs::exists(path))
    throw Error(path + ": no run database here (run `qatwb runs ingest RUN_DIR` first)");
  if (create) {
    fs::path parent = fs::path(path).parent_path();
    std::error_code ec;
    if (!parent.empty()) fs::create_directories(parent, ec);
    if (ec)
      throw Error(parent.string() + ": cannot create folder for the run database: " + ec.message());
  }
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_FULLMUTEX;
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    throw Error(path + ": cannot open run database: " + msg);
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, 10000);
  try {
    // The first statement that reads the file tells a database from anything else.
    std::string mode;
    {
      Stmt s(db, path, "PRAGMA journal_mode=WAL");
      if (s.step()) mode = s.col_text(0);
    }
    if (mode != "wal") throw Error(path + ": cannot switch the run database to WAL mode");
    exec_sql(db, path, "PRAGMA foreign_keys=ON");
    exec_sql(db, path, "PRAGMA synchronous=NORMAL");
    int64_t version = query_int(db, path, "PRAGMA user_version");
    if (version > kSchemaVersion)
      throw Error(path + ": run database schema version " + std::to_string(version) +
                  " is newer than this qatwb understands (" + std::to_string(kSchemaVersion) + ")");
    // Each step re-reads the version under the write lock, so two processes opening an old
    // database at once (a GUI and a worker) migrate it once: the second finds it done.
    //  v1: the tables. v2: ingest_state remembers the last line it read (offset and text), so an
    //  ingest can tell that a resume rewrote the log before its offset (metric lines are not kept
    //  in `events`, so that table alone cannot show it). v3: tags and notes.
    const char* steps[] = {kSchemaV1, kSchemaV2, kSchemaV3};
    while (version < kSchemaVersion) {
      Transaction tx(db, path);
      version = query_int(db, path, "PRAGMA user_version");
      if (version == 0 && query_int(db, path, "SELECT COUNT(*) FROM sqlite_master") != 0)
        throw Error(path + ": not a qatwb run database (it has other tables)");
      if (version < kSchemaVersion) exec_sql(db, path, steps[version]);
      tx.commit();
      version = query_int(db, path, "PRAGMA user_version");
    }
    // Cheap structural check of the schema page: a corrupt file fails here, not later.
    query_int(db, path, "SELECT COUNT(*) FROM runs");
  } catch (...) {
    sqlite3_close_v2(db);
    throw;
  }
  return Store(db, path);
}

Store Store::open(const std::string& path) { return open_impl(path, true); }
Store Store::open_existing(const std::string& path) { return open_impl(path, false); }

Store::~Store() {
  if (db_) sqlite3_close_v2(db_);
}

Store::Store(Store&& other) noexcept : db_(other.db_), path_(std::move(other.path_)) {
  other.db_ = nullptr;
}

Store& Store::operator=(Store&& other) noexcept {
  if (this != &other) {
    if (db_) sqlite3_close_v2(db_);
    db_ = other.db_;
    path_ = std::move(other.path_);
    other.db_ = nullptr;
  }
  return *this;
}

void Store::verify_usable() const {
  Stmt s(db_, path_, "PRAGMA quick_check(1)");
  const std::string result = s.step() ? s.col_text(0) : std::string("no answer");
  if (result != "ok") throw Error(path_ + ": the run database is damaged: " + result);
  exec_sql(db_, path_, "BEGIN IMMEDIATE");
  exec_sql(db_, path_, "ROLLBACK");
}

std::string Store::journal_mode() const {
  Stmt s(db_, path_, "PRAGMA journal_mode");
  return s.step() ? s.col_text(0) : std::string();
}

std::map<std::string, int64_t> Store::table_counts() const {
  std::map<std::string, int64_t> out;
  for (const char* t : {"projects", "runs", "params", "metric_keys", "metrics", "events",
                        "ingest_state", "run_tags"}) {
    std::string sql = std::string("SELECT COUNT(*) FROM ") + t;
    out[t] = query_int(db_, path_, sql.c_str());
  }
  return out;
}

std::string default_db_path(const std::string& from_environment) {
  return from_environment.empty() ? kDefaultDbPath : from_environment;
}

}  // namespace qatwb::store
