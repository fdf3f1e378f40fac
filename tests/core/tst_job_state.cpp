// The job state machine (classify, scan_events) and the jobs registry, without processes.
#include <QTemporaryDir>
#include <QtTest>
#include <fstream>

#include "core/jobs/job.h"
#include "core/jobs/job_registry.h"
#include "core/util/error.h"

using namespace qatwb::jobs;

namespace {

ProcessObservation alive() { return {true, std::nullopt}; }
ProcessObservation exited(std::optional<int> rc) { return {false, rc}; }

void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// (No raw string literals here: moc's tokenizer trips over them.)
const char* kStart =
    "{\"v\":1,\"type\":\"start\",\"time\":1.0,\"run\":\"r\",\"project\":\"p\","
    "\"config\":{},\"host\":\"h\",\"pid\":1,\"device\":\"cpu\",\"threads\":1}\n";

std::string metric(int step) {
  return "{\"v\":1,\"type\":\"metric\",\"time\":2.0,\"step\":" + std::to_string(step) +
         ",\"values\":{\"loss\":1.5}}\n";
}

}  // namespace

class TestJobState : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void names_round_trip() {
    for (JobState s : {JobState::Queued, JobState::Starting, JobState::Running, JobState::Succeeded,
                       JobState::Failed, JobState::Cancelled, JobState::Lost}) {
      QCOMPARE(qatwb::parse_enum_or_throw<JobState>(to_string(s), "job state"), s);
    }
    QVERIFY_THROWS_EXCEPTION(qatwb::Error,
                             qatwb::parse_enum_or_throw<JobState>("zombie", "job state"));
    QVERIFY(!is_terminal(JobState::Running));
    QVERIFY(!is_terminal(JobState::Queued));
    QVERIFY(is_terminal(JobState::Lost));
    QVERIFY(is_terminal(JobState::Cancelled));
  }

  void classify_live_process() {
    Job j;
    QCOMPARE(classify(j, alive()), JobState::Starting);
    j.saw_start = true;
    QCOMPARE(classify(j, alive()), JobState::Running);
    j.end_status = "finished";  // end written but the process is still exiting
    QCOMPARE(classify(j, alive()), JobState::Running);
  }

  void classify_end_events() {
    Job j;
    j.saw_start = true;
    j.end_status = "finished";
    j.end_reason = "done";
    QCOMPARE(classify(j, exited(0)), JobState::Succeeded);
    QCOMPARE(j.reason, std::string("done"));
    j.end_status = "failed";
    QCOMPARE(classify(j, exited(1)), JobState::Failed);
    j.end_status = "stopped";
    QCOMPARE(classify(j, exited(130)), JobState::Cancelled);
    // The end event wins over a missing exit status (ssh host rebooted after the run).
    QCOMPARE(classify(j, exited(std::nullopt)), JobState::Cancelled);
  }

  void classify_without_end_event() {
    Job j;
    j.saw_start = true;
    QCOMPARE(classify(j, exited(3)), JobState::Failed);
    QVERIFY(j.reason.find("code 3") != std::string::npos);
    QCOMPARE(classify(j, exited(134)), JobState::Failed);
    QVERIFY2(j.reason.find("SIGABRT") != std::string::npos, j.reason.c_str());
    QCOMPARE(classify(j, exited(137)), JobState::Lost);
    QVERIFY(j.reason.find("SIGKILL") != std::string::npos);
    QCOMPARE(classify(j, exited(std::nullopt)), JobState::Lost);
    QCOMPARE(classify(j, exited(0)), JobState::Succeeded);
    j.cancel_time = 100;
    QCOMPARE(classify(j, exited(std::nullopt)), JobState::Cancelled);
    j.kill_sent = true;
    QCOMPARE(classify(j, exited(137)), JobState::Cancelled);
    QVERIFY(j.reason.find("SIGKILL") != std::string::npos);
  }

  void scan_events_is_incremental_and_tolerant() {
    QTemporaryDir dir;
    const std::string path = dir.filePath("events.jsonl").toStdString();
    Job j;
    scan_events(j, path);  // missing file: nothing seen
    QCOMPARE(j.events_offset, int64_t{0});
    QVERIFY(!j.saw_start);
    write_file(path, std::string(kStart) + metric(1) + "garbage {{\n" + metric(2) +
                         "{\"v\":1,\"type\":\"end\",\"time\":3.0,\"sta");
    scan_events(j, path);
    QVERIFY(j.saw_start);
    QCOMPARE(j.last_step, int64_t{3});  // steps done: metric step 2 is the third step
    QVERIFY(j.end_status.empty());      // the truncated end line is not consumed
    const int64_t before = j.events_offset;
    {
      std::ofstream out(path, std::ios::binary | std::ios::app);
      out << "tus\":\"finished\",\"reason\":\"ok\"}\n";
    }
    scan_events(j, path);
    QVERIFY(j.events_offset > before);
    QCOMPARE(j.end_status, std::string("finished"));
    QCOMPARE(j.end_reason, std::string("ok"));
    // A resumed worker's new start event clears the old end.
    {
      std::ofstream out(path, std::ios::binary | std::ios::app);
      out << kStart << metric(3);
    }
    scan_events(j, path);
    QVERIFY(j.end_status.empty());
    QCOMPARE(j.last_step, int64_t{4});
  }

  void registry_round_trip_and_concurrent_cancel() {
    QTemporaryDir dir;
    const std::string db = dir.filePath("runs.sqlite").toStdString();
    JobRegistry reg(db);
    Job j;
    j.launcher = LauncherKind::Slurm;
    j.run_dir = "/tmp/run with 'quotes'";
    j.worker_cmd = {"qatwb", "run"};
    j.slurm.partition = "gpu";
    j.slurm.extra_lines = {"--mem=8G"};
    j.exit_code = 7;
    reg.add(j);
    QVERIFY(j.id > 0);
    Job k;
    k.launcher = LauncherKind::Ssh;
    k.host = "gpu1";
    reg.add(k);
    QCOMPARE(k.id, j.id + 1);

    Job back = JobRegistry(db).get(j.id);  // a second connection, like another CLI
    QCOMPARE(back.run_dir, j.run_dir);
    QCOMPARE(back.worker_cmd, j.worker_cmd);
    QCOMPARE(back.slurm.partition, std::string("gpu"));
    QCOMPARE(back.slurm.extra_lines, j.slurm.extra_lines);
    QCOMPARE(back.exit_code.value_or(-1), 7);
    QCOMPARE(back.launcher, LauncherKind::Slurm);
    QCOMPARE(reg.list().size(), size_t{2});
    QCOMPARE(reg.list()[1].host, std::string("gpu1"));
    QVERIFY_THROWS_EXCEPTION(qatwb::Error, reg.get(999));

    // Another invocation requests a cancel while this one polls a stale copy: not lost.
    Job stale = reg.get(j.id);
    Job other = JobRegistry(db).get(j.id);
    other.cancel_time = 123;
    other.grace_s = 5;
    JobRegistry(db).update(other);
    stale.state = JobState::Running;
    reg.update(stale);
    Job merged = reg.get(j.id);
    QCOMPARE(merged.cancel_time, 123.0);
    QCOMPARE(merged.grace_s, 5.0);
    QCOMPARE(merged.state, JobState::Running);

    // A poll of an older attempt never overwrites a resumed job.
    Job old_attempt = reg.get(j.id);
    Job resumed = reg.get(j.id);
    resumed.attempts = 2;
    resumed.state = JobState::Starting;
    reg.update(resumed);
    old_attempt.state = JobState::Lost;
    reg.update(old_attempt);
    QCOMPARE(reg.get(j.id).state, JobState::Starting);
    QCOMPARE(old_attempt.attempts, 2);  // refreshed to the newer row

    QVERIFY_THROWS_EXCEPTION(qatwb::Error, job_from_json("[1]", "x"));
  }
};

QTEST_GUILESS_MAIN(TestJobState)
#include "tst_job_state.moc"
