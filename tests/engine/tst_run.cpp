// End-to-end runs of the real `qatwb run` worker on a micro Llama: resume is bit-exact, NaN steps
// are skipped and stop the run after the limit, eval on the saved model matches the run's own
// perplexity, quantized runs report FP/RTN/post-quantization perplexity, bad input fails cleanly.
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/store/store.h"
#include "tests/common/micro_project.h"
#include "tests/common/run_events.h"
#include "tests/common/test_env.h"

namespace {

using qatwb::test::run_qatwb_env;

std::map<int64_t, double> losses(const QString& run_dir) {
  return qatwb::test::run_metric(run_dir, "loss");
}

std::vector<nlohmann::json> of_type(const QString& run_dir, const std::string& type) {
  return qatwb::test::run_events_of_type(run_dir, type);
}

}  // namespace

class TestRun : public QObject {
  Q_OBJECT

  QTemporaryDir dir_;
  QString corpus_;

  QString write_project(const QString& name, const QString& train_extra,
                        const QString& quant = "quant: {enabled: false}\n") {
    return qatwb::test::write_micro_project(dir_.path(), name, corpus_, train_extra, quant);
  }

 private Q_SLOTS:
  void initTestCase() {
    QVERIFY(dir_.isValid());
    corpus_ = dir_.filePath("corpus.jsonl");
    qatwb::test::write_brown_corpus(corpus_);
  }

  void resume_is_bit_exact() {
    // QAT with learned scales and DSQ's learned alpha: the quantizer state and the second
    // optimizer group must come back exactly too.
    const QString project =
        write_project("resume", "  checkpoint_every: 2\n",
                      "quant: {enabled: true, bits: 2, scale: learned, surrogate: dsq}\n");
    const QString full = dir_.filePath("runs/full"), cut = dir_.filePath("runs/cut");
    QCOMPARE(run_qatwb_env({"run", project, "--run-dir", full, "--no-db"}).exit_code, 0);
    // Stopped after 3 steps (as on SIGTERM): checkpoint, "stopped" end event, exit code 130.
    QCOMPARE(run_qatwb_env({"run", project, "--run-dir", cut, "--no-db"},
                           {{"QATWB_TEST_STOP_AT_STEP", "3"}})
                 .exit_code,
             130);
    const auto ends = of_type(cut, "end");
    QCOMPARE(ends.size(), size_t{1});
    QCOMPARE(QString::fromStdString(ends[0]["status"]), QString("stopped"));
    QCOMPARE(losses(cut).size(), size_t{3});
    QCOMPARE(run_qatwb_env({"run", "--resume", cut, "--no-db"}).exit_code, 0);
    const auto a = losses(full), b = losses(cut);
    QCOMPARE(a.size(), size_t{8});
    QCOMPARE(b.size(), size_t{8});
    for (const auto& [step, loss] : a) QCOMPARE(b.at(step), loss);  // exact, not approximate
    QVERIFY(QFile::exists(cut + "/model/model.safetensors"));
  }

  void nan_steps_are_skipped() {
    const QString project = write_project("nan", "");
    const QString run = dir_.filePath("runs/nan");
    QCOMPARE(run_qatwb_env({"run", project, "--run-dir", run, "--no-db"},
                           {{"QATWB_TEST_NAN_STEPS", "2,3"}})
                 .exit_code,
             0);
    const auto warnings = of_type(run, "warning");
    QCOMPARE(warnings.size(), size_t{2});
    QVERIFY(warnings[0]["message"].get<std::string>().find("step 2 skipped") != std::string::npos);
    const auto l = losses(run);
    QVERIFY(!l.count(2) && !l.count(3));
    QCOMPARE(l.size(), size_t{6});
    for (const auto& [step, loss] : l) QVERIFY(std::isfinite(loss));
    const auto evals = of_type(run, "eval");
    QVERIFY(std::isfinite(evals.back()["values"]["ppl"].get<double>()));
  }

