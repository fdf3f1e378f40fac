// Tags and notes on runs (store schema v3): the v2 -> v3 migration of a real v2 database (made by
// the qatwb of schema v2, tests/fixtures/store/README.md), the store API (round trip, bad tags,
// kept across re-ingest), and `qatwb runs tag/note/list/show` through the real binary.
#include <sqlite3.h>

#include <QFile>
#include <QTemporaryDir>
#include <QtTest>

#include <nlohmann/json.hpp>
#include <thread>

#include "core/run/event_log.h"
#include "core/run/run_dir.h"
#include "core/store/store.h"
#include "core/util/error.h"
#include "tests/common/test_env.h"

using namespace qatwb;
using qatwb::store::Store;

namespace {

int64_t scalar_of(const std::string& db, const char* sql) {
  sqlite3* h = nullptr;
  if (sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK)
    qFatal("cannot open %s", db.c_str());
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(h, sql, -1, &st, nullptr) != SQLITE_OK) qFatal("bad sql %s", sql);
  const int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
  sqlite3_finalize(st);
  sqlite3_close(h);
  return v;
}

// A finished run with a start, three metric steps and an end.
void write_run(const run::RunDir& dir, const std::string& name, const std::string& project) {
  dir.create();
  run::EventWriter w(dir.events_path(), run::FsyncPolicy::Never);
  run::Event s;
  s.type = run::EventType::Start;
  s.time = 1000;
  s.start = {name, project, "{}", "box", 7, "cpu", 1};
  w.write(s);
  for (int64_t step = 0; step < 3; ++step) {
    run::Event m;
    m.type = run::EventType::Metric;
    m.time = 1001.0 + double(step);
    m.step = step;
    m.values = {{"loss", 3.0 - double(step)}};
    w.write(m);
  }
  run::Event end;
  end.type = run::EventType::End;
  end.time = 1010;
  end.step = 2;
  end.status = "finished";
  end.reason = "reached train.steps";
  w.write(end);
}

std::vector<std::string> strings(std::initializer_list<const char*> list) {
  return {list.begin(), list.end()};
}

// A store in `tmp` holding one run "alpha" of project "p", written at `a`.
Store store_with_run(const QTemporaryDir& tmp, const run::RunDir& a) {
  write_run(a, "alpha", "p");
  Store s = Store::open(tmp.filePath("t.sqlite").toStdString());
  s.ingest_run_dir(a.path());
  return s;
}

}  // namespace

class TestStoreTags : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void migrates_a_real_v2_database() {
    QTemporaryDir tmp;
    const std::string db = tmp.filePath("v2.sqlite").toStdString();
    QVERIFY(
        QFile::copy(test::fixture("store/v2-two-copied-runs.sqlite"), QString::fromStdString(db)));
    QFile::setPermissions(QString::fromStdString(db), QFile::ReadOwner | QFile::WriteOwner);
    QCOMPARE(scalar_of(db, "PRAGMA user_version"), int64_t(2));
    QCOMPARE(scalar_of(db, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'run_tags'"),
             int64_t(0));
    const int64_t metrics = scalar_of(db, "SELECT COUNT(*) FROM metrics");
    QVERIFY(metrics > 0);
    {
      Store s = Store::open_existing(db);
      auto runs = s.list_runs();
      QCOMPARE(runs.size(), size_t(2));  // two copies of run "b" in two folders
      for (const auto& r : runs) {
        QCOMPARE(r.name, std::string("b"));
        QCOMPARE(r.status, std::string("finished"));
        QVERIFY(r.tags.empty());
        QCOMPARE(r.note, std::string());
      }
      QCOMPARE(s.table_counts().at("metrics"), metrics);
      QCOMPARE(s.table_counts().at("run_tags"), int64_t(0));
      // Tags tell the copies apart.
      s.add_tags(runs[0].id, strings({"lab-b"}));
      s.add_tags(runs[1].id, strings({"lab-a", "baseline"}));
      s.set_note(runs[1].id, "the first copy");
    }
    QCOMPARE(scalar_of(db, "PRAGMA user_version"), int64_t(store::kSchemaVersion));
    QCOMPARE(int64_t(store::kSchemaVersion), int64_t(3));
    Store again = Store::open_existing(db);  // a v3 file opens as it is
    auto runs = again.list_runs();
    QCOMPARE(runs.size(), size_t(2));
    QCOMPARE(runs[0].tags, strings({"lab-b"}));
    QCOMPARE(runs[1].tags, strings({"baseline", "lab-a"}));
    QCOMPARE(runs[1].note, std::string("the first copy"));
    QCOMPARE(again.run_summary(runs[1].id).run.tags, strings({"baseline", "lab-a"}));
  }

