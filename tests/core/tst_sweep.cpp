// Sweeps: grid/points expansion and names, file:line errors, and `qatwb batch` end to end over the
// fake trainer (real detached processes, concurrency 2): a second invocation starts nothing, a
// failed point stays failed until --retry-failed, which resumes it to success.
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/store/store.h"
#include "core/sweep/sweep_runner.h"
#include "core/sweep/sweep_spec.h"
#include "core/sweep/sweep_state.h"
#include "core/util/error.h"
#include "tests/common/test_env.h"

using nlohmann::json;
using qatwb::test::run_qatwb;

class TestSweep : public QObject {
  Q_OBJECT

  QTemporaryDir dir_;
  QString base_, fake_;

  QString write(const QString& name, const QString& text) {
    QString path = dir_.filePath(name);
    QFile f(path);
    if (!f.open(QIODevice::WriteOnly)) qFatal("cannot write %s", qPrintable(path));
    f.write(text.toUtf8());
    return path;
  }
  QString header(const QString& name) const {
    return "name: " + name + "\nbase: " + base_ + "\nset: {train.steps: 6}\n";
  }
  QStringList batch(const QString& sweep, const QStringList& extra = {}) const {
    return QStringList{"batch",        sweep,
                       "--db",         dir_.filePath("db/qatwb.sqlite"),
                       "--no-report",  "--json",
                       "--poll",       "0.1",
                       "--worker-cmd", fake_ + " --delay-ms 30"} +
           extra;
  }
  static json parse(const QByteArray& out) {
    json j = json::parse(out.toStdString(), nullptr, false);
    return j.is_object() ? j : json::object();
  }

 private Q_SLOTS:
  void initTestCase() {
    QVERIFY(dir_.isValid());
    base_ = qatwb::test::source_dir() + "/projects/tiny-brown/w2-ste.yaml";
    QVERIFY(QFile::exists(base_));
    fake_ = qEnvironmentVariable("QATWB_FAKE_TRAINER");
    QVERIFY2(QFile::exists(fake_), "QATWB_FAKE_TRAINER not built");
  }

  void grid_expands_in_key_order_with_stable_names() {
    QString path = write("grid.yaml", header("g") +
                                          "grid:\n  quant.surrogate: [ste, dsq]\n"
                                          "  quant.bits: [2, 3, 4]\n");
    auto spec = qatwb::sweep::load_sweep(path.toStdString());
    QCOMPARE(spec.points.size(), size_t{6});
    QCOMPARE(spec.points[0].name, std::string("surrogate-ste_bits-2"));
    QCOMPARE(spec.points[5].name, std::string("surrogate-dsq_bits-4"));
    std::vector<std::string> expect = {"train.steps=6", "quant.surrogate=ste", "quant.bits=3"};
    QCOMPARE(spec.points[1].overrides, expect);
    QCOMPARE(spec.launcher, std::string("local"));
    // Long names are cut and made unique by a hash of the whole name.
    const std::string a = qatwb::sweep::point_name({"quant.include=" + std::string(120, 'a')});
    const std::string b = qatwb::sweep::point_name({"quant.include=" + std::string(121, 'a')});
    QVERIFY(a.size() <= 100 && b.size() <= 100 && a != b);
    QCOMPARE(qatwb::sweep::point_name({"quant.include=" + std::string(120, 'a')}), a);
    QCOMPARE(qatwb::sweep::point_name({"data.sources[0].weight=2", "train.lr=1e-4"}),
             std::string("weight-2_lr-1e-4"));
  }

  void points_cross_grid_and_explicit_names() {
    QString path = write("points.yaml", header("p") +
                                            "grid: {train.seed: [0, 1]}\n"
                                            "points:\n"
                                            "  - {quant.surrogate: ste}\n"
                                            "  - {quant.surrogate: dsq, name: slow, "
                                            "worker_args: [--delay-ms, '5']}\n"
                                            "concurrency: 3\nlauncher: slurm\n"
                                            "slurm: {partition: gpu, gpus_per_node: 1}\n"
                                            "report: {group_by: [quant.bits]}\n");
    auto spec = qatwb::sweep::load_sweep(path.toStdString());
    QCOMPARE(spec.points.size(), size_t{4});
    QCOMPARE(spec.points[0].name, std::string("surrogate-ste_seed-0"));
    QCOMPARE(spec.points[3].name, std::string("slow_seed-1"));
    std::vector<std::string> args = {"--delay-ms", "5"};
    QCOMPARE(spec.points[3].worker_args, args);
    QCOMPARE(spec.concurrency, 3);
    QCOMPARE(spec.slurm.partition, std::string("gpu"));
    QCOMPARE(spec.slurm.gpus_per_node, 1);
    QCOMPARE(spec.report.group_by, std::vector<std::string>{"quant.bits"});
  }