  void too_many_nan_steps_fail_the_run() {
    const QString project = write_project("nanfail", "  max_bad_steps: 3\n  checkpoint_every: 1\n");
    const QString run = dir_.filePath("runs/nanfail");
    const auto r = run_qatwb_env({"run", project, "--run-dir", run, "--no-db"},
                                 {{"QATWB_TEST_NAN_STEPS", "3,4,5,6"}});
    QCOMPARE(r.exit_code, 1);
    const auto ends = of_type(run, "end");
    QCOMPARE(ends.size(), size_t{1});
    QCOMPARE(QString::fromStdString(ends[0]["status"]), QString("failed"));
    QVERIFY(ends[0]["reason"].get<std::string>().find("3 consecutive") != std::string::npos);
    QCOMPARE(losses(run).size(), size_t{3});  // steps 0-2 recorded, nothing lost
    // The checkpoints written before the failure are intact and loadable.
    QVERIFY(QFile::exists(run + "/checkpoints/step-00000003/trainer.json"));
  }

  void eval_cli_matches_run_perplexity() {
    const QString project = write_project("evalcheck", "");
    const QString run = dir_.filePath("runs/evalcheck");
    QCOMPARE(run_qatwb_env({"run", project, "--run-dir", run, "--no-db"}).exit_code, 0);
    const auto evals = of_type(run, "eval");
    const double run_ppl = evals.back()["values"]["ppl"].get<double>();
    // The held-out split, joined as the run joins it.
    QString heldout;
    for (const auto& e : of_type(run, "start")) (void)e;
    QDir cache(dir_.filePath("runs/.cache/data"));
    const auto keys = cache.entryList(QDir::Dirs | QDir::NoDotAndDotDot);
    QVERIFY(!keys.isEmpty());
    std::ifstream in((cache.filePath(keys[0]) + "/sample/heldout.jsonl").toStdString());
    std::string line, text;
    while (std::getline(in, line)) {
      if (!text.empty()) text += "\n\n";
      text += nlohmann::json::parse(line)["text"].get<std::string>();
    }
    const QString text_path = dir_.filePath("heldout.txt");
    std::ofstream(text_path.toStdString()) << text;
    QProcess p;
    p.start(qatwb::test::qatwb_bin(), {"eval", "--model", run + "/model", "--text", text_path,
                                       "--seq-len", "32", "--max-windows", "8", "--threads", "1"});
    QVERIFY(p.waitForFinished(300000));
    QCOMPARE(p.exitCode(), 0);
    const auto j = nlohmann::json::parse(p.readAllStandardOutput().toStdString());
    QCOMPARE(j["windows"].get<int64_t>(), int64_t{8});
    QVERIFY(std::abs(j["ppl"].get<double>() - run_ppl) / run_ppl < 1e-4);
  }

  void quantized_run_reports_fp_rtn_and_post_quant() {
    const QString project = write_project(
        "w2", "",
        "quant: {enabled: true, bits: 2, granularity: per_channel, surrogate: stableqat}\n");
    const QString run = dir_.filePath("runs/w2");
    QCOMPARE(run_qatwb_env({"run", project, "--run-dir", run, "--no-db"}).exit_code, 0);
    const auto evals = of_type(run, "eval");
    QVERIFY(evals.front()["values"].contains("ppl_fp"));
    QVERIFY(evals.front()["values"].contains("ppl_rtn"));
    QVERIFY(evals.back()["values"].contains("ppl_postquant"));
    QVERIFY(QFile::exists(run + "/model/quantizer.safetensors"));
    // Per-layer details at detail_every steps: grad norms and code flips.
    bool details = false;
    for (const auto& e : of_type(run, "metric"))
      if (e["values"].contains("code_flip_fraction")) details = true;
    QVERIFY(details);
    QProcess p;
    p.start(qatwb::test::qatwb_bin(),
            {"compare", "--json", "--db", dir_.filePath("compare.sqlite"), run});
    QVERIFY(p.waitForFinished(60000));
    QCOMPARE(p.exitCode(), 0);
    const auto rows = nlohmann::json::parse(p.readAllStandardOutput().toStdString());
    QCOMPARE(rows[0]["surrogate"].get<std::string>(), std::string("stableqat"));
    QVERIFY(rows[0]["ppl_final"].is_number());
    QVERIFY(rows[0]["recovery"].is_number());
  }

