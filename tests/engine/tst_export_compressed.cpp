// compressed-tensors pack-quantized export: round trips bit for bit for 2/3/4/8 bits (and 5-7),
// symmetric and asymmetric, groups of 32 and 64, per channel and per tensor; the raw layout is
// decoded independently ((q - zp) * scale with the +2^(b-1) offset); `ignore` lists the
// Linears left in full precision.
#include <QtTest>

#include "core/export/compressed_tensors_export.h"
#include "core/model/safetensors.h"
#include "core/util/error.h"
#include "tests/engine/tst_export_fixture.h"

using namespace qatwb;

class TestExportCompressed : public QObject {
  Q_OBJECT

  QTemporaryDir dir_;

 private Q_SLOTS:
  void initTestCase() { QVERIFY(dir_.isValid()); }

  void roundtrip_data() {
    QTest::addColumn<int>("bits");
    QTest::addColumn<bool>("sym");
    QTest::addColumn<int>("gran");
    QTest::addColumn<int>("group");
    for (int bits : {2, 3, 4, 5, 8})
      for (bool sym : {true, false}) {
        const QByteArray tag = QByteArray::number(bits) + (sym ? "-sym" : "-asym");
        QTest::newRow(tag + "-g32") << bits << sym << int(quant::Granularity::PerGroup) << 32;
        QTest::newRow(tag + "-g64") << bits << sym << int(quant::Granularity::PerGroup) << 64;
        QTest::newRow(tag + "-channel") << bits << sym << int(quant::Granularity::PerChannel) << 0;
        if (sym)
          QTest::newRow(tag + "-tensor") << bits << sym << int(quant::Granularity::PerTensor) << 0;
      }
  }
  void roundtrip() {
    QFETCH(int, bits);
    QFETCH(bool, sym);
    QFETCH(int, gran);
    QFETCH(int, group);
    const auto g = static_cast<quant::Granularity>(gran);
    auto scheme = test::int_scheme(bits, sym, g, group > 0 ? group : 32);
    // Leave one kind of Linear unquantized: it must appear in `ignore`.
    scheme.exclude = {R"(\.v_proj$)"};
    auto src = test::make_quantized_source(scheme, 7 + bits, /*fp16_scales=*/false);
    const std::string out =
        dir_.filePath(QString("ct-%1-%2-%3-%4").arg(bits).arg(sym).arg(gran).arg(group))
            .toStdString();
    exporter::export_model(src, exporter::ExportFormat::CompressedTensors, out, {});
    const auto cfg = exporter::read_json(out + "/config.json");
    const auto& qc = cfg["quantization_config"];
    QCOMPARE(qc["format"].get<std::string>(), std::string("pack-quantized"));
    const auto& w = qc["config_groups"]["group_0"]["weights"];
    QCOMPARE(w["num_bits"].get<int>(), bits);
    QCOMPARE(w["symmetric"].get<bool>(), sym);
    const char* strategy = g == quant::Granularity::PerGroup     ? "group"
                           : g == quant::Granularity::PerChannel ? "channel"
                                                                 : "tensor";
    QCOMPARE(w["strategy"].get<std::string>(), std::string(strategy));
    const auto ignore = qc["ignore"].get<std::vector<std::string>>();
    QVERIFY(std::find(ignore.begin(), ignore.end(), "lm_head") != ignore.end());
    QVERIFY(std::find(ignore.begin(), ignore.end(), "model.layers.1.self_attn.v_proj") !=
            ignore.end());
    QVERIFY(std::find(ignore.begin(), ignore.end(), "model.layers.1.self_attn.q_proj") ==
            ignore.end());

    const auto read = exporter::read_compressed_tensors_export(out);
    const auto orig = src.quantizer->quantize_all();
    QCOMPARE(read.quantized.size(), orig.size());
    auto st = model::SafetensorsReader::open(out);
    // The unquantized v_proj is stored dense, unchanged.
    QVERIFY(torch::equal(st.tensor("model.layers.0.self_attn.v_proj.weight"),
                         src.model->linear_weights()[2].second));
    const int64_t offset = int64_t{1} << (bits - 1);
    for (const auto& [m, q] : orig) {
      const auto& r = read.quantized.at(m);
      QVERIFY2(test::bit_equal(quant::dequantize(r), quant::dequantize(q)), m.c_str());
      // Independent decoding: q_signed = packed - 2^(b-1); zp_signed likewise; (q - zp) * s.
      auto packed = st.tensor(m + ".weight_packed").contiguous();
      auto scale = st.tensor(m + ".weight_scale").to(torch::kFloat).contiguous();
      auto shape = st.tensor(m + ".weight_shape");
      QCOMPARE(shape[0].item<int64_t>(), q.shape[0]);
      QCOMPARE(shape[1].item<int64_t>(), q.shape[1]);
      const int64_t out_f = q.shape[0], in = q.shape[1];
      QCOMPARE(packed.size(1), (in * bits + 31) / 32);
      torch::Tensor zp_cols;  // [groups, ceil(out*b/32)]: column g = a bitstream along out
      if (!sym) {
        auto zp = st.tensor(m + ".weight_zero_point");
        QCOMPARE(zp.size(0), (out_f * bits + 31) / 32);
        zp_cols = zp.t().contiguous();
      } else {
        QVERIFY(!st.contains(m + ".weight_zero_point"));
      }
      const int64_t gs = g == quant::Granularity::PerGroup ? group : in;
      auto deq_t = quant::dequantize(q).to(torch::kFloat).contiguous();
      auto deq = deq_t.accessor<float, 2>();
      const int32_t* pw = packed.data_ptr<int32_t>();
      const float* sp = scale.data_ptr<float>();
      for (int64_t o = 0; o < out_f; o += 5) {
        for (int64_t i = 0; i < in; ++i) {
          const int64_t qs = test::stream_value(pw + o * packed.size(1), i, bits) - offset;
          const int64_t grp = i / gs;
          int64_t zs = 0;
          if (!sym)
            zs = test::stream_value(zp_cols.data_ptr<int32_t>() + grp * zp_cols.size(1), o, bits) -
                 offset;
          const float s = g == quant::Granularity::PerTensor ? sp[0] : sp[o * (in / gs) + grp];
          // Our asymmetric codes are unsigned with an unsigned zero: both shift by 2^(b-1).
          const float wv = s * static_cast<float>(qs - zs);
          QCOMPARE(wv, deq[o][i]);
        }
      }
    }
  }

  void unsupported_schemes_are_clear_errors() {
    auto s = test::int_scheme(4, true, quant::Granularity::PerGroup, 32);
    s.format = quant::Format::NvFp4;
    auto src = test::make_quantized_source(s, 1, false);
    const QString out = dir_.filePath("nvfp4");
    try {
      exporter::export_model(src, exporter::ExportFormat::CompressedTensors, out.toStdString(), {});
      QFAIL("expected an error");
    } catch (const Error& e) {
      QVERIFY2(QString(e.what()).toLower().contains("nvfp4"), e.what());
      QVERIFY2(QString(e.what()).contains("compressed-tensors"), e.what());
    }
    QVERIFY(!QFileInfo::exists(out));
    auto t = test::int_scheme(2, true, quant::Granularity::PerChannel);
    t.bits = 1.58;
    auto src2 = test::make_quantized_source(t, 1, false);
    QVERIFY_THROWS_EXCEPTION(Error,
                             exporter::export_model(src2, exporter::ExportFormat::CompressedTensors,
                                                    out.toStdString(), {}));
  }
};

QTEST_GUILESS_MAIN(TestExportCompressed)
#include "tst_export_compressed.moc"
