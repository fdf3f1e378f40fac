// events.jsonl -> SQLite, incrementally and idempotently (see store.h).
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "core/run/event_log.h"
#include "core/run/run_dir.h"
#include "core/store/sqlite_util.h"
#include "core/store/store.h"
#include "core/util/error.h"

namespace fs = std::filesystem;

namespace qatwb::store {

namespace {

std::string canonical_dir(const std::string& dir) {
  std::error_code ec;
  fs::path p = fs::weakly_canonical(fs::absolute(dir), ec);
  std::string s = (ec ? fs::absolute(dir).lexically_normal() : p).string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

// Config JSON -> ("quant.bits", "2.0"), ("data.sources[0].path", "/x"), ...
void flatten(const nlohmann::json& j, const std::string& prefix,
             std::vector<std::pair<std::string, std::string>>& out) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it)
      flatten(it.value(), prefix.empty() ? it.key() : prefix + "." + it.key(), out);
  } else if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i)
      flatten(j[i], prefix + "[" + std::to_string(i) + "]", out);
  } else if (j.is_string()) {
    out.emplace_back(prefix, j.get<std::string>());
  } else {
    out.emplace_back(prefix, j.dump());
  }
}

// All statements of one ingest, prepared once.
class Ingester {
 public:
  Ingester(sqlite3* db, const std::string& path, int64_t run, std::string events_file,
           std::vector<std::string>* warnings)
      : db_(db),
        warnings_(warnings),
        path_(path),
        run_(run),
        events_file_(std::move(events_file)),
        key_insert_(db, path, "INSERT OR IGNORE INTO metric_keys(name) VALUES(?1)"),
        key_select_(db, path, "SELECT id FROM metric_keys WHERE name = ?1"),
        metric_(db, path,
                "INSERT INTO metrics(run, key, step, time, value) VALUES(?1, ?2, ?3, ?4, ?5) "
                "ON CONFLICT(run, key, step) DO UPDATE SET time = excluded.time, "
                "value = excluded.value"),
        event_(db, path,
               "INSERT OR IGNORE INTO events(run, byte_offset, type, step, time, json) "
               "VALUES(?1, ?2, ?3, ?4, ?5, ?6)"),
        project_(db, path, "INSERT OR IGNORE INTO projects(name) VALUES(?1)"),
        start_(db, path,
               "UPDATE runs SET name = CASE WHEN ?2 = '' THEN name ELSE ?2 END, "
               "project = CASE WHEN ?3 = '' THEN project ELSE ?3 END, "
               "started = CASE WHEN started IS NULL OR ?4 < started THEN ?4 ELSE started END, "
               "host = ?5, device = ?6, pid = ?7, status = 'running', ended = NULL, "
               "reason = NULL WHERE id = ?1"),
        param_(db, path, "INSERT OR REPLACE INTO params(run, key, value) VALUES(?1, ?2, ?3)"),
        end_(db, path, "UPDATE runs SET status = ?2, reason = ?3, ended = ?4 WHERE id = ?1"),
        last_step_(db, path,
                   "UPDATE runs SET last_step = ?2 WHERE id = ?1 AND "
                   "(last_step IS NULL OR last_step < ?2)") {}

  void line(const run::LogLine& l, int64_t line_no) {
    std::string error;
    std::optional<run::Event> e = run::parse_event_line(l.text, &error);
    if (!e) {
      bad_line(l, line_no, error);
      return;
    }
    switch (e->type) {
      case run::EventType::Metric:
        for (const auto& [k, v] : e->values) metric(k, *e->step, e->time, v);
        max_step_ = std::max(max_step_, *e->step);
        return;
      case run::EventType::Eval:
        for (const auto& [k, v] : e->values)
          metric(k.rfind("eval/", 0) == 0 ? k : "eval/" + k, *e->step, e->time, v);
        break;
      case run::EventType::Start:
        start(*e);
        break;
      case run::EventType::End:
        end_.bind_int(1, run_).bind_text(2, e->status).bind_text(3, e->reason);
        end_.bind_double(4, e->time).run();
        break;
      case run::EventType::Checkpoint:
      case run::EventType::Warning:
        break;
    }
    store_event(l.offset, run::to_string(e->type), e->step, e->time, l.text);
  }

  void finish() {
    if (max_step_ >= 0) last_step_.bind_int(1, run_).bind_int(2, max_step_).run();
  }

