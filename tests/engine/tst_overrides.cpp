// Mixed precision by module (quant.overrides): the resolution order, bits per weight against the
// closed form b + 16 * scales / weights, the quantizer building each module with its own scheme,
// `qatwb project check` listing the resolved schemes, file:line errors, and a real run logging
// the whole model's bits per weight at step 0.
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>

#include "core/model/llama.h"
#include "core/quant/model_quantizer.h"
#include "core/quant/scheme.h"
#include "tests/common/micro_project.h"
#include "tests/common/run_events.h"
#include "tests/common/test_env.h"

using namespace qatwb;

namespace {

quant::QuantScheme w2_with_overrides() {
  quant::QuantScheme s;
  s.bits = 2;
  s.granularity = quant::Granularity::PerChannel;
  quant::SchemeOverride down;
  down.match = R"(mlp\.down_proj$)";
  down.bits = 4;
  quant::SchemeOverride first_q;
  first_q.match = R"(^model\.layers\.0\.self_attn\.q_proj$)";
  first_q.enabled = false;
  quant::SchemeOverride layer1_down;  // later entries win over earlier ones
  layer1_down.match = R"(layers\.1\.mlp\.down_proj)";
  layer1_down.bits = 3;
  layer1_down.granularity = quant::Granularity::PerGroup;
  layer1_down.group_size = 4;
  s.overrides = {down, first_q, layer1_down};
  return s;
}

}  // namespace

class TstOverrides : public QObject {
  Q_OBJECT

  QTemporaryDir dir_;

 private Q_SLOTS:
  void initTestCase() {
    QVERIFY(dir_.isValid());
    qatwb::test::write_brown_corpus(dir_.filePath("corpus.jsonl"));
  }

  void resolution_applies_entries_in_order() {
    const auto s = w2_with_overrides();
    auto at = [&](const char* m) { return quant::scheme_for_module(s, m); };
    QCOMPARE(at("model.layers.0.mlp.down_proj").bits, 4.0);
    QCOMPARE(at("model.layers.1.mlp.down_proj").bits, 3.0);
    QVERIFY(at("model.layers.1.mlp.down_proj").granularity == quant::Granularity::PerGroup);
    QCOMPARE(at("model.layers.1.mlp.down_proj").group_size, 4);
    QCOMPARE(at("model.layers.0.mlp.up_proj").bits, 2.0);
    QVERIFY(!at("model.layers.0.self_attn.q_proj").enabled);
    QVERIFY(at("model.layers.1.self_attn.q_proj").enabled);
    QVERIFY(at("model.layers.1.self_attn.q_proj").overrides.empty());
    // Not included by the default pattern, and brought in by an override.
    QVERIFY(!at("lm_head").enabled);
    auto t = s;
    quant::SchemeOverride add;
    add.match = "^lm_head$";
    add.enabled = true;
    t.overrides.push_back(add);
    QVERIFY(quant::scheme_for_module(t, "lm_head").enabled);
    // A scheme switched off stays off whatever the overrides say.
    t.enabled = false;
    QVERIFY(!quant::scheme_for_module(t, "lm_head").enabled);
    // An FP4 format override is 4-bit.
    quant::SchemeOverride fp4;
    fp4.match = "up_proj";
    fp4.format = quant::Format::MxFp4;
    auto u = s;
    u.overrides = {fp4};
    QCOMPARE(quant::scheme_for_module(u, "model.layers.0.mlp.up_proj").bits, 4.0);
  }

  void bits_per_weight_closed_form() {
    quant::QuantScheme s;
    s.bits = 2;
    s.granularity = quant::Granularity::PerChannel;
    // 2 bits + one fp16 scale per row of 64 weights.
    QCOMPARE(quant::bits_per_weight(s, 256, 64), 2.0 + 16.0 / 64);
    s.granularity = quant::Granularity::PerGroup;
    s.group_size = 32;
    s.symmetric = false;  // scale and zero point per group of 32
    QCOMPARE(quant::bits_per_weight(s, 8, 128), 2.0 + 32.0 / 32);
    s.granularity = quant::Granularity::PerTensor;
    s.bits = 1.58;
    s.symmetric = true;
    QCOMPARE(quant::bits_per_weight(s, 10, 10), std::log2(3.0) + 16.0 / 100);
    s.format = quant::Format::MxFp4;
    QCOMPARE(quant::bits_per_weight(s, 10, 64), 4.25);
    s.format = quant::Format::NvFp4;
    QCOMPARE(quant::bits_per_weight(s, 4, 16), 4.5 + 32.0 / 64);
    s.enabled = false;
    QCOMPARE(quant::bits_per_weight(s, 4, 16), 16.0);
  }