  void sweep_file_errors_name_line_and_field() {
    QString path = write("bad.yaml", header("b") + "grid:\n  quant.bits: {a: 1}\n");
    try {
      qatwb::sweep::load_sweep(path.toStdString());
      QFAIL("expected an error");
    } catch (const qatwb::Error& e) {
      QVERIFY2(QString(e.what()).contains("bad.yaml:5:") &&
                   QString(e.what()).contains("grid.quant.bits"),
               e.what());
    }
    path = write("bad2.yaml", header("b") + "concurency: 2\n");
    try {
      qatwb::sweep::load_sweep(path.toStdString());
      QFAIL("expected an error");
    } catch (const qatwb::Error& e) {
      QVERIFY2(QString(e.what()).contains("bad2.yaml:4:") &&
                   QString(e.what()).contains("unknown field 'concurency'"),
               e.what());
    }
    path = write("dup.yaml", header("d") + "points: [{train.lr: 1e-4}, {train.lr: 1e-4}]\n");
    QVERIFY_THROWS_EXCEPTION(qatwb::Error, qatwb::sweep::load_sweep(path.toStdString()));
  }

  // 40 keys of two values each stand for 2^40 runs; the expansion must stop at its cap with the
  // key's line instead of exhausting memory. Then a grid at the cap's edge (10 x 10 x 100 = 10^4
  // points) still expands, and one past it (points x grid) is refused.
  void grid_product_is_capped_with_file_line() {
    QString grid = "grid:\n";
    for (int k = 0; k < 40; ++k) grid += QString("  k%1.x: [0, 1]\n").arg(k);
    QString path = write("bomb.yaml", header("bomb") + grid);
    try {
      qatwb::sweep::load_sweep(path.toStdString());
      QFAIL("expected an error");
    } catch (const qatwb::Error& e) {
      // 2^13 = 8192 combinations fit, the 14th key (k13, line 4 + 14) would make 16384.
      QVERIFY2(QString(e.what()).contains("bomb.yaml:18:") &&
                   QString(e.what()).contains("grid.k13.x") &&
                   QString(e.what()).contains("more than 10000 points"),
               e.what());
    }
    QString values100 = "[";
    for (int i = 0; i < 100; ++i) values100 += QString(i ? ", %1" : "%1").arg(i);
    values100 += "]";
    const QString edge =
        "grid:\n  a.x: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]\n"
        "  b.x: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]\n  c.x: " +
        values100 + "\n";
    path = write("edge.yaml", header("edge") + edge);
    QCOMPARE(qatwb::sweep::load_sweep(path.toStdString()).points.size(), size_t{10 * 10 * 100});
    path = write("over.yaml", header("over") + edge + "points: [{d.x: 0}, {d.x: 1}]\n");
    try {
      qatwb::sweep::load_sweep(path.toStdString());
      QFAIL("expected an error");
    } catch (const qatwb::Error& e) {
      QVERIFY2(QString(e.what()).contains("over.yaml") &&
                   QString(e.what()).contains("2 points times 10000"),
               e.what());
    }
  }

  // Found by the sweep_yaml fuzz target (fuzz/seeds/sweep_yaml/invalid_utf8.yaml): a list value
  // holding a byte that is not UTF-8 made the point's override text (JSON) throw nlohmann's
  // type_error out of load_sweep, which `qatwb batch` does not catch. Now the place is named.
  void invalid_utf8_value_is_a_clear_error() {
    QFile f(dir_.filePath("utf8.yaml"));
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(header("u").toUtf8() + QByteArray("points:\n  - a.b: [x\x87]\n"));
    f.close();
    try {
      qatwb::sweep::load_sweep(f.fileName().toStdString());
      QFAIL("expected an error");
    } catch (const qatwb::Error& e) {
      QVERIFY2(QString(e.what()).contains("utf8.yaml:5:11: the value is not valid UTF-8"),
               e.what());
    }
  }

  void invalid_point_is_reported_before_anything_starts() {
    QString path = write("invalid.yaml", header("inv") + "grid: {quant.bits: [2, 5]}\n");
    auto r = run_qatwb(batch(path));
    QVERIFY(r.exit_code != 0);
    QVERIFY2(r.err.contains("point bits-5") && r.err.contains("quant.bits"), r.err.constData());
    QVERIFY2(r.err.contains("override"), r.err.constData());
    QVERIFY(!QDir(dir_.filePath("db/sweeps/inv/runs")).exists());
  }

