// The event schema: round trip of every event type, NaN/Inf, garbage and truncated lines, the
// writer's append/fsync behaviour, and the run directory layout and lock.
#include <sys/wait.h>
#include <unistd.h>

#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <QtTest>
#include <cmath>
#include <nlohmann/json.hpp>

#include "core/run/event_log.h"
#include "core/run/run_dir.h"
#include "core/util/error.h"

using namespace qatwb::run;

namespace {

QByteArray read_all(const std::string& path) {
  QFile f(QString::fromStdString(path));
  if (!f.open(QIODevice::ReadOnly)) return {};
  return f.readAll();
}

void append(const std::string& path, const QByteArray& data) {
  QFile f(QString::fromStdString(path));
  if (!f.open(QIODevice::Append)) qFatal("cannot append");
  f.write(data);
}

Event round_trip(const Event& e) {
  std::string line = to_json_line(e);
  if (line.find('\n') != std::string::npos) qFatal("newline inside an event line");
  std::string error;
  auto back = parse_event_line(line, &error);
  if (!back) qFatal("round trip failed: %s: %s", error.c_str(), line.c_str());
  return *back;
}

}  // namespace

class TestEventLog : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void every_type_round_trips() {
    Event s;
    s.type = EventType::Start;
    s.time = 1718000000.125;
    s.start = {"run-1",  "proj", R"({"quant":{"bits":2.0},"name":"proj"})", "host1", 4242,
               "cuda:0", 16};
    Event b = round_trip(s);
    QVERIFY(b.type == EventType::Start);
    QCOMPARE(b.time, 1718000000.125);
    QVERIFY(!b.step);
    QCOMPARE(b.start.run, std::string("run-1"));
    QCOMPARE(b.start.project, std::string("proj"));
    QCOMPARE(nlohmann::json::parse(b.start.config_json)["quant"]["bits"].get<double>(), 2.0);
    QCOMPARE(b.start.host, std::string("host1"));
    QCOMPARE(b.start.pid, int64_t(4242));
    QCOMPARE(b.start.device, std::string("cuda:0"));
    QCOMPARE(b.start.threads, 16);

    Event m;
    m.type = EventType::Metric;
    m.time = 1.5;
    m.step = 7;
    m.values = {{"loss", 2.25}, {"lr", 1e-4}, {"grad_norm", 0.1 + 0.2}};
    Event mb = round_trip(m);
    QVERIFY(mb.type == EventType::Metric);
    QCOMPARE(*mb.step, int64_t(7));
    QCOMPARE(mb.values, m.values);  // exact doubles

    Event ev = m;
    ev.type = EventType::Eval;
    ev.values = {{"ppl", 12.5}};
    QCOMPARE(round_trip(ev).values, ev.values);
    QVERIFY(round_trip(ev).type == EventType::Eval);

    Event c;
    c.type = EventType::Checkpoint;
    c.time = 2;
    c.step = 100;
    c.path = "/runs/p/x/checkpoints/step-00000100";
    QCOMPARE(round_trip(c).path, c.path);
    QCOMPARE(*round_trip(c).step, int64_t(100));

    Event w;
    w.type = EventType::Warning;
    w.time = 3;
    w.message = "data.jsonl:17: bad line \"quoted\"\nnext";
    w.code = "bad_line";
    QCOMPARE(round_trip(w).message, w.message);
    QCOMPARE(round_trip(w).code, w.code);
    QVERIFY(!round_trip(w).step);

    Event e;
    e.type = EventType::End;
    e.time = 4;
    e.step = 100;
    e.status = "finished";
    e.reason = "done";
    e.values = {{"ppl", 9.75}};
    Event eb = round_trip(e);
    QCOMPARE(eb.status, std::string("finished"));
    QCOMPARE(eb.reason, std::string("done"));
    QCOMPARE(eb.values, e.values);

