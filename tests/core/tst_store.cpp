// The run database: schema and WAL, ingest (idempotent, incremental, resumable after a kill,
// garbage-tolerant), queries (1M-point bucketed series, summaries, lookups), bad files, and the
// `qatwb runs` CLI through the real binary.
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/project/project_yaml.h"
#include "core/run/event_log.h"
#include "core/run/run_dir.h"
#include "core/store/store.h"
#include "core/util/error.h"
#include "tests/common/test_env.h"

using namespace qatwb;
using qatwb::store::Store;

namespace {

int64_t scalar(const Store& s, const char* sql) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(s.handle(), sql, -1, &st, nullptr) != SQLITE_OK) qFatal("bad sql %s", sql);
  int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
  sqlite3_finalize(st);
  return v;
}

std::string text(const Store& s, const char* sql) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(s.handle(), sql, -1, &st, nullptr) != SQLITE_OK) qFatal("bad sql %s", sql);
  std::string v;
  if (sqlite3_step(st) == SQLITE_ROW) v = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  return v;
}

void append(const std::string& path, const std::string& data) {
  FILE* f = std::fopen(path.c_str(), "ab");
  if (!f) qFatal("cannot append to %s", path.c_str());
  std::fwrite(data.data(), 1, data.size(), f);
  std::fclose(f);
}

std::string read_file(const std::string& path) {
  QFile f(QString::fromStdString(path));
  if (!f.open(QIODevice::ReadOnly)) return {};
  return f.readAll().toStdString();
}

run::Event metric(int64_t step, std::map<std::string, double> values) {
  run::Event e;
  e.type = run::EventType::Metric;
  e.time = 1000.0 + static_cast<double>(step);
  e.step = step;
  e.values = std::move(values);
  return e;
}

// A finished run with a start (real project config), 10 metric steps, 2 evals, a checkpoint,
// a warning and an end event. Returns the lines written.
int write_run(const run::RunDir& dir, const std::string& run_name, const std::string& project) {
  dir.create();
  run::EventWriter w(dir.events_path(), run::FsyncPolicy::Never);
  run::Event s;
  s.type = run::EventType::Start;
  s.time = 1000;
  auto config =
      project::load_project(QDir::cleanPath(test::fixture("projects/good.yaml")).toStdString());
  s.start = {run_name, project, project::to_json(config), "box", 77, "cpu", 2};
  w.write(s);
  for (int64_t step = 1; step <= 10; ++step)
    w.write(metric(step, {{"loss", 10.0 / step}, {"lr", 1e-4 * step}}));
  run::Event ev;
  ev.type = run::EventType::Eval;
  ev.time = 1005;
  ev.step = 5;
  ev.values = {{"ppl", 30.0}};
  w.write(ev);
  ev.step = 10;
  ev.time = 1010;
  ev.values = {{"ppl", 20.0}, {"eval/post_quant_ppl", std::nan("")}};
  w.write(ev);
  run::Event ck;
  ck.type = run::EventType::Checkpoint;
  ck.time = 1010;
  ck.step = 10;
  ck.path = dir.checkpoint_path(10);
  w.write(ck);
  run::Event warn;
  warn.type = run::EventType::Warning;
  warn.time = 1011;
  warn.message = "spike";
  warn.code = "grad_spike";
  w.write(warn);
  run::Event end;
  end.type = run::EventType::End;
  end.time = 1012;
  end.step = 10;
  end.status = "finished";
  end.reason = "reached train.steps";
  end.values = {{"ppl", 19.5}};
  w.write(end);
  return 1 + 10 + 2 + 1 + 1 + 1;
}

std::map<std::string, int64_t> counts_after_fresh_ingest(const QTemporaryDir& tmp,
                                                         const std::string& run_dir,
                                                         const QString& name) {
  Store ref = Store::open(tmp.filePath(name).toStdString());
  ref.ingest_run_dir(run_dir);
  return ref.table_counts();
}

}  // namespace