 private:
  void bad_line(const run::LogLine& l, int64_t line_no, const std::string& why) {
    run::Event w;
    w.type = run::EventType::Warning;
    w.message = events_file_ + ":" + std::to_string(line_no) + ": bad event line: " + why;
    w.code = "bad_event_line";
    if (warnings_) warnings_->push_back(w.message);
    store_event(l.offset, "warning", std::nullopt, 0, run::to_json_line(w));
  }

  void store_event(int64_t offset, const char* type, std::optional<int64_t> step, double time,
                   const std::string& json) {
    event_.bind_int(1, run_).bind_int(2, offset).bind_text(3, type);
    if (step) event_.bind_int(4, *step);
    event_.bind_double(5, time).bind_text(6, json).run();
  }

  void start(const run::Event& e) {
    const auto& s = e.start;
    if (!s.project.empty()) project_.bind_text(1, s.project).run();
    start_.bind_int(1, run_).bind_text(2, s.run).bind_text(3, s.project).bind_double(4, e.time);
    start_.bind_text(5, s.host).bind_text(6, s.device).bind_int(7, s.pid).run();
    auto config = nlohmann::json::parse(s.config_json, nullptr, false);
    if (config.is_discarded()) return;
    std::vector<std::pair<std::string, std::string>> params;
    flatten(config, "", params);
    for (const auto& [k, v] : params)
      param_.bind_int(1, run_).bind_text(2, k).bind_text(3, v).run();
  }

  int64_t key_id(const std::string& name) {
    auto it = keys_.find(name);
    if (it != keys_.end()) return it->second;
    key_insert_.bind_text(1, name).run();
    key_select_.bind_text(1, name);
    if (!key_select_.step()) throw Error(path_ + ": metric key '" + name + "' vanished");
    int64_t id = key_select_.col_int(0);
    key_select_.reset();
    keys_.emplace(name, id);
    return id;
  }

  void metric(const std::string& key, int64_t step, double time, double value) {
    metric_.bind_int(1, run_).bind_int(2, key_id(key)).bind_int(3, step);
    metric_.bind_double(4, time).bind_double(5, value).run();
  }

  sqlite3* db_;
  std::vector<std::string>* warnings_;
  const std::string& path_;
  int64_t run_;
  std::string events_file_;
  Stmt key_insert_, key_select_, metric_, event_, project_, start_, param_, end_, last_step_;
  std::unordered_map<std::string, int64_t> keys_;
  int64_t max_step_ = -1;
};

}  // namespace

int64_t Store::ensure_run(const std::string& run_dir) {
  std::string dir = canonical_dir(run_dir);
  {
    Stmt find(db_, path_, "SELECT id FROM runs WHERE run_dir = ?1");
    find.bind_text(1, dir);
    if (find.step()) return find.col_int(0);
  }
  Transaction tx(db_, path_);
  Stmt insert(db_, path_, "INSERT OR IGNORE INTO runs(name, run_dir) VALUES(?1, ?2)");
  insert.bind_text(1, fs::path(dir).filename().string()).bind_text(2, dir).run();
  Stmt find(db_, path_, "SELECT id FROM runs WHERE run_dir = ?1");
  find.bind_text(1, dir);
  if (!find.step()) throw Error(path_ + ": cannot register run " + dir);
  int64_t id = find.col_int(0);
  find.reset();
  Stmt state(db_, path_, "INSERT OR IGNORE INTO ingest_state(run) VALUES(?1)");
  state.bind_int(1, id).run();
  tx.commit();
  return id;
}