  void two_ranks_match_one_rank_with_double_batch() {
    // c10d over Gloo on 127.0.0.1: 2 ranks of batch 2 read disjoint windows that together are
    // exactly the 4 windows one rank of batch 4 reads; averaged gradients give the same steps.
    const QString one = write_project("dp1", "  batch_size: 4\n  grad_clip: 0\n");
    const QString two = write_project("dp2", "  batch_size: 2\n  grad_clip: 0\n");
    // The template's own batch_size would be a duplicate key: drop it.
    for (const QString& path : {one, two})
      qatwb::test::replace_in_file(path, "  batch_size: 4\n  lr:", "  lr:");
    const QString r1 = dir_.filePath("runs/dp1"), r2 = dir_.filePath("runs/dp2");
    QCOMPARE(run_qatwb_env({"run", one, "--run-dir", r1, "--no-db"}).exit_code, 0);
    QCOMPARE(run_qatwb_env({"run", two, "--run-dir", r2, "--no-db", "--nproc", "2"}).exit_code, 0);
    const auto a = losses(r1), b = losses(r2);
    QCOMPARE(a.size(), size_t{8});
    QCOMPARE(b.size(), size_t{8});
    for (const auto& [step, loss] : a)
      QVERIFY2(std::abs(b.at(step) - loss) < 1e-4 * loss,
               qPrintable(QString("step %1: %2 vs %3").arg(step).arg(loss).arg(b.at(step))));
    // One start event: rank 1 writes nothing.
    QCOMPARE(of_type(r2, "start").size(), size_t{1});
    const double p1 = of_type(r1, "eval").back()["values"]["ppl"].get<double>();
    const double p2 = of_type(r2, "eval").back()["values"]["ppl"].get<double>();
    QVERIFY(std::abs(p1 - p2) / p1 < 1e-3);
  }

  void failing_rank_still_ends_the_run() {
    // Rank 1 dies after 2 steps: the launcher stops rank 0 (blocked in its next all-reduce) and
    // closes the run with one "failed" end event naming the cause; a resume then finishes it.
    const QString project = write_project("dpcrash", "  checkpoint_every: 2\n");
    const QString run = dir_.filePath("runs/dpcrash");
    const auto r = run_qatwb_env({"run", project, "--run-dir", run, "--no-db", "--nproc", "2"},
                                 {{"QATWB_TEST_CRASH_RANK_AT", "1:2"}});
    QVERIFY(r.exit_code != 0);
    const auto ends = of_type(run, "end");
    QCOMPARE(ends.size(), size_t{1});
    QCOMPARE(QString::fromStdString(ends[0]["status"]), QString("failed"));
    qInfo("end reason: %s", ends[0]["reason"].get<std::string>().c_str());
    QVERIFY(!ends[0]["reason"].get<std::string>().empty());
    QCOMPARE(run_qatwb_env({"run", "--resume", run, "--no-db", "--nproc", "2"}).exit_code, 0);
    QCOMPARE(losses(run).size(), size_t{8});
    QCOMPARE(QString::fromStdString(of_type(run, "end").back()["status"]), QString("finished"));
  }

  void second_stage_starts_from_the_run_model() {
    // The tiny-brown shape: stage 2 loads stage 1's model folder, tokenizer included (with the
    // tokenizer_config.json that names BOS/EOS, which the data pipeline needs).
    const QString first = write_project("stage1", "  steps: 2\n");
    qatwb::test::replace_in_file(first, "  steps: 8\n", "");
    const QString r1 = dir_.filePath("runs/stage1");
    QCOMPARE(run_qatwb_env({"run", first, "--run-dir", r1, "--no-db"}).exit_code, 0);
    QVERIFY(QFile::exists(r1 + "/model/tokenizer_config.json"));
    QString yaml = QString(R"(name: stage2
model: {path: "%1"}
data: {sources: [{path: "%2"}], seed: 5, heldout_fraction: 0.2}
tokenize: {seq_len: 32}
train: {steps: 2, batch_size: 2, threads: 1}
eval: {max_windows: 2}
quant: {enabled: true, bits: 2}
)")
                       .arg(r1 + "/model", corpus_);
    const QString second = dir_.filePath("stage2.yaml");
    QFile f(second);
    f.open(QIODevice::WriteOnly);
    f.write(yaml.toUtf8());
    f.close();
    QCOMPARE(run_qatwb_env({"run", second, "--run-dir", dir_.filePath("runs/stage2"), "--no-db"})
                 .exit_code,
             0);
  }