  void concurrent_opens_migrate_once() {
    // A GUI and a worker opening the same v2 database at once: each finds it migrated or
    // migrates it, neither fails on a half-done migration ("duplicate column name: note").
    for (int round = 0; round < 5; ++round) {
      QTemporaryDir tmp;
      const QString db = tmp.filePath("v2.sqlite");
      QVERIFY(QFile::copy(test::fixture("store/v2-two-copied-runs.sqlite"), db));
      QFile::setPermissions(db, QFile::ReadOwner | QFile::WriteOwner);
      std::vector<std::string> errors(6);
      std::vector<std::thread> threads;
      for (size_t i = 0; i < errors.size(); ++i)
        threads.emplace_back([&, i] {
          try {
            Store s = Store::open_existing(db.toStdString());
            if (s.list_runs().size() != 2) errors[i] = "runs lost";
          } catch (const std::exception& e) {
            errors[i] = e.what();
          }
        });
      for (auto& t : threads) t.join();
      for (const auto& e : errors) QVERIFY2(e.empty(), e.c_str());
      QCOMPARE(scalar_of(db.toStdString(), "PRAGMA user_version"), int64_t(3));
    }
  }

  void tags_and_notes_round_trip() {
    QTemporaryDir tmp;
    const run::RunDir a(tmp.filePath("runs/p/alpha").toStdString());
    Store s = store_with_run(tmp, a);
    const int64_t id = s.find_run("alpha");
    s.add_tags(id, strings({"w2", "final", "w2"}));
    QCOMPARE(s.tags(id), strings({"final", "w2"}));
    s.add_tags(id, strings({"lr=2e-4"}));
    QCOMPARE(s.tags(id), strings({"final", "lr=2e-4", "w2"}));
    s.remove_tags(id, strings({"final", "not-there"}));
    QCOMPARE(s.tags(id), strings({"lr=2e-4", "w2"}));
    s.set_tags(id, strings({"only"}));
    QCOMPARE(s.tags(id), strings({"only"}));
    s.set_note(id, "diverged at step 40;\nrestarted with lr 1e-4");
    QCOMPARE(s.note(id), std::string("diverged at step 40;\nrestarted with lr 1e-4"));
    QCOMPARE(s.run_info(id)->note, s.note(id));
    QCOMPARE(s.run_info(id)->tags, strings({"only"}));
    // Re-ingesting (new lines, or the same run again) never touches what a person wrote.
    write_run(a, "alpha", "p");
    s.ingest_run_dir(a.path());
    QCOMPARE(s.tags(id), strings({"only"}));
    QCOMPARE(s.note(id), std::string("diverged at step 40;\nrestarted with lr 1e-4"));
    s.set_note(id, "");
    QCOMPARE(s.note(id), std::string());
    s.set_tags(id, {});
    QVERIFY(s.tags(id).empty());
    QCOMPARE(store::split_tags(" a, b,,c\td "), strings({"a", "b", "c", "d"}));
  }

  void bad_tags_are_clear_errors() {
    QTemporaryDir tmp;
    const run::RunDir a(tmp.filePath("runs/p/alpha").toStdString());
    Store s = store_with_run(tmp, a);
    const int64_t id = s.find_run("alpha");
    s.add_tags(id, strings({"kept"}));
    const QList<QPair<std::string, QString>> bad = {{"two words", "a space"},
                                                    {"a,b", "a comma"},
                                                    {"", "empty"},
                                                    {"tab\there", "0x09"},
                                                    {std::string(65, 'x'), "longer than 64"}};
    for (const auto& [tag, needle] : bad) {
      try {
        s.add_tags(id, {"fine", tag});
        QFAIL(("accepted tag '" + tag + "'").c_str());
      } catch (const Error& e) {
        QVERIFY2(QString(e.what()).contains(needle), e.what());
      }
    }
    QCOMPARE(s.tags(id), strings({"kept"}));  // nothing written by a refused call
    try {
      s.add_tags(999, strings({"x"}));
      QFAIL("tagged an unknown run");
    } catch (const Error& e) {
      QVERIFY2(QString(e.what()).contains("no run with id 999"), e.what());
    }
  }