  void dry_run_lists_points() {
    QString path = write("dry.yaml", header("dry") + "grid: {quant.bits: [2, 3]}\n");
    auto r = run_qatwb({"batch", path, "--db", dir_.filePath("db/qatwb.sqlite"), "--dry-run"});
    QCOMPARE(r.exit_code, 0);
    QVERIFY(r.out.contains("bits-2: train.steps=6 quant.bits=2"));
    QVERIFY(r.out.contains("bits-3:"));
    QVERIFY(!QFile::exists(dir_.filePath("db/sweeps/dry/sweep.json")));
  }

  void runs_concurrently_and_resumes() {
    QString path = write("run.yaml", header("grid2") +
                                         "grid: {quant.surrogate: [ste, stableqat], "
                                         "quant.bits: [2, 4]}\nconcurrency: 2\n");
    auto r = run_qatwb(batch(path), {}, 120000);
    QVERIFY2(r.exit_code == 0, r.err.constData());
    json j = parse(r.out);
    QCOMPARE(j.value("succeeded", -1), 4);
    QCOMPARE(j.value("started", -1), 4);
    QVERIFY2(r.err.contains("2 running"), r.err.constData());  // two at once
    QVERIFY(!r.err.contains("3 running"));                     // never more
    QVERIFY(r.err.contains("4/4 done"));

    const std::string out = dir_.filePath("db/sweeps/grid2").toStdString();
    auto state = qatwb::sweep::load_sweep_state(out + "/sweep.json");
    QCOMPARE(state.points.size(), size_t{4});
    for (const auto& p : state.points) {
      QCOMPARE(p.state, qatwb::sweep::PointStatus::Succeeded);
      QVERIFY(QFile::exists(QString::fromStdString(p.project)));
    }
    // Every point's run is in the store with its own config and all its steps.
    auto store = qatwb::store::Store::open_existing(dir_.filePath("db/qatwb.sqlite").toStdString());
    int64_t id = store.find_run(out + "/runs/surrogate-stableqat_bits-4");
    auto summary = store.run_summary(id);
    QCOMPARE(summary.params["quant.surrogate"], std::string("stableqat"));
    QCOMPARE(store.points(id, "loss").size(), size_t{6});
    QCOMPARE(summary.run.project, std::string("grid2"));

    // Again: nothing starts.
    auto again = run_qatwb(batch(path), {}, 60000);
    QCOMPARE(again.exit_code, 0);
    json k = parse(again.out);
    QCOMPARE(k.value("started", -1), 0);
    QCOMPARE(k.value("skipped", -1), 4);
  }

  void failed_point_is_retried_only_on_request() {
    QString path =
        write("fail.yaml", header("failing") +
                               "points:\n  - {quant.bits: 2}\n"
                               "  - {quant.bits: 4, worker_args: [--fail-once-at, '3']}\n"
                               "concurrency: 2\n");
    auto r = run_qatwb(batch(path), {}, 120000);
    QCOMPARE(r.exit_code, 1);
    json j = parse(r.out);
    QCOMPARE(j.value("succeeded", -1), 1);
    QCOMPARE(j.value("failed", -1), 1);
    const std::string state_path = dir_.filePath("db/sweeps/failing/sweep.json").toStdString();
    auto st = qatwb::sweep::load_sweep_state(state_path);
    QCOMPARE(st.find("bits-4")->state, qatwb::sweep::PointStatus::Failed);
    QVERIFY2(st.find("bits-4")->reason.find("scripted failure at step 3") != std::string::npos,
             st.find("bits-4")->reason.c_str());

    auto again = run_qatwb(batch(path), {}, 60000);  // no retry: nothing starts
    QCOMPARE(again.exit_code, 1);
    QCOMPARE(parse(again.out).value("started", -1), 0);

    auto retry = run_qatwb(batch(path, {"--retry-failed"}), {}, 120000);
    QVERIFY2(retry.exit_code == 0, retry.err.constData());
    json k = parse(retry.out);
    QCOMPARE(k.value("started", -1), 1);
    QCOMPARE(k.value("succeeded", -1), 2);
    st = qatwb::sweep::load_sweep_state(state_path);
    QCOMPARE(st.find("bits-4")->state, qatwb::sweep::PointStatus::Succeeded);
    QCOMPARE(st.find("bits-4")->attempts, 2);
  }