class TestStore : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void open_creates_a_versioned_wal_database() {
    QTemporaryDir tmp;
    std::string path = tmp.filePath("sub/dir/runs.sqlite").toStdString();
    {
      Store s = Store::open(path);
      QCOMPARE(s.journal_mode(), std::string("wal"));
      QCOMPARE(scalar(s, "PRAGMA user_version"), int64_t(store::kSchemaVersion));
      QCOMPARE(scalar(s, "PRAGMA foreign_keys"), int64_t(1));
      auto counts = s.table_counts();
      QCOMPARE(counts.size(), size_t(8));
      for (const auto& [table, n] : counts) QCOMPARE(n, int64_t(0));
    }
    {
      Store again = Store::open_existing(path);  // reopening keeps the schema
      QCOMPARE(scalar(again, "PRAGMA user_version"), int64_t(store::kSchemaVersion));
    }
    // A v1 database (before ingest_state kept the last line it read) is migrated on open (v2 -> v3
    // on a database made by the v2 qatwb: tst_store_tags).
    sqlite3* db = nullptr;
    QCOMPARE(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    QCOMPARE(sqlite3_exec(db,
                          "ALTER TABLE ingest_state DROP COLUMN last_line; "
                          "ALTER TABLE ingest_state DROP COLUMN last_offset; "
                          "DROP TABLE run_tags; ALTER TABLE runs DROP COLUMN note; "
                          "PRAGMA user_version = 1",
                          nullptr, nullptr, nullptr),
             SQLITE_OK);
    sqlite3_close(db);
    Store migrated = Store::open_existing(path);
    QCOMPARE(scalar(migrated, "PRAGMA user_version"), int64_t(store::kSchemaVersion));
    QCOMPARE(scalar(migrated,
                    "SELECT COUNT(*) FROM pragma_table_info('ingest_state') "
                    "WHERE name IN ('last_offset', 'last_line')"),
             int64_t(2));
  }

  void bad_files_are_clear_errors() {
    QTemporaryDir tmp;
    auto expect_error = [](const std::string& path, const char* what) {
      try {
        Store s = Store::open(path);
        s.table_counts();
        s.list_runs();
      } catch (const Error& e) {
        std::string msg = e.what();
        QVERIFY2(msg.rfind(path, 0) == 0, msg.c_str());
        QVERIFY2(msg.find(what) != std::string::npos, msg.c_str());
        return;
      }
      QFAIL(("no error for " + path).c_str());
    };
    std::string textfile = tmp.filePath("notes.sqlite").toStdString();
    append(textfile, std::string(5000, 'x') + "\nthis is not a database\n");
    expect_error(textfile, "not a qatwb run database");

    std::string missing = tmp.filePath("missing.sqlite").toStdString();
    QVERIFY_THROWS_EXCEPTION(Error, Store::open_existing(missing));

    // A SQLite database of something else.
    std::string other = tmp.filePath("other.sqlite").toStdString();
    sqlite3* db = nullptr;
    sqlite3_open(other.c_str(), &db);
    sqlite3_exec(db, "CREATE TABLE t(x)", nullptr, nullptr, nullptr);
    sqlite3_close(db);
    expect_error(other, "not a qatwb run database");

    // A newer schema.
    std::string newer = tmp.filePath("newer.sqlite").toStdString();
    { Store s = Store::open(newer); }
    sqlite3_open(newer.c_str(), &db);
    sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr);
    sqlite3_close(db);
    expect_error(newer, "newer");