  void cli_tag_note_list_show() {
    using test::run_qatwb;
    QTemporaryDir tmp;
    run::RunDir a(tmp.filePath("lab-a/runs/p/alpha").toStdString());
    run::RunDir b(tmp.filePath("lab-b/runs/p/alpha").toStdString());
    write_run(a, "alpha", "p");
    write_run(b, "alpha", "p");  // the same run in a copied folder
    const QString db = tmp.filePath("cli.sqlite");
    auto ing = run_qatwb({"runs", "ingest", QString::fromStdString(a.path()),
                          QString::fromStdString(b.path()), "--db", db});
    QVERIFY2(ing.exit_code == 0, ing.err.constData());
    const QString dir_a = QString::fromStdString(a.path());
    auto tag = run_qatwb({"runs", "tag", dir_a, "copy-a", "w2,final", "--db", db});
    QVERIFY2(tag.exit_code == 0, tag.err.constData());
    QVERIFY2(tag.out.contains("copy-a,final,w2"), tag.out.constData());
    auto tag_b = run_qatwb({"runs", "tag", QString::fromStdString(b.path()), "copy-b", "--db", db});
    QVERIFY2(tag_b.exit_code == 0, tag_b.err.constData());
    auto note = run_qatwb({"runs", "note", dir_a, "from the lab-a copy", "--db", db});
    QVERIFY2(note.exit_code == 0, note.err.constData());
    auto removed = run_qatwb({"runs", "tag", dir_a, "final", "--remove", "--db", db, "--json"});
    QVERIFY2(removed.exit_code == 0, removed.err.constData());
    QCOMPARE(nlohmann::json::parse(removed.out.toStdString())["tags"],
             nlohmann::json({"copy-a", "w2"}));

    // The store sees what the CLI wrote.
    {
      Store s = Store::open_existing(db.toStdString());
      const int64_t id = s.find_run(a.path());
      QCOMPARE(s.tags(id), strings({"copy-a", "w2"}));
      QCOMPARE(s.note(id), std::string("from the lab-a copy"));
    }
    auto list = run_qatwb({"runs", "list", "--db", db, "--json"});
    QVERIFY2(list.exit_code == 0, list.err.constData());
    auto j = nlohmann::json::parse(list.out.toStdString());
    QCOMPARE(j.size(), size_t(2));
    std::map<std::string, nlohmann::json> by_dir;
    for (const auto& r : j) by_dir[r["run_dir"].get<std::string>()] = r;
    QCOMPARE(by_dir[a.path()]["tags"], nlohmann::json({"copy-a", "w2"}));
    QCOMPARE(by_dir[a.path()]["note"].get<std::string>(), std::string("from the lab-a copy"));
    QCOMPARE(by_dir[b.path()]["tags"], nlohmann::json({"copy-b"}));
    auto table = run_qatwb({"runs", "list", "--db", db});
    QVERIFY2(table.out.contains("TAGS") && table.out.contains("copy-a,w2") &&
                 table.out.contains("copy-b"),
             table.out.constData());
    auto show = run_qatwb({"runs", "show", dir_a, "--db", db});
    QVERIFY2(show.out.contains("tags:     copy-a,w2") &&
                 show.out.contains("note:     from the lab-a copy"),
             show.out.constData());

    // Bad input: one clear line on stderr, exit 1, nothing changed.
    auto bad = run_qatwb({"runs", "tag", dir_a, QString(65, 'x'), "--db", db});
    QCOMPARE(bad.exit_code, 1);
    QVERIFY2(bad.err.contains("longer than 64"), bad.err.constData());
    auto bad2 = run_qatwb({"runs", "tag", dir_a, "ok", "--db", db, "--remove", "--replace"});
    QCOMPARE(bad2.exit_code, 1);
    QVERIFY2(bad2.err.contains("exclude each other"), bad2.err.constData());
    auto ambiguous = run_qatwb({"runs", "tag", "alpha", "x", "--db", db});
    QCOMPARE(ambiguous.exit_code, 1);
    QVERIFY2(ambiguous.err.contains("ambiguous"), ambiguous.err.constData());
    auto cleared = run_qatwb({"runs", "note", dir_a, "", "--db", db});
    QVERIFY2(cleared.exit_code == 0, cleared.err.constData());
    auto replaced = run_qatwb({"runs", "tag", dir_a, "--replace", "--db", db, "--json"});
    QVERIFY2(replaced.exit_code == 0, replaced.err.constData());
    Store s = Store::open_existing(db.toStdString());
    QVERIFY(s.tags(s.find_run(a.path())).empty());
    QCOMPARE(s.note(s.find_run(a.path())), std::string());
  }
};

QTEST_GUILESS_MAIN(TestStoreTags)
#include "tst_store_tags.moc"
