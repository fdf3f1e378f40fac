// The summary table (core/report/summary_table): every column from a real store filled by
// ingesting hand-written run directories (an unquantized run, an STE run, a StableQAT run), and
// the text / Markdown / CSV / JSON renderings.
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QtTest>
#include <cmath>

#include "core/report/summary_table.h"
#include "core/run/event_log.h"
#include "core/run/run_dir.h"
#include "core/store/store.h"
#include "tests/common/test_env.h"

using namespace qatwb;

namespace {

struct Point {
  int64_t step;
  std::map<std::string, double> values;
};

// Writes <root>/<name>/events.jsonl: start (with `config`), metrics, evals, end.
std::string write_run(const QString& root, const std::string& name, const std::string& config,
                      const std::vector<Point>& metrics, const std::vector<Point>& evals) {
  run::RunDir dir((root + "/" + QString::fromStdString(name)).toStdString());
  dir.create();
  run::EventWriter w(dir.events_path(), run::FsyncPolicy::Never);
  run::StartInfo s;
  s.run = name;
  s.project = "proj";
  s.config_json = config;
  w.start(s);
  for (const auto& p : evals)
    if (p.step == 0) w.eval(0, p.values);
  for (const auto& p : metrics) w.metric(p.step, p.values);
  for (const auto& p : evals)
    if (p.step != 0) w.eval(p.step, p.values);
  w.end("finished", "");
  return dir.path();
}

const char* kFpConfig = R"({"train":{"schedule":{"warmup_steps":0}}})";
const char* kSteConfig =
    R"({"quant":{"enabled":true,"format":"int","bits":2.0,"granularity":"per_channel",)"
    R"("surrogate":"ste"},"train":{"schedule":{"warmup_steps":1}}})";
const char* kStableConfig =
    R"({"quant":{"enabled":true,"format":"int","bits":2.0,"granularity":"per_group",)"
    R"("group_size":64,"surrogate":"stableqat"},"train":{"schedule":{"warmup_steps":0}}})";

}  // namespace

class TestSummaryTable : public QObject {
  Q_OBJECT

 private:
  QTemporaryDir tmp_;
  std::unique_ptr<store::Store> store_;
  std::vector<int64_t> ids_;
  std::vector<std::string> dirs_;

 private Q_SLOTS:
  void initTestCase() {
    QVERIFY(tmp_.isValid());
    // FP: grad_norm nine 1s then a 10 (one spike by the trainer's rule), 100 ms per step.
    std::vector<Point> fp;
    for (int64_t s = 1; s <= 10; ++s)
      fp.push_back(
          {s - 1,  // metric steps are 0-based (the trainer's)
           {{"loss", 5.0 - 0.1 * s}, {"grad_norm", s == 10 ? 10.0 : 1.0}, {"step_time_s", 0.1}}});
    std::string fp_dir = write_run(tmp_.path(), "fp", kFpConfig, fp, {{10, {{"ppl", 20.0}}}});
    // STE: warm-up of 1 step hides the 100; step time median 0.2 s; flips 0.01 and 0.03.
    std::vector<Point> ste = {
        {0, {{"loss", 4.0}, {"grad_norm", 100.0}, {"step_time_s", 0.1}}},
        {1,
         {{"loss", 3.5}, {"grad_norm", 1.0}, {"step_time_s", 0.3}, {"code_flip_fraction", 0.01}}},
        {2, {{"loss", 3.0}, {"grad_norm", 2.0}, {"step_time_s", 0.2}}},
        {3,
         {{"loss", 2.5}, {"grad_norm", 3.0}, {"step_time_s", 0.2}, {"code_flip_fraction", 0.03}}},
        {4, {{"loss", 2.25}, {"grad_norm", 4.0}, {"step_time_s", 0.25}}}};
    std::string ste_dir =
        write_run(tmp_.path(), "ste", kSteConfig, ste,
                  {{0, {{"ppl_fp", 20.0}, {"ppl_rtn", 100.0}, {"bits_per_weight", 2.375}}},
                   {3, {{"ppl_postquant", 35.0}}},
                   {5, {{"ppl_postquant", 40.0}}}});
    // StableQAT: the trainer's own cumulative spike counter (grad_spikes) wins; no step times.
    std::vector<Point> st = {{0, {{"loss", 3.0}, {"grad_norm", 2.0}, {"grad_spikes", 0.0}}},
                             {1, {{"loss", 2.0}, {"grad_norm", 2.0}, {"grad_spikes", 2.0}}}};
    std::string st_dir =
        write_run(tmp_.path(), "stable", kStableConfig, st,
                  {{0, {{"ppl_fp", 20.0}, {"ppl_rtn", 100.0}}}, {2, {{"ppl_postquant", 120.0}}}});
    store_ = std::make_unique<store::Store>(
        store::Store::open((tmp_.path() + "/db.sqlite").toStdString()));
    for (const auto& d : {fp_dir, ste_dir, st_dir}) {
      store_->ingest_run_dir(d);
      ids_.push_back(store_->find_run(d));
      dirs_.push_back(d);
    }
  }