    // The line carries the version and the type names of the schema.
    auto j = nlohmann::json::parse(to_json_line(m));
    QCOMPARE(j["v"].get<int>(), 1);
    QCOMPARE(j["type"].get<std::string>(), std::string("metric"));
    QCOMPARE(j["step"].get<int>(), 7);
  }

  void nan_and_inf_are_strings() {
    Event m;
    m.type = EventType::Metric;
    m.time = 1;
    m.step = 1;
    m.values = {{"a", std::nan("")}, {"b", INFINITY}, {"c", -INFINITY}, {"d", 1.0}};
    std::string line = to_json_line(m);
    QVERIFY2(line.find(R"("a":"nan")") != std::string::npos, line.c_str());
    QVERIFY(line.find(R"("b":"inf")") != std::string::npos);
    QVERIFY(line.find(R"("c":"-inf")") != std::string::npos);
    Event b = round_trip(m);
    QVERIFY(std::isnan(b.values["a"]));
    QVERIFY(std::isinf(b.values["b"]) && b.values["b"] > 0);
    QVERIFY(std::isinf(b.values["c"]) && b.values["c"] < 0);
    // null is read as NaN too.
    auto n = parse_event_line(R"({"v":1,"type":"metric","time":1,"step":2,"values":{"x":null}})");
    QVERIFY(n && std::isnan(n->values["x"]));
  }

  void garbage_is_an_error_not_a_crash() {
    const char* bad[] = {
        "",
        "not json",
        "{\"v\":1,\"type\":\"metric\",\"time\":1,\"step\":2,\"values\":{\"x\":1}",  // truncated
        "[1,2,3]",
        "{\"type\":\"metric\",\"time\":1,\"step\":2,\"values\":{}}",          // no v
        "{\"v\":2,\"type\":\"metric\",\"time\":1,\"step\":2,\"values\":{}}",  // future v
        "{\"v\":1,\"type\":\"bogus\",\"time\":1}",
        "{\"v\":1,\"type\":\"metric\",\"step\":2,\"values\":{}}",         // no time
        "{\"v\":1,\"type\":\"metric\",\"time\":1,\"values\":{\"x\":1}}",  // no step
        "{\"v\":1,\"type\":\"metric\",\"time\":1,\"step\":\"two\",\"values\":{}}",
        "{\"v\":1,\"type\":\"metric\",\"time\":1,\"step\":2,\"values\":{\"x\":\"abc\"}}",
        "{\"v\":1,\"type\":\"metric\",\"time\":1,\"step\":2,\"values\":[1]}",
        "{\"v\":1,\"type\":\"end\",\"time\":1,\"status\":\"exploded\"}",
        "{\"v\":1,\"type\":\"checkpoint\",\"time\":1,\"step\":3}",
        "{\"v\":1,\"type\":\"warning\",\"time\":1,\"message\":5}",
        "{\"v\":1,\"type\":\"start\",\"time\":1,\"config\":[1]}",
        "\xff\xfe\x00garbage",
    };
    for (const char* line : bad) {
      std::string error;
      auto e = parse_event_line(line, &error);
      QVERIFY2(!e, line);
      QVERIFY2(!error.empty(), line);
    }
    std::string error;
    QVERIFY(!parse_event_line("{\"v\":2,\"type\":\"end\"}", &error));
    QVERIFY2(error.find("version") != std::string::npos, error.c_str());
    // Extra fields are ignored (forward compatible); a trailing \r is tolerated.
    auto ok = parse_event_line(
        "{\"v\":1,\"type\":\"metric\",\"time\":1,\"step\":2,\"values\":{},\"rank\":0}\r");
    QVERIFY(ok && *ok->step == 2);
    // The writer refuses events that break the schema.
    Event e;
    e.type = EventType::End;
    e.status = "exploded";
    QVERIFY_THROWS_EXCEPTION(qatwb::Error, to_json_line(e));
    Event m;
    m.type = EventType::Metric;
    QVERIFY_THROWS_EXCEPTION(qatwb::Error, to_json_line(m));
  }

  void writer_appends_whole_lines() {
    QTemporaryDir dir;
    std::string path = dir.filePath("events.jsonl").toStdString();
    {
      EventWriter w(path, FsyncPolicy::Always);
      w.start({"r", "p", "{}", "h", 1, "cpu", 2});
      w.metric(1, {{"loss", 3.0}});
      w.eval(1, {{"ppl", 20.0}});
      w.checkpoint(1, "ck");
      w.warning(std::nullopt, "careful", "w1");
      w.end("finished", "ok", {{"ppl", 19.0}}, 1);
    }
    QList<QByteArray> lines = read_all(path).split('\n');
    QCOMPARE(lines.size(), 7);
    QVERIFY(lines.last().isEmpty());
    const char* types[] = {"start", "metric", "eval", "checkpoint", "warning", "end"};
    double t0 = EventWriter::now();
    for (int i = 0; i < 6; ++i) {
      auto e = parse_event_line(lines[i].toStdString());
      QVERIFY(e);
      QCOMPARE(std::string(to_string(e->type)), std::string(types[i]));
      QVERIFY(e->time > t0 - 60 && e->time <= t0);
    }
    QVERIFY_THROWS_EXCEPTION(qatwb::Error, EventWriter(path).end("bogus", ""));
    // A crashed writer left half a line: the next writer starts on a new line.
    append(path, "{\"v\":1,\"type\":\"met");
    {
      EventWriter w(path);
      w.metric(2, {{"loss", 2.0}});
    }
    lines = read_all(path).split('\n');
    QCOMPARE(lines.size(), 9);
    QVERIFY(!parse_event_line(lines[6].toStdString()));
    QCOMPARE(*parse_event_line(lines[7].toStdString())->step, int64_t(2));
  }

  void complete_lines_only() {
    QTemporaryDir dir;
    std::string path = dir.filePath("events.jsonl").toStdString();
    std::vector<LogLine> out;
    QCOMPARE(read_complete_lines(path, 0, out), int64_t(0));  // no file yet
    QVERIFY(out.empty());
    append(path, "first\nsecond\nthi");
    int64_t next = read_complete_lines(path, 0, out);
    QCOMPARE(next, int64_t(13));
    QCOMPARE(out.size(), size_t(2));
    QCOMPARE(out[0].offset, int64_t(0));
    QCOMPARE(out[0].text, std::string("first"));
    QCOMPARE(out[1].offset, int64_t(6));
    QCOMPARE(out[1].text, std::string("second"));
    out.clear();
    QCOMPARE(read_complete_lines(path, next, out), next);  // the partial line waits
    QVERIFY(out.empty());
    append(path, "rd\n\nfifth\n");
    next = read_complete_lines(path, next, out);
    QCOMPARE(next, int64_t(26));
    QCOMPARE(out.size(), size_t(3));
    QCOMPARE(out[0].text, std::string("third"));
    QCOMPARE(out[0].offset, int64_t(13));
    QCOMPARE(out[1].text, std::string(""));
    QCOMPARE(out[2].text, std::string("fifth"));
    // Small batches still make progress, one whole line at a time at least.
    std::vector<LogLine> small;
    int64_t off = 0, rounds = 0;
    for (int64_t n; (n = read_complete_lines(path, off, small, 1)) != off; off = n) ++rounds;
    QCOMPARE(off, int64_t(26));
    QCOMPARE(small.size(), size_t(5));
    QVERIFY(rounds >= 1);
  }

  void run_dir_layout() {
    QTemporaryDir dir;
    RunDir r(dir.filePath("runs/p/x/").toStdString());
    QCOMPARE(r.path(), dir.filePath("runs/p/x").toStdString());
    QCOMPARE(r.name(), std::string("x"));
    QCOMPARE(r.config_path(), r.path() + "/config.yaml");
    QCOMPARE(r.events_path(), r.path() + "/events.jsonl");
    QCOMPARE(r.model_dir(), r.path() + "/model");
    QCOMPARE(r.data_dir(), r.path() + "/data");
    QCOMPARE(r.exports_dir(), r.path() + "/exports");
    QCOMPARE(r.checkpoint_path(100), r.path() + "/checkpoints/step-00000100");
    QVERIFY(!r.looks_like_run());
    r.create();
    QVERIFY(QDir(QString::fromStdString(r.checkpoints_dir())).exists());
    QDir().mkpath(QString::fromStdString(r.checkpoint_path(20)));
    QDir().mkpath(QString::fromStdString(r.checkpoint_path(3)));
    auto cks = r.checkpoints();
    QCOMPARE(cks.size(), size_t(2));
    QCOMPARE(cks[0].first, int64_t(3));
    QCOMPARE(cks[1].first, int64_t(20));
    { EventWriter w(r.events_path()); }
    QVERIFY(r.looks_like_run());
  }

  void default_names_are_unique() {
    QTemporaryDir dir;
    std::tm tm{};
    tm.tm_year = 124;
    tm.tm_mon = 5;
    tm.tm_mday = 7;
    tm.tm_hour = 8;
    tm.tm_min = 9;
    tm.tm_sec = 10;
    tm.tm_isdst = -1;
    std::time_t t = std::mktime(&tm);
    std::string root = dir.filePath("runs").toStdString();
    RunDir a = RunDir::create_new(root, "proj", t);
    RunDir b = RunDir::create_new(root, "proj", t);
    RunDir c = RunDir::create_new(root, "proj", t);
    QCOMPARE(a.path(), root + "/proj/20240607-080910");
    QCOMPARE(b.path(), root + "/proj/20240607-080910-1");
    QCOMPARE(c.path(), root + "/proj/20240607-080910-2");
    QVERIFY(QDir(QString::fromStdString(a.checkpoints_dir())).exists());
    QVERIFY_THROWS_EXCEPTION(qatwb::Error, RunDir::create_new(root, "../evil", t));
  }

  void lock_excludes_a_second_holder() {
    QTemporaryDir dir;
    RunDir r(dir.filePath("run").toStdString());
    r.create();
    {
      RunLock lock(r);
      try {
        RunLock second(r);
        QFAIL("second lock in the same process succeeded");
      } catch (const qatwb::Error& e) {
        QVERIFY2(std::string(e.what()).find("in use") != std::string::npos, e.what());
        QVERIFY(std::string(e.what()).find(std::to_string(getpid())) != std::string::npos);
      }
      // Another process cannot take it either.
      pid_t child = fork();
      if (child == 0) {
        try {
          RunLock other(r);
          _exit(0);
        } catch (...) {
          _exit(3);
        }
      }
      int status = 0;
      waitpid(child, &status, 0);
      QVERIFY(WIFEXITED(status));
      QCOMPARE(WEXITSTATUS(status), 3);
    }
    RunLock again(r);  // released with the first holder
    RunLock moved = std::move(again);
  }
};

QTEST_GUILESS_MAIN(TestEventLog)
#include "tst_event_log.moc"