  void model_bits_and_the_quantizer_follow_the_modules() {
    const auto cfg = model::preset("llama-micro", 300);
    model::Llama m(cfg);
    m->init_weights(1);
    const auto s = w2_with_overrides();
    quant::ModelQuantizer q(s, m->linear_weights());
    // Every decoder Linear but layer 0's q_proj.
    QCOMPARE(q.modules().size(), static_cast<size_t>(7 * cfg.num_hidden_layers - 1));
    QVERIFY(!q.quantizes("model.layers.0.self_attn.q_proj"));
    const auto all = q.quantize_all();
    QCOMPARE(all.at("model.layers.0.mlp.down_proj").bits, 4.0);
    QCOMPARE(all.at("model.layers.1.mlp.down_proj").bits, 3.0);
    QCOMPARE(all.at("model.layers.1.mlp.down_proj").group_size, int64_t{4});
    QCOMPARE(all.at("model.layers.0.mlp.gate_proj").bits, 2.0);
    // The whole model's bits, summed here from the shapes.
    std::vector<quant::LinearShape> shapes;
    double bits = 0;
    int64_t quantized = 0;
    for (const auto& [name, w] : m->linear_weights()) {
      shapes.push_back({name, w.size(0), w.size(1)});
      const double n = static_cast<double>(w.numel());
      const int64_t rows = w.size(0), cols = w.size(1);
      if (name == "model.layers.0.self_attn.q_proj") continue;
      quantized += w.numel();
      if (name == "model.layers.1.mlp.down_proj")
        bits += n * 3 + 16.0 * rows * (cols / 4);
      else if (name.find("down_proj") != std::string::npos)
        bits += n * 4 + 16.0 * rows;
      else
        bits += n * 2 + 16.0 * rows;
    }
    const int64_t total = cfg.num_parameters();
    const auto mb = quant::model_bits(s, shapes, total);
    QCOMPARE(mb.quantized_weights, quantized);
    QVERIFY(std::abs(mb.quantized_bpw - bits / quantized) < 1e-12);
    QVERIFY(std::abs(mb.model_bpw - (bits + 16.0 * (total - quantized)) / total) < 1e-12);
  }

  void project_check_lists_modules_and_refuses_bad_entries() {
    const QString corpus = dir_.filePath("corpus.jsonl");
    const QString ok = qatwb::test::write_micro_project(
        dir_.path(), "mixed", corpus, "",
        "quant:\n"
        "  enabled: true\n"
        "  bits: 2\n"
        "  overrides:\n"
        "    - {match: 'mlp\\.down_proj$', bits: 4}\n"
        "    - {match: '^model\\.layers\\.0\\.self_attn\\.q_proj$', enabled: false}\n");
    auto r = qatwb::test::run_qatwb_env({"project", "check", ok});
    QCOMPARE(r.exit_code, 0);
    QVERIFY2(r.out.contains("overrides:"), r.out.constData());  // the resolved project keeps them
    QVERIFY2(r.err.contains("mlp.down_proj"), r.err.constData());
    QVERIFY2(r.err.contains("int 4-bit per_channel ste"), r.err.constData());
    QVERIFY2(r.err.contains("self_attn.q_proj       layers 0          not quantized"),
             r.err.constData());
    QVERIFY2(r.err.contains("bits per weight (scales included)"), r.err.constData());
    struct Case {
      QString entry, needle;
    };
    const QList<Case> bad = {
        {"    - {bits: 4}\n", "quant.overrides[0].match: is required"},
        {"    - {match: '(', bits: 4}\n", "quant.overrides[0].match: invalid regular expression"},
        {"    - {match: x, bits: 5}\n", "quant.overrides[0].bits: expected one of"},
        {"    - {match: x, group_size: 48}\n", "quant.overrides[0].group_size: must be a power"},
        {"    - {match: x, surrogate: magic}\n", "quant.overrides[0].surrogate"},
        {"    - {match: x, bitz: 4}\n", "bitz"},
    };
    int i = 0;
    for (const auto& c : bad) {
      const QString p = qatwb::test::write_micro_project(
          dir_.path(), QString("bad%1").arg(i++), corpus, "",
          "quant:\n  enabled: true\n  bits: 2\n  overrides:\n" + c.entry);
      r = qatwb::test::run_qatwb_env({"project", "check", p});
      QVERIFY(r.exit_code != 0);
      QVERIFY2(r.err.contains(c.needle.toUtf8()), r.err.constData());
      // The entry's own line: 20 in the micro project (the quant section starts at line 16).
      QVERIFY2(r.err.contains((QFileInfo(p).fileName() + ":20:").toUtf8()), r.err.constData());
    }
  }