  void columns() {
    const auto rows = report::summary_rows(*store_, ids_);
    QCOMPARE(rows.size(), size_t{3});
    const auto& fp = rows[0];
    const auto& ste = rows[1];
    const auto& st = rows[2];
    QCOMPARE(fp.name, std::string("fp"));
    QCOMPARE(fp.project, std::string("proj"));
    QCOMPARE(fp.status, std::string("finished"));
    QCOMPARE(fp.scheme, std::string("fp"));
    QVERIFY(fp.surrogate.empty());
    QVERIFY(std::isnan(fp.bits));
    QCOMPARE(fp.steps, int64_t{10});
    QVERIFY(std::abs(fp.final_loss - 4.0) < 1e-12);
    QCOMPARE(fp.ppl_final, 20.0);
    QVERIFY(std::isnan(fp.recovery));
    // mean 1.9, population std 2.7
    QVERIFY(std::abs(fp.grad_norm_cv - 2.7 / 1.9) < 1e-12);
    QCOMPARE(fp.grad_spikes, int64_t{1});
    QVERIFY(std::isnan(fp.flip_rate));
    QVERIFY(std::abs(fp.ms_per_step - 100.0) < 1e-9);
    QVERIFY(std::abs(fp.overhead - 1.0) < 1e-12);
    QCOMPARE(fp.overhead_vs, std::string("fp"));

    QCOMPARE(ste.surrogate, std::string("ste"));
    QCOMPARE(ste.format, std::string("int"));
    QCOMPARE(ste.scheme, std::string("int W2 per_channel"));
    QCOMPARE(ste.bits, 2.0);
    QCOMPARE(ste.steps, int64_t{5});
    QCOMPARE(ste.final_loss, 2.25);
    QCOMPARE(ste.ppl_fp, 20.0);
    QCOMPARE(ste.ppl_rtn, 100.0);
    QCOMPARE(ste.ppl_final, 40.0);
    QCOMPARE(ste.ppl_best, 35.0);
    QVERIFY(std::abs(ste.recovery - 0.75) < 1e-12);
    QVERIFY(std::abs(ste.grad_norm_cv - std::sqrt(1.25) / 2.5) < 1e-12);  // warm-up step skipped
    QCOMPARE(ste.grad_spikes, int64_t{0});
    QVERIFY(std::abs(ste.flip_rate - 0.02) < 1e-12);
    QVERIFY(std::abs(ste.ms_per_step - 200.0) < 1e-9);
    QVERIFY(std::abs(ste.overhead - 2.0) < 1e-9);

    QCOMPARE(st.scheme, std::string("int W2 per_group g64"));
    QCOMPARE(st.grad_spikes, int64_t{2});
    QVERIFY(std::abs(st.recovery - (100.0 - 120.0) / 80.0) < 1e-12);  // worse than RTN: negative
    QCOMPARE(st.grad_norm_cv, 0.0);
    QVERIFY(std::isnan(st.ms_per_step));
    QVERIFY(std::isnan(st.overhead));
  }

  void baseline_falls_back_to_ste() {
    const auto rows = report::summary_rows(*store_, {ids_[2], ids_[1]});
    QCOMPARE(rows[1].overhead_vs, std::string("ste"));
    QVERIFY(std::abs(rows[1].overhead - 1.0) < 1e-12);
  }

  void unknown_run_throws() {
    QVERIFY_THROWS_EXCEPTION(std::exception, report::summary_rows(*store_, {9999}));
  }

