// qatwb runs list [--db PATH] [--project NAME] [--status S] [--json]
// qatwb runs show RUN [--db PATH] [--json]
// qatwb runs ingest RUN_DIR... [--db PATH]
// qatwb runs tag RUN TAG... [--remove | --replace] [--db PATH]
// qatwb runs note RUN TEXT [--db PATH]   ("" clears the note)
#include <cmath>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>

#include "app/command.h"
#include "app/environment.h"
#include "core/store/store.h"
#include "core/util/error.h"

namespace {

using Json = nlohmann::ordered_json;
using qatwb::store::RunInfo;
using qatwb::store::Store;

struct RunsOptions {
  std::string db;
  std::string project;
  std::string status;
  std::string run;
  std::vector<std::string> run_dirs;
  std::vector<std::string> tags;
  std::string note;
  bool remove = false, replace = false;
  bool json = false;
};

std::string db_path(const RunsOptions& o) {
  return o.db.empty() ? qatwb::app::environment().db_path() : o.db;
}

std::string format_time(double t) {
  if (t <= 0) return "-";
  std::time_t s = static_cast<std::time_t>(t);
  std::tm tm{};
  localtime_r(&s, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

Json number(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return v;
}

Json values_json(const std::map<std::string, double>& values) {
  Json j = Json::object();
  for (const auto& [k, v] : values) j[k] = number(v);
  return j;
}

Json run_json(const RunInfo& r) {
  Json j;
  j["id"] = r.id;
  j["name"] = r.name;
  j["project"] = r.project;
  j["status"] = r.status;
  j["run_dir"] = r.run_dir;
  j["started"] = r.started > 0 ? Json(r.started) : Json(nullptr);
  j["ended"] = r.ended > 0 ? Json(r.ended) : Json(nullptr);
  j["host"] = r.host;
  j["device"] = r.device;
  j["reason"] = r.reason;
  j["last_step"] = r.last_step >= 0 ? Json(r.last_step) : Json(nullptr);
  j["tags"] = r.tags;
  j["note"] = r.note;
  return j;
}

std::string format_value(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

// Text output is one row per run: control characters in a name or path (a newline in a run
// folder's name) are written as C escapes (\n, \t, \x1b) and a backslash as \\.
std::string escaped(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string joined_tags(const std::vector<std::string>& tags) {
  std::string out;
  for (const auto& t : tags) out += (out.empty() ? "" : ",") + t;
  return out.empty() ? "-" : out;
}

int run_list(const RunsOptions& o) {
  Store store = Store::open_existing(db_path(o));
  qatwb::store::RunFilter filter;
  filter.project = o.project;
  filter.status = o.status;
  auto runs = store.list_runs(filter);
  if (o.json) {
    Json arr = Json::array();
    for (const auto& r : runs) arr.push_back(run_json(r));
    std::cout << arr.dump(2) << "\n";
    return 0;
  }
  std::printf("%-5s %-24s %-20s %-9s %8s %-19s %-16s %s\n", "ID", "NAME", "PROJECT", "STATUS",
              "STEP", "STARTED", "TAGS", "RUN_DIR");
  for (const auto& r : runs)
    std::printf("%-5lld %-24s %-20s %-9s %8s %-19s %-16s %s\n", static_cast<long long>(r.id),
                escaped(r.name).c_str(), r.project.empty() ? "-" : escaped(r.project).c_str(),
                r.status.c_str(), r.last_step >= 0 ? std::to_string(r.last_step).c_str() : "-",
                format_time(r.started).c_str(), joined_tags(r.tags).c_str(),
                escaped(r.run_dir).c_str());
  return 0;
}

int run_show(const RunsOptions& o) {
  Store store = Store::open_existing(db_path(o));
  auto s = store.run_summary(store.find_run(o.run));
  if (o.json) {
    Json j = run_json(s.run);
    j["metrics"] = values_json(s.last_metrics);
    j["eval"] = values_json(s.eval);
    j["end_values"] = values_json(s.end_values);
    j["warnings"] = s.warnings;
    Json cks = Json::array();
    for (const auto& [step, path] : s.checkpoints) cks.push_back({{"step", step}, {"path", path}});
    j["checkpoints"] = cks;
    Json params = Json::object();
    for (const auto& [k, v] : s.params) params[k] = v;
    j["params"] = params;
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  const RunInfo& r = s.run;
  std::printf("run:      %s (id %lld)\n", escaped(r.name).c_str(), static_cast<long long>(r.id));
  std::printf("project:  %s\n", r.project.empty() ? "-" : escaped(r.project).c_str());
  std::printf("status:   %s%s%s\n", r.status.c_str(), r.reason.empty() ? "" : ": ",
              escaped(r.reason).c_str());
  std::printf("dir:      %s\n", escaped(r.run_dir).c_str());
  std::printf("host:     %s  device: %s\n", r.host.empty() ? "-" : r.host.c_str(),
              r.device.empty() ? "-" : r.device.c_str());
  std::printf("started:  %s  ended: %s\n", format_time(r.started).c_str(),
              format_time(r.ended).c_str());
  std::printf("step:     %s\n", r.last_step >= 0 ? std::to_string(r.last_step).c_str() : "-");
  std::printf("tags:     %s\n", joined_tags(r.tags).c_str());
  if (!r.note.empty()) std::printf("note:     %s\n", escaped(r.note).c_str());
  auto section = [](const char* title, const std::map<std::string, double>& values) {
    if (values.empty()) return;
    std::printf("%s\n", title);
    for (const auto& [k, v] : values)
      std::printf("  %-28s %s\n", k.c_str(), format_value(v).c_str());
  };
  section("last metrics:", s.last_metrics);
  section("eval:", s.eval);
  section("final:", s.end_values);
  for (const auto& [step, path] : s.checkpoints)
    std::printf("checkpoint: step %lld  %s\n", static_cast<long long>(step), path.c_str());
  if (s.warnings > 0) std::printf("warnings: %lld\n", static_cast<long long>(s.warnings));
  return 0;
}

int run_ingest(const RunsOptions& o) {
  Store store = Store::open(db_path(o));
  int failures = 0;
  for (const auto& dir : o.run_dirs) {
    try {
      std::vector<std::string> warnings;
      int64_t n = store.ingest_run_dir(dir, size_t{8} << 20, &warnings);
      std::printf("%s: %lld new lines\n", escaped(dir).c_str(), static_cast<long long>(n));
      std::fflush(stdout);
      for (const auto& w : warnings) std::cerr << "qatwb runs ingest: warning: " << w << "\n";
    } catch (const qatwb::Error& e) {
      std::fflush(stdout);
      std::cerr << "qatwb runs ingest: error: " << e.what() << "\n";
      ++failures;
    }
  }
  return failures == 0 ? 0 : 1;
}

// Tags are words: "a,b c" gives a, b and c.
std::vector<std::string> tag_words(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (const auto& a : args) {
    auto words = qatwb::store::split_tags(a);
    out.insert(out.end(), words.begin(), words.end());
  }
  return out;
}

int run_tag(const RunsOptions& o) {
  if (o.remove && o.replace)
    throw qatwb::Error("runs tag: --remove and --replace exclude each other");
  const auto tags = tag_words(o.tags);
  if (tags.empty() && !o.replace)
    throw qatwb::Error("runs tag: no tags given (--replace with none clears them)");
  Store store = Store::open_existing(db_path(o));
  const int64_t run = store.find_run(o.run);
  if (o.remove)
    store.remove_tags(run, tags);
  else if (o.replace)
    store.set_tags(run, tags);
  else
    store.add_tags(run, tags);
  const auto now = store.tags(run);
  if (o.json) {
    std::cout << Json{{"id", run}, {"tags", now}}.dump(2) << "\n";
  } else {
    std::printf("%lld: %s\n", static_cast<long long>(run), joined_tags(now).c_str());
  }
  return 0;
}

int run_note(const RunsOptions& o) {
  Store store = Store::open_existing(db_path(o));
  const int64_t run = store.find_run(o.run);
  store.set_note(run, o.note);
  if (o.json)
    std::cout << Json{{"id", run}, {"note", o.note}}.dump(2) << "\n";
  else
    std::printf("%lld: %s\n", static_cast<long long>(run),
                o.note.empty() ? "note cleared" : "note set");
  return 0;
}

qatwb::cli::CommandRegistration reg(
    "runs", "List, show, ingest, tag and annotate runs (the SQLite run database)",
    [](CLI::App& sub) -> std::function<int()> {
      auto o = std::make_shared<RunsOptions>();
      sub.require_subcommand(1);
      const std::string db_help = "run database (default: $QATWB_DB, else ./runs/qatwb.sqlite)";
      CLI::App* list = sub.add_subcommand("list", "List the runs in the database, newest first");
      list->add_option("--db", o->db, db_help);
      list->add_option("--project", o->project, "only runs of this project");
      list->add_option("--status", o->status,
                       "only runs with this status (running, finished, ...)");
      list->add_flag("--json", o->json, "print JSON");
      CLI::App* show = sub.add_subcommand("show", "Show one run: status, last metrics, eval");
      show->add_option("run", o->run, "run name, project/name, id or run directory")->required();
      show->add_option("--db", o->db, db_help);
      show->add_flag("--json", o->json, "print JSON (with the flattened config)");
      CLI::App* ingest =
          sub.add_subcommand("ingest", "Read new events of run directories into the database");
      ingest->add_option("run_dirs", o->run_dirs, "run directories")->required();
      ingest->add_option("--db", o->db, db_help);
      CLI::App* tag = sub.add_subcommand(
          "tag", "Add tags to a run (words without spaces or commas; shown by list, GUI, report)");
      tag->add_option("run", o->run, "run name, project/name, id or run directory")->required();
      tag->add_option("tags", o->tags, "tags to add (remove with --remove)");
      tag->add_flag("--remove", o->remove, "remove these tags instead");
      tag->add_flag("--replace", o->replace, "replace all the run's tags with these (none: clear)");
      tag->add_option("--db", o->db, db_help);
      tag->add_flag("--json", o->json, "print the run's tags as JSON");
      CLI::App* note = sub.add_subcommand("note", "Set a run's note (\"\" clears it)");
      note->add_option("run", o->run, "run name, project/name, id or run directory")->required();
      note->add_option("text", o->note, "the note")->required();
      note->add_option("--db", o->db, db_help);
      note->add_flag("--json", o->json, "print JSON");
      return [o, list, show, tag, note]() {
        if (list->parsed()) return run_list(*o);
        if (show->parsed()) return run_show(*o);
        if (tag->parsed()) return run_tag(*o);
        if (note->parsed()) return run_note(*o);
        return run_ingest(*o);
      };
    });

}  // namespace
