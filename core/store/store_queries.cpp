// Read side of the run database: run lookup, lists, summaries and bucketed series for plots.
#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/run/event_log.h"
#include "core/store/sqlite_util.h"
#include "core/store/store.h"
#include "core/util/error.h"

namespace fs = std::filesystem;

namespace qatwb::store {

namespace {

const char* kRunColumns =
    "SELECT id, name, COALESCE(project, ''), run_dir, status, COALESCE(started, 0), "
    "COALESCE(ended, 0), COALESCE(host, ''), COALESCE(device, ''), COALESCE(reason, ''), "
    "COALESCE(last_step, -1), note, "
    "(SELECT group_concat(tag, char(31)) FROM "
    "(SELECT tag FROM run_tags t WHERE t.run = runs.id ORDER BY tag)) FROM runs ";

RunInfo read_run(const Stmt& s) {
  RunInfo r;
  r.id = s.col_int(0);
  r.name = s.col_text(1);
  r.project = s.col_text(2);
  r.run_dir = s.col_text(3);
  r.status = s.col_text(4);
  r.started = s.col_double(5);
  r.ended = s.col_double(6);
  r.host = s.col_text(7);
  r.device = s.col_text(8);
  r.reason = s.col_text(9);
  r.last_step = s.col_int(10);
  r.note = s.col_text(11);
  const std::string tags = s.col_text(12);
  for (size_t begin = 0; begin < tags.size();) {
    size_t end = tags.find('\x1f', begin);
    if (end == std::string::npos) end = tags.size();
    r.tags.push_back(tags.substr(begin, end - begin));
    begin = end + 1;
  }
  return r;
}

}  // namespace

std::optional<RunInfo> Store::run_info(int64_t run) const {
  Stmt s(db_, path_, (std::string(kRunColumns) + "WHERE id = ?1").c_str());
  s.bind_int(1, run);
  if (!s.step()) return std::nullopt;
  return read_run(s);
}

int64_t Store::find_run(const std::string& run) const {
  if (!run.empty() && run.find_first_not_of("0123456789") == std::string::npos) {
    if (run_info(std::stoll(run))) return std::stoll(run);
  }
  // A run directory, however it is spelled.
  std::error_code ec;
  if (fs::is_directory(run, ec)) {
    fs::path p = fs::weakly_canonical(fs::absolute(run), ec);
    Stmt s(db_, path_, "SELECT id FROM runs WHERE run_dir = ?1");
    s.bind_text(1, p.string());
    if (s.step()) return s.col_int(0);
  }
  std::vector<RunInfo> matches;
  {
    Stmt s(db_, path_,
           (std::string(kRunColumns) + "WHERE name = ?1 OR project || '/' || name = ?1 "
                                       "OR run_dir = ?1 ORDER BY id")
               .c_str());
    s.bind_text(1, run);
    while (s.step()) matches.push_back(read_run(s));
  }
  if (matches.size() == 1) return matches.front().id;
  if (matches.empty()) throw Error(path_ + ": no run named '" + run + "'");
  std::string list;
  for (const auto& m : matches) list += "\n  " + m.run_dir;
  throw Error(path_ + ": run name '" + run + "' is ambiguous; give the run directory:" + list);
}

std::vector<RunInfo> Store::list_runs(const RunFilter& filter) const {
  Stmt s(db_, path_,
         (std::string(kRunColumns) + "WHERE (?1 = '' OR project = ?1) AND (?2 = '' OR status = ?2) "
                                     "ORDER BY COALESCE(started, 0) DESC, id DESC LIMIT ?3")
             .c_str());
  s.bind_text(1, filter.project).bind_text(2, filter.status);
  s.bind_int(3, filter.limit > 0 ? filter.limit : -1);
  std::vector<RunInfo> out;
  while (s.step()) out.push_back(read_run(s));
  return out;
}

std::vector<std::string> Store::metric_keys(int64_t run) const {
  // One index probe per known key: no scan of the metrics themselves.
  Stmt s(db_, path_,
         "SELECT name FROM metric_keys k WHERE EXISTS "
         "(SELECT 1 FROM metrics m WHERE m.run = ?1 AND m.key = k.id) ORDER BY name");
  s.bind_int(1, run);
  std::vector<std::string> out;
  while (s.step()) out.push_back(s.col_text(0));
  return out;
}

int64_t Store::ingested_bytes(int64_t run) const {
  Stmt s(db_, path_, "SELECT byte_offset FROM ingest_state WHERE run = ?1");
  s.bind_int(1, run);
  return s.step() ? s.col_int(0) : -1;
}

std::optional<double> Store::first_time(int64_t run, const std::string& key) const {
  Stmt s(db_, path_,
         "SELECT m.time FROM metrics m JOIN metric_keys k ON k.id = m.key "
         "WHERE m.run = ?1 AND k.name = ?2 ORDER BY m.step LIMIT 1");
  s.bind_int(1, run).bind_text(2, key);
  if (!s.step() || s.is_null(0)) return std::nullopt;
  return s.col_double(0);
}

std::vector<std::pair<int64_t, double>> Store::points(int64_t run, const std::string& key) const {
  Stmt s(db_, path_,
         "SELECT m.step, m.value FROM metrics m JOIN metric_keys k ON k.id = m.key "
         "WHERE m.run = ?1 AND k.name = ?2 ORDER BY m.step");
  s.bind_int(1, run).bind_text(2, key);
  std::vector<std::pair<int64_t, double>> out;
  while (s.step()) out.emplace_back(s.col_int(0), s.col_double(1));
  return out;
}

std::vector<Bucket> Store::series(int64_t run, const std::string& key, int buckets,
                                  std::optional<int64_t> step_min,
                                  std::optional<int64_t> step_max) const {
  if (buckets < 1) throw Error("series: buckets must be >= 1");
  int64_t key_id = -1;
  {
    Stmt k(db_, path_, "SELECT id FROM metric_keys WHERE name = ?1");
    k.bind_text(1, key);
    if (!k.step()) return {};
    key_id = k.col_int(0);
  }
  int64_t lo = 0, hi = 0;
  {
    Stmt r(db_, path_, "SELECT MIN(step), MAX(step) FROM metrics WHERE run = ?1 AND key = ?2");
    r.bind_int(1, run).bind_int(2, key_id);
    if (!r.step() || r.is_null(0)) return {};
    lo = std::max(r.col_int(0), step_min.value_or(r.col_int(0)));
    hi = std::min(r.col_int(1), step_max.value_or(r.col_int(1)));
  }
  if (hi < lo) return {};
  int64_t span = hi - lo + 1;
  int64_t width = std::max<int64_t>(1, (span + buckets - 1) / buckets);
  // One ordered range scan of the (run, key, step) primary key, bucketed here: a single
  // statement instead of two per bucket (several times faster for dense series).
  Stmt scan(db_, path_,
            "SELECT step, value, time FROM metrics WHERE run = ?1 AND key = ?2 "
            "AND step BETWEEN ?3 AND ?4 ORDER BY step");
  scan.bind_int(1, run).bind_int(2, key_id).bind_int(3, lo).bind_int(4, hi);
  std::vector<Bucket> out;
  int64_t current = -1;
  while (scan.step()) {
    const int64_t step = scan.col_int(0);
    const double value = scan.col_double(1);
    const int64_t index = (step - lo) / width;
    if (index != current || out.empty()) {
      current = index;
      Bucket b;
      b.step_first = step;
      b.min = b.max = std::nan("");
      out.push_back(b);
    }
    Bucket& b = out.back();
    b.step_last = step;
    ++b.count;
    b.last = value;
    b.time_last = scan.col_double(2);
    if (!std::isnan(value)) {
      if (std::isnan(b.min) || value < b.min) b.min = value;
      if (std::isnan(b.max) || value > b.max) b.max = value;
    }
  }
  return out;
}

RunSummary Store::run_summary(int64_t run) const {
  RunSummary sum;
  auto info = run_info(run);
  if (!info) throw Error(path_ + ": no run with id " + std::to_string(run));
  sum.run = *info;
  {
    Stmt s(db_, path_,
           "SELECT k.name, (SELECT m.value FROM metrics m WHERE m.run = ?1 AND m.key = k.id "
           "ORDER BY m.step DESC LIMIT 1) FROM metric_keys k WHERE EXISTS "
           "(SELECT 1 FROM metrics m WHERE m.run = ?1 AND m.key = k.id)");
    s.bind_int(1, run);
    while (s.step()) {
      std::string name = s.col_text(0);
      if (name.rfind("eval/", 0) == 0)
        sum.eval[name.substr(5)] = s.col_double(1);
      else
        sum.last_metrics[name] = s.col_double(1);
    }
  }
  {
    Stmt s(db_, path_,
           "SELECT json FROM events WHERE run = ?1 AND type = 'end' "
           "ORDER BY byte_offset DESC LIMIT 1");
    s.bind_int(1, run);
    if (s.step()) {
      if (auto e = run::parse_event_line(s.col_text(0))) sum.end_values = e->values;
    }
  }
  {
    Stmt s(db_, path_, "SELECT key, value FROM params WHERE run = ?1");
    s.bind_int(1, run);
    while (s.step()) sum.params[s.col_text(0)] = s.col_text(1);
  }
  {
    Stmt s(db_, path_, "SELECT COUNT(*) FROM events WHERE run = ?1 AND type = 'warning'");
    s.bind_int(1, run);
    if (s.step()) sum.warnings = s.col_int(0);
  }
  {
    Stmt s(db_, path_,
           "SELECT json FROM events WHERE run = ?1 AND type = 'checkpoint' ORDER BY byte_offset");
    s.bind_int(1, run);
    while (s.step())
      if (auto e = run::parse_event_line(s.col_text(0)))
        sum.checkpoints.emplace_back(e->step.value_or(-1), e->path);
  }
  return sum;
}

}  // namespace qatwb::store