  // A `qatwb run` with a store is in the store from its start and follows it while it trains
  // (the GUI and `qatwb watch` read the store), not only once it has ended.
  void cli_run_is_in_the_store_while_it_trains() {
    const QString project = write_project("live", "");
    // Long enough to span several of the run's 2-second store updates on a fast machine.
    qatwb::test::replace_in_file(project, "  steps: 8\n", "  steps: 240\n");
    const QString run = dir_.filePath("runs/live");
    const QString db = dir_.filePath("live.sqlite");
    QProcess p;
    auto env = QProcessEnvironment::systemEnvironment();
    p.setProcessEnvironment(env);
    p.setProcessChannelMode(QProcess::ForwardedErrorChannel);
    p.start(qatwb::test::qatwb_bin(), {"run", project, "--run-dir", run, "--db", db});
    QVERIFY(p.waitForStarted());
    bool seen_running = false;
    int64_t seen_step = -1;
    while (p.state() != QProcess::NotRunning) {
      p.waitForFinished(100);
      if (p.state() == QProcess::NotRunning || !QFile::exists(db)) continue;
      try {
        auto store = qatwb::store::Store::open_existing(db.toStdString());
        for (const auto& r : store.list_runs()) {
          if (r.status != "running") continue;
          seen_running = true;
          seen_step = std::max(seen_step, r.last_step);
        }
      } catch (const std::exception&) {
        // created but not yet initialised by the run: try again
      }
    }
    QCOMPARE(p.exitCode(), 0);
    QVERIFY(seen_running);
    QVERIFY2(seen_step >= 0 && seen_step < 239, qPrintable(QString::number(seen_step)));
    auto store = qatwb::store::Store::open_existing(db.toStdString());
    const auto info = store.list_runs().at(0);
    QCOMPARE(info.status, std::string("finished"));
    QCOMPARE(info.steps_done(), int64_t{240});
  }

  void bad_input_fails_cleanly() {
    // A model path that does not exist: non-zero exit, the message names it, a failed end event.
    const QString project = write_project("badmodel", "");
    qatwb::test::replace_in_file(project, "model: {preset: llama-micro,",
                                 "model: {path: /nonexistent/model,");
    const QString run = dir_.filePath("runs/badmodel");
    const auto r = run_qatwb_env({"run", project, "--run-dir", run, "--no-db"});
    QVERIFY(r.exit_code != 0);
    QVERIFY(r.err.contains("/nonexistent/model"));
    // Running into an existing run directory is refused (it would mix two runs' events).
    const QString project2 = write_project("again", "");
    const auto r2 =
        run_qatwb_env({"run", project2, "--run-dir", dir_.filePath("runs/nan"), "--no-db"});
    QVERIFY(r2.exit_code != 0);
    QVERIFY(r2.err.contains("already holds a run"));
    // The environment is read once, by the command, before anything is written: a malformed
    // variable is named and leaves no run folder behind.
    const QString run3 = dir_.filePath("runs/badenv");
    for (const auto& [name, value] :
         std::vector<std::pair<QString, QString>>{{"QATWB_TEST_STOP_AT_STEP", "3x"},
                                                  {"QATWB_TEST_CRASH_RANK_AT", "1"},
                                                  {"QATWB_THREADS_PER_RANK", "0"}}) {
      const auto r3 = run_qatwb_env(
          {"run", write_project("badenv", ""), "--run-dir", run3, "--no-db"}, {{name, value}});
      QVERIFY(r3.exit_code != 0);
      QVERIFY2(r3.err.contains((name + "=" + value).toUtf8()), r3.err.constData());
      QVERIFY(!QFile::exists(run3 + "/events.jsonl"));
    }
  }
};

QTEST_GUILESS_MAIN(TestRun)
#include "tst_run.moc"