    // A real database whose pages were overwritten.
    std::string corrupt = tmp.filePath("corrupt.sqlite").toStdString();
    run::RunDir run(tmp.filePath("run").toStdString());
    write_run(run, "r", "p");
    {
      Store s = Store::open(corrupt);
      s.ingest_run_dir(run.path());
    }  // closing checkpoints the WAL into the file
    std::string bytes = read_file(corrupt);
    QVERIFY(bytes.size() >= 8192);
    for (size_t i = 4096; i < bytes.size(); ++i) bytes[i] = static_cast<char>(0xA5 ^ (i * 31));
    {
      QFile f(QString::fromStdString(corrupt));
      QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
      f.write(bytes.data(), static_cast<qint64>(bytes.size()));
    }
    expect_error(corrupt, "corrupt");
    // A damaged header is "not a database".
    bytes.replace(0, 16, std::string(16, 'Z'));
    {
      QFile f(QString::fromStdString(corrupt));
      QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
      f.write(bytes.data(), static_cast<qint64>(bytes.size()));
    }
    expect_error(corrupt, "not a qatwb run database");
  }

  void ingest_fills_every_table() {
    QTemporaryDir tmp;
    run::RunDir dir(tmp.filePath("runs/good-project/20240101-000000").toStdString());
    int lines = write_run(dir, "first", "good-project");
    Store s = Store::open(tmp.filePath("db.sqlite").toStdString());
    QCOMPARE(s.ingest_run_dir(dir.path()), int64_t(lines));
    auto runs = s.list_runs();
    QCOMPARE(runs.size(), size_t(1));
    const auto& r = runs[0];
    QCOMPARE(r.name, std::string("first"));
    QCOMPARE(r.project, std::string("good-project"));
    QCOMPARE(r.status, std::string("finished"));
    QCOMPARE(r.reason, std::string("reached train.steps"));
    QCOMPARE(r.started, 1000.0);
    QCOMPARE(r.ended, 1012.0);
    QCOMPARE(r.host, std::string("box"));
    QCOMPARE(r.last_step, int64_t(10));
    QCOMPARE(QString::fromStdString(r.run_dir),
             QFileInfo(QString::fromStdString(dir.path())).canonicalFilePath());
    auto sum = s.run_summary(r.id);
    QCOMPARE(sum.last_metrics.size(), size_t(2));
    QCOMPARE(sum.last_metrics["loss"], 1.0);
    QCOMPARE(sum.last_metrics["lr"], 1e-3);
    QCOMPARE(sum.eval["ppl"], 20.0);
    QVERIFY(std::isnan(sum.eval["post_quant_ppl"]));  // NaN survives as NULL
    QCOMPARE(sum.end_values["ppl"], 19.5);
    QCOMPARE(sum.warnings, int64_t(1));
    QCOMPARE(sum.checkpoints.size(), size_t(1));
    QCOMPARE(sum.checkpoints[0].first, int64_t(10));
    QCOMPARE(sum.params["quant.bits"], std::string("1.58"));
    QCOMPARE(sum.params["train.device"], std::string("cuda:1"));
    QCOMPARE(sum.params["data.sources[0].text_field"], std::string("body"));
    QCOMPARE(s.metric_keys(r.id),
             (std::vector<std::string>{"eval/post_quant_ppl", "eval/ppl", "loss", "lr"}));
    auto pts = s.points(r.id, "eval/ppl");
    QCOMPARE(pts.size(), size_t(2));
    QCOMPARE(pts[0], (std::pair<int64_t, double>{5, 30.0}));
    auto c = s.table_counts();
    QCOMPARE(c["projects"], int64_t(1));
    QCOMPARE(c["runs"], int64_t(1));
    QCOMPARE(c["metrics"], int64_t(10 * 2 + 1 + 2));
    QCOMPARE(c["metric_keys"], int64_t(4));
    QCOMPARE(c["events"], int64_t(6));  // every line but the metric lines
    QVERIFY(c["params"] > 50);
    // Lookups by name, project/name, id and directory.
    QCOMPARE(s.find_run("first"), r.id);
    QCOMPARE(s.find_run("good-project/first"), r.id);
    QCOMPARE(s.find_run(std::to_string(r.id)), r.id);
    QCOMPARE(s.find_run(dir.path() + "/"), r.id);
    QVERIFY_THROWS_EXCEPTION(Error, s.find_run("nope"));
    // Filters.
    store::RunFilter f;
    f.project = "other";
    QVERIFY(s.list_runs(f).empty());
    f.project = "good-project";
    f.status = "finished";
    QCOMPARE(s.list_runs(f).size(), size_t(1));
    // A second run with the same name makes the bare name ambiguous.
    run::RunDir dir2(tmp.filePath("elsewhere/x").toStdString());
    write_run(dir2, "first", "good-project");
    s.ingest_run_dir(dir2.path());
    try {
      s.find_run("first");
      QFAIL("ambiguous name accepted");
    } catch (const Error& e) {
      QVERIFY2(std::string(e.what()).find("ambiguous") != std::string::npos, e.what());
    }
    QCOMPARE(s.list_runs().size(), size_t(2));
  }

  void ingest_is_idempotent() {
    QTemporaryDir tmp;
    run::RunDir dir(tmp.filePath("run").toStdString());
    int lines = write_run(dir, "r", "p");
    Store s = Store::open(tmp.filePath("db.sqlite").toStdString());
    QCOMPARE(s.ingest_run_dir(dir.path()), int64_t(lines));
    auto once = s.table_counts();
    QCOMPARE(s.ingest_run_dir(dir.path()), int64_t(0));  // nothing new
    QCOMPARE(s.table_counts(), once);
    // Forget the offset: every line is read again, the database does not change.
    sqlite3_exec(s.handle(), "UPDATE ingest_state SET byte_offset = 0, lines = 0", nullptr, nullptr,
                 nullptr);
    QCOMPARE(s.ingest_run_dir(dir.path()), int64_t(lines));
    QCOMPARE(s.table_counts(), once);
    // The same lines again at other offsets (a metric, an eval and the end): same rows.
    std::string log = read_file(dir.events_path());
    std::vector<std::string> all;
    for (size_t a = 0, b; (b = log.find('\n', a)) != std::string::npos; a = b + 1)
      all.push_back(log.substr(a, b - a + 1));
    append(dir.events_path(), all[3] + all[11] + all.back());
    QCOMPARE(s.ingest_run_dir(dir.path()), int64_t(3));
    QCOMPARE(s.table_counts(), once);
    QCOMPARE(s.run_summary(s.find_run("r")).run.status, std::string("finished"));
    // A later line for a step already stored wins (a resumed run re-logs a step).
    append(dir.events_path(), run::to_json_line(metric(10, {{"loss", 0.5}})) + "\n");
    s.ingest_run_dir(dir.path());
    QCOMPARE(s.run_summary(s.find_run("r")).last_metrics["loss"], 0.5);
    QCOMPARE(s.table_counts()["metrics"], once["metrics"]);
  }

  void a_new_run_in_the_same_folder_replaces_the_old_one() {
    // The folder is deleted and a new, longer run (a bigger file: the byte offset alone cannot
    // tell) starts at the same path (scripts/demo.sh
    // reruns its QAT stages this way): its rows replace the old run's, none of them survive.
    QTemporaryDir tmp;
    run::RunDir dir(tmp.filePath("run").toStdString());
    write_run(dir, "r", "p");
    Store s = Store::open(tmp.filePath("db.sqlite").toStdString());
    s.ingest_run_dir(dir.path());
    const int64_t id = s.find_run(dir.path());
    QCOMPARE(s.points(id, "loss").size(), size_t{10});
    std::filesystem::remove_all(dir.path());
    dir.create();
    {
      run::EventWriter w(dir.events_path(), run::FsyncPolicy::Never);
      run::Event st;
      st.type = run::EventType::Start;
      st.time = 2000.5;
      st.start = {"r", "p", "{}", "box", 78, "cpu", 2};
      w.write(st);
      for (int64_t step = 1; step <= 200; ++step) w.write(metric(step, {{"loss", 100.0 + step}}));
    }
    s.ingest_run_dir(dir.path());
    QCOMPARE(s.find_run(dir.path()), id);
    const auto points = s.points(id, "loss");
    QCOMPARE(points.size(), size_t{200});
    for (const auto& [step, value] : points) QCOMPARE(value, 100.0 + double(step));
    QVERIFY(s.points(id, "lr").empty());
    const auto summary = s.run_summary(id);
    QVERIFY(summary.eval.empty());
    QVERIFY(summary.run.status != "finished");
    QCOMPARE(summary.run.last_step, int64_t{200});
  }

  void ingest_is_incremental_and_waits_for_whole_lines() {
    QTemporaryDir tmp;
    run::RunDir full(tmp.filePath("full").toStdString());
    int lines = write_run(full, "r", "p");
    std::string log = read_file(full.events_path());
    run::RunDir dir(tmp.filePath("growing").toStdString());
    dir.create();
    Store s = Store::open(tmp.filePath("db.sqlite").toStdString());
    QCOMPARE(s.ingest_run_dir(dir.path()), int64_t(0));  // registered, no log yet
    QCOMPARE(s.list_runs().size(), size_t(1));
    QCOMPARE(s.list_runs()[0].status, std::string("unknown"));
    // Grow the log in uneven pieces that cut lines in half.
    int64_t total = 0;
    size_t pos = 0;
    for (size_t piece : {10, 150, 1, 700, 333, 5000}) {
      size_t n = std::min(piece, log.size() - pos);
      append(dir.events_path(), log.substr(pos, n));
      pos += n;
      total += s.ingest_run_dir(dir.path());
      if (pos < log.size()) QCOMPARE(s.list_runs()[0].status == "finished", false);
    }
    QCOMPARE(pos, log.size());
    QCOMPARE(total, int64_t(lines));
    auto got = s.table_counts();
    auto ref = counts_after_fresh_ingest(tmp, full.path(), "ref.sqlite");
    QCOMPARE(got, ref);
    QCOMPARE(s.list_runs()[0].status, std::string("finished"));
  }

  void garbage_lines_become_warnings() {
    QTemporaryDir tmp;
    run::RunDir dir(tmp.filePath("run").toStdString());
    dir.create();
    append(dir.events_path(), run::to_json_line(metric(1, {{"loss", 1}})) + "\n" +
                                  "this is not json\n" + "\n" +
                                  "{\"v\":9,\"type\":\"metric\",\"time\":1,\"step\":2}\n" +
                                  run::to_json_line(metric(2, {{"loss", 2}})) + "\n");
    Store s = Store::open(tmp.filePath("db.sqlite").toStdString());
    QCOMPARE(s.ingest_run_dir(dir.path()), int64_t(4));  // the blank line is not counted
    int64_t id = s.find_run("run");
    auto sum = s.run_summary(id);
    QCOMPARE(sum.warnings, int64_t(2));
    QCOMPARE(s.points(id, "loss").size(), size_t(2));
    std::string msg = text(s, "SELECT json FROM events WHERE json LIKE '%not valid JSON%'");
    QVERIFY2(msg.find("events.jsonl:2: bad event line") != std::string::npos, msg.c_str());
    msg = text(s, "SELECT json FROM events WHERE json LIKE '%version%'");
    QVERIFY2(msg.find("events.jsonl:4: bad event line") != std::string::npos, msg.c_str());
    // Idempotent for bad lines as well.
    auto before = s.table_counts();
    sqlite3_exec(s.handle(), "UPDATE ingest_state SET byte_offset = 0, lines = 0", nullptr, nullptr,
                 nullptr);
    s.ingest_run_dir(dir.path());
    QCOMPARE(s.table_counts(), before);
  }

  void a_cut_and_rewritten_tail_is_ingested_again() {
    // Issue #15: a resume cuts the replayed tail off events.jsonl and appends the new attempt
    // there. The store, which had read past the cut, must not keep the cut rows nor read on
    // from its old offset (mid-line).
    QTemporaryDir tmp;
    run::RunDir dir(tmp.filePath("run").toStdString());
    dir.create();
    std::string head = run::to_json_line(metric(1, {{"loss", 1}})) + "\n" +
                       run::to_json_line(metric(2, {{"loss", 2}})) + "\n";
    append(dir.events_path(), head + run::to_json_line(metric(3, {{"loss", 3}})) + "\n" +
                                  run::to_json_line(metric(4, {{"loss", 4}})) + "\n");
    Store s = Store::open(tmp.filePath("db.sqlite").toStdString());
    s.ingest_run_dir(dir.path());
    const int64_t id = s.find_run("run");
    QCOMPARE(s.points(id, "loss").size(), size_t(4));
    // Cut after step 2, then a longer rewrite of 3 and 4 (new times) and a step 5: the file is
    // now larger than the old offset, so its size alone does not show the change.
    QVERIFY(::truncate(dir.events_path().c_str(), static_cast<off_t>(head.size())) == 0);
    auto m3 = metric(3, {{"loss", 3.5}, {"lr", 0.25}});
    m3.time = 2000;
    auto m4 = metric(4, {{"loss", 4.5}, {"lr", 0.125}});
    m4.time = 2001;
    append(dir.events_path(), run::to_json_line(m3) + "\n" + run::to_json_line(m4) + "\n" +
                                  run::to_json_line(metric(5, {{"loss", 5}})) + "\n");
    s.ingest_run_dir(dir.path());
    const auto loss = s.points(id, "loss");
    QCOMPARE(loss.size(), size_t(5));
    QCOMPARE(loss[2].second, 3.5);
    QCOMPARE(loss[3].second, 4.5);
    QCOMPARE(scalar(s, "SELECT COUNT(*) FROM metrics WHERE step = 5"), int64_t(1));
    QCOMPARE(scalar(s, "SELECT COUNT(*) FROM events WHERE type = 'warning'"), int64_t(0));
    // And a log cut shorter than what was read (no new lines yet).
    QVERIFY(::truncate(dir.events_path().c_str(), static_cast<off_t>(head.size())) == 0);
    s.ingest_run_dir(dir.path());
    QCOMPARE(s.points(id, "loss").size(), size_t(2));
    QCOMPARE(scalar(s, "SELECT COUNT(*) FROM metrics"), int64_t(2));
  }

  void cli_warns_about_garbage_lines_and_escapes_names() {
    using test::run_qatwb;
    QTemporaryDir tmp;
    // A run folder whose name holds a newline and a tab: one row in `runs list` all the same.
    run::RunDir dir(tmp.filePath("runs/p/evil\nname\there").toStdString());
    write_run(dir, "", "p");
    append(dir.events_path(), "not an event\n");
    const QString db = tmp.filePath("w.sqlite");
    auto ing = run_qatwb({"runs", "ingest", QString::fromStdString(dir.path()), "--db", db});
    QCOMPARE(ing.exit_code, 0);
    const std::string log = read_file(dir.events_path());
    const int lines = static_cast<int>(std::count(log.begin(), log.end(), '\n'));
    QVERIFY2(
        ing.err.contains(
            ("events.jsonl:" + std::to_string(lines) + ": bad event line: not valid JSON").c_str()),
        ing.err.constData());
    QVERIFY(ing.out.contains("evil\\nname\\there"));
    auto list = run_qatwb({"runs", "list", "--db", db});
    QCOMPARE(list.exit_code, 0);
    QCOMPARE(list.out.count('\n'), 2);  // header + one row
    QVERIFY2(list.out.contains("evil\\nname\\there"), list.out.constData());
    auto js = run_qatwb({"runs", "list", "--db", db, "--json"});
    const auto j = nlohmann::json::parse(js.out.toStdString());
    QCOMPARE(j[0]["run_dir"].get<std::string>(), dir.path());  // JSON keeps the real name
  }

  void killed_ingest_resumes() {
    QTemporaryDir tmp;
    run::RunDir dir(tmp.filePath("run").toStdString());
    dir.create();
    {
      std::string buf;
      for (int64_t step = 0; step < 200000; ++step) {
        buf += run::to_json_line(metric(step, {{"loss", 1.0 / (1 + step)}, {"x", 1.0}}));
        buf += '\n';
      }
      append(dir.events_path(), buf);
    }
    std::string db = tmp.filePath("db.sqlite").toStdString();
    { Store s = Store::open(db); }
    // A child ingests in small transactions and is killed part way.
    pid_t child = fork();
    if (child == 0) {
      try {
        Store s = Store::open(db);
        s.ingest_run_dir(dir.path(), 64 * 1024);
      } catch (...) {
      }
      _exit(0);
    }
    int64_t progress = 0;
    QElapsedTimer t;
    t.start();
    while (t.elapsed() < 20000) {
      QThread::msleep(20);
      try {
        Store s = Store::open_existing(db);
        progress = scalar(s, "SELECT COALESCE(MAX(byte_offset), 0) FROM ingest_state");
      } catch (const Error&) {
      }
      if (progress > 0) break;
    }
    kill(child, SIGKILL);
    int status = 0;
    waitpid(child, &status, 0);
    Store s = Store::open(db);
    QCOMPARE(text(s, "PRAGMA integrity_check"), std::string("ok"));
    int64_t saved = scalar(s, "SELECT byte_offset FROM ingest_state");
    int64_t rows = scalar(s, "SELECT COUNT(*) FROM metrics");
    QVERIFY2(progress > 0, "the child made no progress");
    // What was committed is consistent: the rows are exactly the lines before the saved offset.
    std::string log = read_file(dir.events_path());
    int64_t lines_before = std::count(log.begin(), log.begin() + saved, '\n');
    QCOMPARE(rows, 2 * lines_before);
    s.ingest_run_dir(dir.path());
    QCOMPARE(scalar(s, "SELECT COUNT(*) FROM metrics"), int64_t(400000));
    QCOMPARE(s.run_summary(s.find_run("run")).run.last_step, int64_t(199999));
    QCOMPARE(s.table_counts(), counts_after_fresh_ingest(tmp, dir.path(), "ref.sqlite"));
    qInfo("killed after %lld of %zu bytes", static_cast<long long>(saved), log.size());
  }

  void million_point_series_buckets() {
    QTemporaryDir tmp;
    run::RunDir dir(tmp.filePath("big").toStdString());
    dir.create();
    const int64_t n = 1000000;
    auto value = [](int64_t step) {
      if (step % 99991 == 7) return std::nan("");
      return std::sin(step * 0.001) * 100.0 + static_cast<double>(step % 17);
    };
    {
      FILE* f = std::fopen(dir.events_path().c_str(), "wb");
      QVERIFY(f);
      for (int64_t step = 0; step < n; ++step) {
        double v = value(step);
        if (std::isnan(v))
          std::fprintf(f,
                       "{\"v\":1,\"type\":\"metric\",\"time\":%lld,\"step\":%lld,"
                       "\"values\":{\"loss\":\"nan\"}}\n",
                       static_cast<long long>(step), static_cast<long long>(step));
        else
          std::fprintf(f,
                       "{\"v\":1,\"type\":\"metric\",\"time\":%lld,\"step\":%lld,"
                       "\"values\":{\"loss\":%.17g}}\n",
                       static_cast<long long>(step), static_cast<long long>(step), v);
      }
      std::fclose(f);
    }
    // A second key and run so that the query must filter.
    run::RunDir other(tmp.filePath("other").toStdString());
    write_run(other, "o", "p");
    Store s = Store::open(tmp.filePath("db.sqlite").toStdString());
    QElapsedTimer t;
    t.start();
    QCOMPARE(s.ingest_run_dir(dir.path()), n);
    qInfo("ingested 1M lines in %lld ms", static_cast<long long>(t.elapsed()));
    s.ingest_run_dir(other.path());
    int64_t id = s.find_run("big");

    t.restart();
    auto buckets = s.series(id, "loss", 1000);
    qint64 ms = t.elapsed();
    qInfo("1M-point series in 1000 buckets: %lld ms", static_cast<long long>(ms));
    QVERIFY2(ms < 3000, "bucketed query too slow");
    QCOMPARE(buckets.size(), size_t(1000));
    for (size_t b = 0; b < buckets.size(); ++b) {
      int64_t first = static_cast<int64_t>(b) * 1000, last = first + 999;
      double mn = INFINITY, mx = -INFINITY;
      for (int64_t st = first; st <= last; ++st) {
        double v = value(st);
        if (std::isnan(v)) continue;
        mn = std::min(mn, v);
        mx = std::max(mx, v);
      }
      const auto& k = buckets[b];
      QCOMPARE(k.step_first, first);
      QCOMPARE(k.step_last, last);
      QCOMPARE(k.count, int64_t(1000));
      QCOMPARE(k.min, mn);
      QCOMPARE(k.max, mx);
      double lv = value(last);
      QVERIFY(std::isnan(lv) ? std::isnan(k.last) : k.last == lv);
    }
    // A step range, buckets that do not divide it, and a bucket whose last value is NaN.
    auto part = s.series(id, "loss", 7, 99990, 100009);
    QCOMPARE(part.size(), size_t(7));
    QCOMPARE(part.front().step_first, int64_t(99990));
    QCOMPARE(part.back().step_last, int64_t(100009));
    int64_t count = 0;
    for (const auto& k : part) count += k.count;
    QCOMPARE(count, int64_t(20));
    auto nan_bucket = s.series(id, "loss", 1, 99998, 99998);
    QCOMPARE(nan_bucket.size(), size_t(1));
    QVERIFY(std::isnan(nan_bucket[0].last) && std::isnan(nan_bucket[0].min));
    QVERIFY(s.series(id, "no-such-key", 10).empty());
    QVERIFY(s.series(id, "loss", 10, 2000000, 3000000).empty());
    // The other run's series is untouched by the big one.
    auto small = s.series(s.find_run("o"), "loss", 100);
    QCOMPARE(small.size(), size_t(10));
    QCOMPARE(small.back().last, 1.0);
  }

  void cli_runs_list_show_ingest() {
    using test::run_qatwb;
    QTemporaryDir tmp;
    run::RunDir a(tmp.filePath("runs/proj-a/20240101-000000").toStdString());
    run::RunDir b(tmp.filePath("runs/proj-b/20240102-000000").toStdString());
    write_run(a, "alpha", "proj-a");
    write_run(b, "beta", "proj-b");
    QString db = tmp.filePath("cli.sqlite");
    auto missing = run_qatwb({"runs", "list", "--db", db});
    QCOMPARE(missing.exit_code, 1);
    QVERIFY2(missing.err.contains(db.toUtf8()), missing.err.constData());

    auto ing = run_qatwb({"runs", "ingest", QString::fromStdString(a.path()),
                          QString::fromStdString(b.path()), "--db", db});
    QVERIFY2(ing.exit_code == 0, ing.err.constData());
    QVERIFY2(ing.out.contains(": 16 new lines"), ing.out.constData());
    auto again = run_qatwb({"runs", "ingest", QString::fromStdString(a.path()), "--db", db});
    QVERIFY(again.out.contains(": 0 new lines"));
    auto bad = run_qatwb({"runs", "ingest", tmp.filePath("nope"), "--db", db});
    QCOMPARE(bad.exit_code, 1);
    QVERIFY(bad.err.contains("not a run directory"));

    auto list = run_qatwb({"runs", "list", "--db", db, "--json"});
    QCOMPARE(list.exit_code, 0);
    auto j = nlohmann::json::parse(list.out.toStdString());
    QCOMPARE(j.size(), size_t(2));
    auto only_a = run_qatwb({"runs", "list", "--db", db, "--project", "proj-a", "--json"});
    auto ja = nlohmann::json::parse(only_a.out.toStdString());
    QCOMPARE(ja.size(), size_t(1));
    QCOMPARE(ja[0]["name"].get<std::string>(), std::string("alpha"));
    QCOMPARE(ja[0]["status"].get<std::string>(), std::string("finished"));
    auto table = run_qatwb({"runs", "list", "--db", db});
    QVERIFY(table.out.contains("alpha") && table.out.contains("beta") &&
            table.out.contains("finished"));

    auto show = run_qatwb({"runs", "show", "alpha", "--db", db, "--json"});
    QVERIFY2(show.exit_code == 0, show.err.constData());
    auto js = nlohmann::json::parse(show.out.toStdString());
    QCOMPARE(js["metrics"]["loss"].get<double>(), 1.0);
    QCOMPARE(js["eval"]["ppl"].get<double>(), 20.0);
    QCOMPARE(js["eval"]["post_quant_ppl"].get<std::string>(), std::string("nan"));
    QCOMPARE(js["params"]["quant.bits"].get<std::string>(), std::string("1.58"));
    auto by_dir = run_qatwb({"runs", "show", QString::fromStdString(b.path()), "--db", db});
    QCOMPARE(by_dir.exit_code, 0);
    QVERIFY(by_dir.out.contains("beta") && by_dir.out.contains("ppl"));
    auto unknown = run_qatwb({"runs", "show", "gamma", "--db", db});
    QCOMPARE(unknown.exit_code, 1);
    QVERIFY(unknown.err.contains("no run named 'gamma'"));

    // The default database comes from $QATWB_DB.
    QProcess p;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert("QATWB_DB", db);
    p.setProcessEnvironment(env);
    p.start(test::qatwb_bin(), {"runs", "list", "--json"});
    QVERIFY(p.waitForFinished(60000));
    QCOMPARE(p.exitCode(), 0);
    QCOMPARE(nlohmann::json::parse(p.readAllStandardOutput().toStdString()).size(), size_t(2));
  }
};

QTEST_GUILESS_MAIN(TestStore)
#include "tst_store.moc"