namespace {

// Whether <run>/events.jsonl now holds another run than the one ingested so far: the run folder
// was deleted and a new run started at the same path (scripts/demo.sh does this). The start
// event at byte 0 is the run's fingerprint (its time is stamped to the microsecond).
bool log_holds_another_run(sqlite3* db, const std::string& db_path, int64_t run,
                           const std::string& events) {
  Stmt s(db, db_path, "SELECT type, time FROM events WHERE run = ?1 AND byte_offset = 0");
  s.bind_int(1, run);
  if (!s.step() || s.col_text(0) != "start") return false;
  const double stored_time = s.col_double(1);
  std::ifstream in(events);
  std::string first;
  if (!std::getline(in, first)) return false;
  const auto e = run::parse_event_line(first);
  return !e || e->type != run::EventType::Start || e->time != stored_time;
}

void forget_run_rows(sqlite3* db, const std::string& db_path, int64_t run) {
  for (const char* sql : {"DELETE FROM metrics WHERE run = ?1", "DELETE FROM events WHERE run = ?1",
                          "DELETE FROM params WHERE run = ?1",
                          "UPDATE runs SET status = 'unknown', reason = NULL, started = NULL, "
                          "ended = NULL, last_step = -1 WHERE id = ?1",
                          "UPDATE ingest_state SET byte_offset = 0, lines = 0, last_offset = "
                          "NULL, last_line = NULL WHERE run = ?1"}) {
    Stmt st(db, db_path, sql);
    st.bind_int(1, run).run();
  }
}

// Whether the log still holds, just before `offset`, the line ingested last. A resume cuts the
// replayed tail off events.jsonl (core/run/run_history.h) and appends the new attempt's events
// there, so bytes the store has already read can change; reading on from the old offset would
// then start mid-line and keep the cut events. Cheap: one row and one read per ingest.
bool log_continues_at(sqlite3* db, const std::string& db_path, int64_t run,
                      const std::string& events, int64_t offset) {
  if (offset <= 0) return true;
  Stmt s(db, db_path, "SELECT last_offset, last_line FROM ingest_state WHERE run = ?1");
  s.bind_int(1, run);
  if (!s.step() || s.col_text(1).empty()) return true;  // only blank lines so far
  const int64_t last = s.col_int(0);
  const std::string line = s.col_text(1);
  if (last < 0 || last >= offset) return false;
  std::ifstream in(events, std::ios::binary);
  if (!in) return false;
  in.seekg(last);
  std::string slice(static_cast<size_t>(offset - last), '\0');
  if (!in.read(&slice[0], static_cast<std::streamsize>(slice.size()))) return false;
  if (slice.back() != '\n') return false;
  const size_t nl = slice.find('\n');  // later lines: blank ones the store skipped
  return slice.compare(0, nl, line) == 0 &&
         slice.find_first_not_of(" \t\r\n", nl) == std::string::npos;
}

}  // namespace

int64_t Store::ingest_run_dir(const std::string& run_dir, size_t batch_bytes,
                              std::vector<std::string>* warnings) {
  std::error_code ec;
  if (!fs::is_directory(run_dir, ec)) throw Error(run_dir + ": not a run directory");
  int64_t run = ensure_run(run_dir);
  run::RunDir dir(canonical_dir(run_dir));
  const std::string events = dir.events_path();
  int64_t total = 0;
  int64_t ingested = 0;
  {
    Stmt s(db_, path_, "SELECT byte_offset FROM ingest_state WHERE run = ?1");
    s.bind_int(1, run);
    if (s.step()) ingested = s.col_int(0);
  }
  // Another run in the same folder, or a log that shrank or changed before the offset read so
  // far (a resume cut its replayed tail): forget this run's rows and read it again from the
  // start (idempotent).
  if (log_holds_another_run(db_, path_, run, events) ||
      !log_continues_at(db_, path_, run, events, ingested)) {
    Transaction tx(db_, path_);
    forget_run_rows(db_, path_, run);
    tx.commit();
  }
  for (;;) {
    int64_t offset = 0, lines = 0;
    {
      Stmt s(db_, path_, "SELECT byte_offset, lines FROM ingest_state WHERE run = ?1");
      s.bind_int(1, run);
      if (s.step()) offset = s.col_int(0), lines = s.col_int(1);
    }
    std::vector<run::LogLine> batch;
    int64_t next = run::read_complete_lines(events, offset, batch, batch_bytes);
    if (next == offset) break;
    Transaction tx(db_, path_);
    Ingester ingest(db_, path_, run, events, warnings);
    const run::LogLine* last = nullptr;
    for (const auto& l : batch) {
      ++lines;
      if (l.text.find_first_not_of(" \t\r") == std::string::npos) continue;  // blank line
      ingest.line(l, lines);
      last = &l;
      ++total;
    }
    ingest.finish();
    if (last) {
      Stmt save(db_, path_,
                "UPDATE ingest_state SET byte_offset = ?2, lines = ?3, last_offset = ?4, "
                "last_line = ?5 WHERE run = ?1");
      save.bind_int(1, run).bind_int(2, next).bind_int(3, lines).bind_int(4, last->offset);
      save.bind_text(5, last->text).run();
    } else {
      Stmt save(db_, path_, "UPDATE ingest_state SET byte_offset = ?2, lines = ?3 WHERE run = ?1");
      save.bind_int(1, run).bind_int(2, next).bind_int(3, lines).run();
    }
    tx.commit();
  }
  return total;
}

}  // namespace qatwb::store