  void markdown_and_csv() {
    const auto rows = report::summary_rows(*store_, {ids_[1]});
    const std::string md = report::summary_markdown(rows);
    const std::string expect_md =
        "| run | project | status | surrogate | scheme | bpw | steps | loss | FP ppl | RTN ppl | "
        "final ppl | best ppl | recovery | grad CV | spikes | flip rate | ms/step | overhead |\n"
        "| --- | --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | "
        "---: | ---: | ---: | ---: | ---: |\n"
        "| ste | proj | finished | ste | int W2 per_channel | 2.38 | 5 | 2.2500 | 20.00 | 100.00 | "
        "40.00 | 35.00 | 75.0% | 0.447 | 0 | 0.0200 | 200.0 | 1.00x |\n";
    QCOMPARE(md, expect_md);
    const std::string csv = report::summary_csv(rows);
    const std::string expect_csv =
        "run_id,name,project,status,surrogate,format,scheme,bits,bpw,steps,final_loss,ppl_fp,"
        "ppl_rtn,ppl_final,ppl_best,recovery,grad_norm_cv,grad_spikes,flip_rate,ms_per_step,"
        "overhead,overhead_vs,tags\n" +
        std::to_string(ids_[1]) +
        ",ste,proj,finished,ste,int,int W2 "
        "per_channel,2,2.375,5,2.25,20,100,40,35,0.75,0.4472135955,0,"
        "0.02,200,1,ste,\n";
    QCOMPARE(csv, expect_csv);
  }

  void missing_values() {
    // No value is shown as an en dash in text/Markdown, empty in CSV, null in JSON.
    report::SummaryRow r;
    r.run_id = 7;
    r.name = "a,b";
    const std::string md = report::summary_markdown({r});
    QVERIFY(md.find("| a,b | \u2013 | \u2013 | \u2013 | \u2013 | \u2013 | 0 | \u2013 |") !=
            std::string::npos);
    const std::string csv = report::summary_csv({r});
    QVERIFY(csv.find("\n7,\"a,b\",,,,,,,,0,,,,,,,,0,,,,,\n") != std::string::npos);
    const auto j = report::summary_json({r});
    QVERIFY(j[0]["ppl_final"].is_null());
    QVERIFY(j[0]["recovery"].is_null());
    QCOMPARE(j[0]["name"].get<std::string>(), std::string("a,b"));
    const std::string text = report::summary_text({r});
    QVERIFY(text.rfind("run", 0) == 0);
    QVERIFY(text.find("a,b") != std::string::npos);
  }

  void cli_compare_ingests_run_dirs() {
    // `qatwb compare DIR...` ingests into --db (a fresh one here) and prints the same table.
    if (!QFile::exists(test::qatwb_bin())) QSKIP("qatwb binary not built");
    const QString db = tmp_.path() + "/cli.sqlite";
    QStringList args = {"compare", "--db", db, "--json"};
    for (const auto& d : dirs_) args << QString::fromStdString(d);
    auto r = test::run_qatwb(args);
    QCOMPARE(r.exit_code, 0);
    const QJsonArray arr = QJsonDocument::fromJson(r.out).array();
    QCOMPARE(arr.size(), 3);
    QCOMPARE(arr[1].toObject()["name"].toString(), QString("ste"));
    QCOMPARE(arr[1].toObject()["recovery"].toDouble(), 0.75);
    QVERIFY(arr[0].toObject()["recovery"].isNull());
    QCOMPARE(arr[1].toObject()["overhead"].toDouble(), 2.0);
    // Text table, then by name from the database without ingesting again.
    args = QStringList{"compare", "--db", db, "ste", "fp"};
    r = test::run_qatwb(args);
    QCOMPARE(r.exit_code, 0);
    const QString out = QString::fromUtf8(r.out);
    QVERIFY2(out.startsWith("run "), r.out.constData());
    QVERIFY(out.contains("75.0%"));
    QVERIFY(out.contains("overhead: ms/step relative to fp"));
    r = test::run_qatwb({"compare", "--db", db, "no-such-run"});
    QVERIFY(r.exit_code != 0);
    QVERIFY(r.err.contains("no-such-run"));
  }

  void text_table_aligned() {
    const auto rows = report::summary_rows(*store_, ids_);
    const std::string t = report::summary_text(rows);
    QStringList lines = QString::fromStdString(t).split('\n', Qt::SkipEmptyParts);
    QCOMPARE(lines.size(), 5);  // header, 3 rows, overhead note
    QVERIFY(lines[1].startsWith("fp "));
    QVERIFY(lines[2].contains("75.0%"));
    QVERIFY(lines[3].contains("-25.0%"));
    QCOMPARE(lines[4], QString("overhead: ms/step relative to fp"));
    // Right-aligned numeric columns end at the same column.
    QCOMPARE(lines[1].size(), lines[0].size());
  }
};

QTEST_GUILESS_MAIN(TestSummaryTable)
#include "tst_summary_table.moc"