  void project_check_refuses_a_group_size_that_does_not_divide_a_row() {
    // llama-micro's down_proj reads 172 inputs (= 4 * 43): groups of 8 do not fit.
    const QString corpus = dir_.filePath("corpus.jsonl");
    struct Case {
      QString quant, field;
    };
    const QList<Case> cases = {
        {"quant:\n  bits: 2\n  overrides:\n"
         "    - {match: 'down_proj$', granularity: per_group, group_size: 8}\n",
         "quant.overrides[0].group_size"},
        {"quant:\n  bits: 2\n  granularity: per_group\n  group_size: 8\n", "quant.group_size"},
    };
    int i = 0;
    for (const auto& c : cases) {
      const QString p = qatwb::test::write_micro_project(dir_.path(), QString("groups%1").arg(i++),
                                                         corpus, "", c.quant);
      const auto r = qatwb::test::run_qatwb_env({"project", "check", p});
      QCOMPARE(r.exit_code, 1);
      const QString needle = c.field + ": group size 8 does not divide the row of " +
                             "model.layers.0.mlp.down_proj (172 inputs)";
      QVERIFY2(r.err.contains(needle.toUtf8()), r.err.constData());
      QVERIFY2(r.err.contains(QFileInfo(p).fileName().toUtf8()), r.err.constData());
    }
  }

  void run_logs_the_whole_models_bits() {
    const QString corpus = dir_.filePath("corpus.jsonl");
    const QString p = qatwb::test::write_micro_project(
        dir_.path(), "mixed-run", corpus, "",
        "quant:\n  enabled: true\n  bits: 2\n  overrides:\n    - {match: 'down_proj$', bits: 4}\n");
    qatwb::test::replace_in_file(p, "  steps: 8\n", "  steps: 2\n");
    const QString run = dir_.filePath("runs/mixed");
    const auto r = qatwb::test::run_qatwb_env({"run", p, "--run-dir", run, "--no-db"});
    QCOMPARE(r.exit_code, 0);
    QVERIFY2(r.err.contains("1 override(s)"), r.err.constData());
    const auto evals = qatwb::test::run_events_of_type(run, "eval");
    QVERIFY(!evals.empty());
    const double logged = evals.front()["values"]["bits_per_weight"].get<double>();
    // Closed form for the micro preset: per-channel, so b + 16 / cols per module.
    const auto cfg = model::preset("llama-micro", 32000);
    double bits = 0;
    int64_t quantized = 0;
    for (const auto& [name, shape] : model::decoder_linear_shapes(cfg)) {
      const double n = static_cast<double>(shape[0] * shape[1]);
      const double b = name.find("down_proj") != std::string::npos ? 4 : 2;
      bits += n * (b + 16.0 / static_cast<double>(shape[1]));
      quantized += shape[0] * shape[1];
    }
    const double expect = (bits + 16.0 * static_cast<double>(cfg.num_parameters() - quantized)) /
                          static_cast<double>(cfg.num_parameters());
    QVERIFY2(std::abs(logged - expect) < 1e-9,
             qPrintable(QString("%1 vs %2").arg(logged).arg(expect)));
  }
};

QTEST_GUILESS_MAIN(TstOverrides)
#include "tst_overrides.moc"