  void interrupted_batch_reattaches_to_running_points() {
    QString path = write("interrupt.yaml",
                         header("interrupted") + "grid: {quant.bits: [2, 4]}\nconcurrency: 2\n");
    QProcess first;
    QStringList args = batch(path);
    args.replaceInStrings(" --delay-ms 30", " --delay-ms 400");
    first.start(qatwb::test::qatwb_bin(), args);
    QVERIFY(first.waitForStarted());
    // Kill the batch (not its detached workers) once both points run.
    QElapsedTimer t;
    t.start();
    QByteArray err;
    while (t.elapsed() < 20000 && !err.contains("2 running")) {
      first.waitForReadyRead(100);
      err += first.readAllStandardError();
    }
    QVERIFY2(err.contains("2 running"), err.constData());
    first.kill();
    first.waitForFinished();
    auto again = run_qatwb(batch(path), {}, 120000);
    QVERIFY2(again.exit_code == 0, again.err.constData());
    json k = parse(again.out);
    QCOMPARE(k.value("started", -1), 0);  // re-attached, nothing started twice
    QCOMPARE(k.value("succeeded", -1), 2);
    auto store = qatwb::store::Store::open_existing(dir_.filePath("db/qatwb.sqlite").toStdString());
    const std::string run = dir_.filePath("db/sweeps/interrupted/runs/bits-4").toStdString();
    QCOMPARE(store.points(store.find_run(run), "loss").size(), size_t{6});
  }

  void shipped_sweeps_validate() {
    for (const char* name : {"tiny-brown-surrogates", "llama-3.2-1b-stableqat-table"}) {
      QString path = qatwb::test::source_dir() + "/projects/sweeps/" + name + ".yaml";
      auto r = run_qatwb(
          {"batch", path, "--db", dir_.filePath("db/qatwb.sqlite"), "--dry-run", "--json"});
      QVERIFY2(r.exit_code == 0, r.err.constData());
      json j = parse(r.out);
      QCOMPARE(j["points"].size(), size_t(std::string(name) == "tiny-brown-surrogates" ? 18 : 9));
    }
  }

  // The state file round-trips every point status by name; an unknown one is refused with the
  // file, the point and the names it expects.
  void state_file_statuses() {
    using qatwb::sweep::PointStatus;
    const std::string path = dir_.filePath("states/sweep.json").toStdString();
    QVERIFY(QDir().mkpath(dir_.filePath("states")));
    qatwb::sweep::SweepState s;
    const char* names[] = {"pending",   "queued", "starting",  "running",
                           "succeeded", "failed", "cancelled", "lost"};
    const PointStatus all[] = {
        PointStatus::Pending,   PointStatus::Queued, PointStatus::Starting,  PointStatus::Running,
        PointStatus::Succeeded, PointStatus::Failed, PointStatus::Cancelled, PointStatus::Lost};
    for (size_t i = 0; i < 8; ++i) {
      s.points.emplace_back();
      s.points.back().name = "p" + std::to_string(i);
      s.points.back().state = all[i];
    }
    qatwb::sweep::save_sweep_state(path, s);
    json j = json::parse(std::ifstream(path));
    for (size_t i = 0; i < 8; ++i)
      QCOMPARE(j["points"][i]["state"].get<std::string>(), std::string(names[i]));
    auto back = qatwb::sweep::load_sweep_state(path);
    for (size_t i = 0; i < 8; ++i) QCOMPARE(back.points[i].state, all[i]);
    // Every job state maps to the point status of the same name (and never to "pending").
    using qatwb::jobs::JobState;
    const std::pair<JobState, PointStatus> jobs[] = {
        {JobState::Queued, PointStatus::Queued},   {JobState::Starting, PointStatus::Starting},
        {JobState::Running, PointStatus::Running}, {JobState::Succeeded, PointStatus::Succeeded},
        {JobState::Failed, PointStatus::Failed},   {JobState::Cancelled, PointStatus::Cancelled},
        {JobState::Lost, PointStatus::Lost}};
    for (const auto& [job, point] : jobs) QCOMPARE(qatwb::sweep::point_status(job), point);

    j["points"][3]["state"] = "sleeping";
    std::ofstream(path) << j.dump();
    try {
      qatwb::sweep::load_sweep_state(path);
      QFAIL("an unknown point state was accepted");
    } catch (const qatwb::Error& e) {
      const std::string m = e.what();
      QVERIFY2(m.find(path + ": point p3: unknown state 'sleeping'") != std::string::npos,
               e.what());
      QVERIFY2(m.find("succeeded") != std::string::npos, e.what());
    }
  }

  void progress_line_has_counts_and_eta() {
    qatwb::sweep::SweepState s;
    s.points.resize(4);
    s.points[0].state = qatwb::sweep::PointStatus::Succeeded;
    s.points[1].state = qatwb::sweep::PointStatus::Running;
    s.points[1].job_id = 2;
    s.points[2].state = qatwb::sweep::PointStatus::Failed;
    std::string line = qatwb::sweep::progress_line(s, 65, 30, 1);
    QCOMPARE(line,
             std::string("1/4 done, 1 running, 1 failed, 1 pending; 1m05s elapsed, ETA 1m00s"));
  }
};

QTEST_GUILESS_MAIN(TestSweep)
#include "tst_sweep.moc"
