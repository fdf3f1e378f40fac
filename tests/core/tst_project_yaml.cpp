// project.yaml parsing, validation (every mistake at once, as file:line:col: field: message),
// extends, overrides, to_yaml round trip, relative paths, the template, and `qatwb project`.
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QtTest>
#include <nlohmann/json.hpp>

#include "core/project/project_template.h"
#include "core/project/project_yaml.h"
#include "tests/common/test_env.h"

using namespace qatwb::project;

namespace {

std::string fixture_path(const char* rel) {
  return QDir::cleanPath(qatwb::test::fixture(QString("projects/") + rel)).toStdString();
}

std::string write_file(const QTemporaryDir& dir, const QString& name, const std::string& text) {
  QString path = dir.filePath(name);
  QDir().mkpath(QFileInfo(path).absolutePath());
  QFile f(path);
  if (!f.open(QIODevice::WriteOnly)) qFatal("cannot write %s", qPrintable(path));
  f.write(text.data(), static_cast<qint64>(text.size()));
  return QFileInfo(path).canonicalFilePath().toStdString();
}

// The diagnostics of a project that must fail validation, one "file:line:col: field: msg" each.
QStringList errors_of(const std::string& path, const std::vector<std::string>& overrides = {}) {
  try {
    load_project(path, overrides);
  } catch (const ProjectErrors& e) {
    QStringList out;
    for (const auto& d : e.diagnostics()) out << QString::fromStdString(d.to_string());
    // The exception text lists the same lines.
    if (QString::fromUtf8(e.what()) != out.join('\n')) qWarning("what() differs from the list");
    return out;
  } catch (const qatwb::Error& e) {
    return {QString("Error: ") + e.what()};
  }
  return {};
}

QString error_text(const std::string& path, const std::vector<std::string>& overrides = {}) {
  try {
    load_project(path, overrides);
  } catch (const qatwb::Error& e) {
    return QString::fromUtf8(e.what());
  }
  return {};
}

const char* kMinimal =
    "model:\n"
    "  preset: llama-tiny\n"
    "data:\n"
    "  sources:\n"
    "    - path: d.jsonl\n";

}  // namespace

class TestProjectYaml : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void minimal_project_gets_defaults() {
    QTemporaryDir dir;
    std::string p = write_file(dir, "mini.yaml", kMinimal);
    ProjectConfig c = load_project(p);
    QCOMPARE(c.file, p);
    QCOMPARE(c.name, std::string("mini"));  // default: the file's stem
    QCOMPARE(c.model.preset, std::string("llama-tiny"));
    QCOMPARE(c.data.sources.size(), size_t(1));
    QCOMPARE(c.data.sources[0].path, QDir(dir.path()).filePath("d.jsonl").toStdString());
    QCOMPARE(c.quant.bits, 4.0);
    QCOMPARE(c.train.lr, 1e-4);
    QCOMPARE(c.train.device, std::string("cpu"));
  }

  void every_field_is_read() {
    std::string p = fixture_path("good.yaml");
    ProjectConfig c = load_project(p);
    std::string dir = QFileInfo(QString::fromStdString(p)).absolutePath().toStdString();
    QCOMPARE(c.name, std::string("good-project"));
    QCOMPARE(c.description, std::string("every field set"));
    QCOMPARE(c.model.path, dir + "/models/tiny");
    QCOMPARE(c.model.tokenizer, dir + "/tok/tokenizer.json");
    QCOMPARE(c.model.seed, int64_t(7));
    QCOMPARE(c.data.sources.size(), size_t(2));
    QCOMPARE(c.data.sources[0].path, dir + "/corpus/a.jsonl");
    QCOMPARE(c.data.sources[0].text_field, std::string("body"));
    QCOMPARE(c.data.sources[0].weight, 2.0);
    QCOMPARE(c.data.sources[1].path, std::string("/abs/b.txt"));
    QCOMPARE(c.data.sources[1].text_field, std::string("text"));
    QCOMPARE(c.data.seed, int64_t(3));
    QCOMPARE(c.data.max_documents, int64_t(1000));
    QCOMPARE(c.data.max_tokens, int64_t(50000));
    QCOMPARE(c.data.heldout_fraction, 0.05);
    QVERIFY(c.data.stop_on_bad_line);
    QCOMPARE(c.tokenize.seq_len, int64_t(128));
    QVERIFY(c.tokenize.bos == qatwb::data::BosPolicy::Window);
    QVERIFY(!c.tokenize.eos_between_documents);
    QCOMPARE(c.tokenize.threads, 2);
    const auto& q = c.quant;
    QVERIFY(q.ternary());
    QVERIFY(q.granularity == qatwb::quant::Granularity::PerGroup);
    QCOMPARE(q.group_size, 64);
    QVERIFY(!q.symmetric);
    QVERIFY(q.scale_mode == qatwb::quant::ScaleMode::Frozen);
    QVERIFY(q.scale_init == qatwb::quant::ScaleInit::MseSearch);
    QVERIFY(q.surrogate == qatwb::quant::Surrogate::StableQat);
    QCOMPARE(q.params.amplitude, 0.2);
    QCOMPARE(q.params.fourier_order, 2);
    QCOMPARE(q.params.dsq_alpha, 0.3);
    QVERIFY(!q.params.dsq_learn_alpha);
    QCOMPARE(q.params.ewgs_delta, 0.01);
    QCOMPARE(q.params.lsq_grad_scale, 0.5);
    QCOMPARE(q.params.adaround_reg_weight, 0.5);
    QCOMPARE(q.params.adaround_beta_start, 10.0);
    QCOMPARE(q.params.adaround_beta_end, 1.5);
    QCOMPARE(q.params.adaround_reg_warmup, 0.3);
    QCOMPARE(q.schedule.size(), size_t(1));
    QCOMPARE(q.schedule[0].until, int64_t(10));
    QCOMPARE(*q.schedule[0].amplitude, 0.1);
    QVERIFY(!q.schedule[0].bits);
    QVERIFY(q.schedule[0].linear);
    QVERIFY(q.activations.kind == qatwb::quant::ActivationQuant::Kind::Pact);
    QVERIFY(q.activations.pact_signed);  // the default
    QCOMPARE(q.activations.pact_bits, 4);
    QCOMPARE(q.activations.pact_alpha_init, 3.5);
    QCOMPARE(q.activations.pact_l2, 0.001);
    QCOMPARE(q.include.size(), size_t(2));
    QCOMPARE(q.include[0], std::string(R"(^model\.layers\.0\.mlp\.\w+_proj$)"));
    QCOMPARE(q.exclude, std::vector<std::string>{"down_proj"});
    const auto& t = c.train;
    QCOMPARE(t.steps, int64_t(42));
    QCOMPARE(t.batch_size, int64_t(4));
    QCOMPARE(t.grad_accum, int64_t(2));
    QCOMPARE(t.lr, 3e-5);
    QCOMPARE(t.quant_lr, 1e-3);
    QCOMPARE(t.weight_decay, 0.01);
    QCOMPARE(t.beta1, 0.8);
    QCOMPARE(t.beta2, 0.99);
    QCOMPARE(t.eps, 1e-6);
    QCOMPARE(t.grad_clip, 0.5);
    QVERIFY(t.schedule.kind == ScheduleSection::Kind::Linear);
    QCOMPARE(t.schedule.warmup_steps, int64_t(5));
    QCOMPARE(t.schedule.min_lr_ratio, 0.1);
    QCOMPARE(t.seed, int64_t(11));
    QCOMPARE(t.device, std::string("cuda:1"));
    QVERIFY(t.dtype == qatwb::project::Precision::Bf16);
    QVERIFY(t.activation_checkpointing);
    QVERIFY(t.optimizer_states == qatwb::project::Precision::Bf16);
    QVERIFY(t.zero1);
    QCOMPARE(t.threads, 3);
    QCOMPARE(t.checkpoint_every, int64_t(10));
    QCOMPARE(t.max_bad_steps, int64_t(2));
    QCOMPARE(t.log_every, int64_t(5));
    QCOMPARE(t.detail_every, int64_t(0));
    QCOMPARE(t.spike_k, 4.5);
    QCOMPARE(t.spike_window, int64_t(20));
    QCOMPARE(c.eval.every, int64_t(20));
    QCOMPARE(c.eval.seq_len, int64_t(64));
    QCOMPARE(c.eval.max_windows, int64_t(16));
    QVERIFY(!c.eval.post_quant_ppl);
    QCOMPARE(c.eval.text, dir + "/heldout.txt");
    QVERIFY(c.runner.kind == qatwb::jobs::LauncherKind::Slurm);
    QCOMPARE(c.runner.host, std::string("login.example.org"));
    QCOMPARE(c.runner.remote_dir, std::string("/scratch/qat"));
    QCOMPARE(c.runner.partition, std::string("gpu"));
    QCOMPARE(c.runner.gpus, 2);
    QCOMPARE(c.runner.time_limit, std::string("02:00:00"));
  }

  void relative_paths_resolve_against_the_file() {
    QTemporaryDir dir;
    std::string p = write_file(dir, "sub/p.yaml",
                               "model:\n  path: ../models/m\n"
                               "data:\n  sources:\n    - path: ./d/x.jsonl\n"
                               "eval:\n  text: /abs/held.txt\n");
    ProjectConfig c = load_project(p);
    QString root = QFileInfo(dir.path()).canonicalFilePath();
    QCOMPARE(QString::fromStdString(c.model.path), root + "/models/m");
    QCOMPARE(QString::fromStdString(c.model.tokenizer), root + "/models/m/tokenizer.json");
    QCOMPARE(QString::fromStdString(c.data.sources[0].path), root + "/sub/d/x.jsonl");
    QCOMPARE(c.eval.text, std::string("/abs/held.txt"));
    // "run:<name>" names another run's model: not a path.
    std::string q =
        write_file(dir, "q.yaml", "model:\n  path: run:first\ndata:\n  sources:\n    - path: d\n");
    QCOMPARE(load_project(q).model.path, std::string("run:first"));
    QVERIFY(load_project(q).model.tokenizer.empty());
  }

  void every_error_reported_at_once() {
    std::string p = fixture_path("errors.yaml");
    QStringList e = errors_of(p);
    QString f = QString::fromStdString(p);
    QStringList expected = {
        f + ":4:11: model.preset: give exactly one of model.path and model.preset, not both",
        f + ":6:12: data.sources: needs at least one source",
        f + ":7:21: data.heldout_fraction: must be in (0, 1), got 1.5",
        f + ":9:12: tokenize.seq_len: must be >= 8, got 4",
        f + ":11:3: quant.bitz: unknown key 'bitz' (did you mean 'bits'?)",
        f + ":12:9: quant.bits: expected one of 1, 1.58, 2, 3, 4, 8, got '5'",
        f + ":14:15: quant.group_size: must be a power of two > 0, got 96",
        f + ":16:16: quant.surrogate_params.amplitude: must be in [0, 1/(sqrt2*pi) = "
            "0.2251), got 0.3",
        f + ":17:12: quant.surrogate_params.alpha: must be in (0, 0.5), got 0.7",
        f + ":19:10: train.steps: expected an integer, got 'abc'",
        f + ":20:7: train.lr: must be > 0, got 0",
        f + ":22:16: train.betas[1]: must be in [0, 1), got 1.5",
        f + ":21:11: train.device: expected cpu, cuda or cuda:N, got 'gpu'",
    };
    QCOMPARE(e, expected);
  }

  void wrong_types_and_unknown_keys() {
    QTemporaryDir dir;
    std::string p = write_file(dir, "t.yaml",
                               std::string(kMinimal) +
                                   "modle:\n  x: 1\n"
                                   "tokenize:\n  eos_between_documents: maybe\n  bos: [a]\n"
                                   "train:\n  schedule:\n    kind: cosin\n  batch_size: 2.5\n"
                                   "  device: {a: 1}\n"
                                   "quant:\n  surrogate: stabelqat\n  include: 'x'\n");
    QString f = QString::fromStdString(p);
    QStringList expected = {
        f + ":6:1: modle: unknown key 'modle' (did you mean 'model'?)",
        f + ":9:26: tokenize.eos_between_documents: expected true or false, got 'maybe'",
        f + ":10:8: tokenize.bos: expected one of none, document, window, got a list",
        f + ":17:14: quant.surrogate: expected one of ste, stableqat, dsq, lsq, pact, paretoq, "
            "ewgs, adaround, got 'stabelqat' (did you mean 'stableqat'?)",
        f + ":18:12: quant.include: expected a list of strings, got 'x'",
        f + ":15:11: train.device: expected a string, got a map",
        f + ":14:15: train.batch_size: expected an integer, got '2.5'",
        f + ":13:11: train.schedule.kind: expected one of constant, cosine, linear, got 'cosin' "
            "(did you mean 'cosine'?)",
    };
    QStringList got = errors_of(p);
    got.sort();
    expected.sort();
    QCOMPARE(got, expected);
  }

  void cross_field_rules() {
    QTemporaryDir dir;
    // mxfp4 is 4-bit: bits 3 is an error, no bits means 4.
    std::string a =
        write_file(dir, "a.yaml", std::string(kMinimal) + "quant:\n  format: mxfp4\n  bits: 3\n");
    QCOMPARE(errors_of(a), QStringList{QString::fromStdString(a) +
                                       ":8:9: quant.bits: mxfp4 is 4-bit by definition; remove "
                                       "bits or set it to 4, got 3"});
    std::string b =
        write_file(dir, "b.yaml", std::string(kMinimal) + "quant:\n  format: nvfp4\n  bits: 4\n");
    QCOMPARE(load_project(b).quant.bits, 4.0);
    std::string b2 = write_file(dir, "b2.yaml", std::string(kMinimal) + "quant:\n  bits: 2\n");
    QCOMPARE(load_project(b2, {"quant.format=nvfp4", "quant.bits=4"}).quant.bits, 4.0);
    QCOMPARE(errors_of(b2, {"quant.format=nvfp4"}).size(), 1);
    // per_group needs an explicit group_size.
    std::string c =
        write_file(dir, "c.yaml", std::string(kMinimal) + "quant:\n  granularity: per_group\n");
    QCOMPARE(errors_of(c), QStringList{QString::fromStdString(c) +
                                       ":7:16: quant.granularity: per_group requires group_size "
                                       "(e.g. group_size: 128)"});
    // Neither model.path nor model.preset; no data at all.
    std::string d = write_file(dir, "d.yaml", "name: d\nmodel:\n  seed: 1\n");
    QCOMPARE(errors_of(d),
             (QStringList{QString::fromStdString(d) +
                              ":3:3: model: needs exactly one of path or preset (neither is set)",
                          QString::fromStdString(d) +
                              ":1:1: data.sources: needs at least one source (- path: "
                              "corpus.jsonl)"}));
    // Devices, the ssh runner's host, ternary bits and amplitude bounds.
    std::string e = write_file(dir, "e.yaml",
                               std::string(kMinimal) +
                                   "train:\n  device: cuda:0\n"
                                   "quant:\n  bits: 1.58\n  surrogate_params:\n"
                                   "    amplitude: 0\n");
    QVERIFY(load_project(e).quant.ternary());
    QCOMPARE(errors_of(e, {"train.device=cuda:x"}).size(), 1);
    QCOMPARE(errors_of(e, {"quant.surrogate_params.amplitude=0.225"}).size(), 0);
    QCOMPARE(errors_of(e, {"quant.surrogate_params.amplitude=0.2251"}).size(), 1);
    QCOMPARE(errors_of(e, {"quant.surrogate_params.amplitude=-0.1"}).size(), 1);
    QCOMPARE(errors_of(e, {"runner.kind=ssh"}),
             QStringList{"override 'runner.kind=ssh': runner.host: the ssh runner needs host "
                         "(user@host[:port])"});
    QCOMPARE(errors_of(e, {"quant.group_size=0"}).size(), 1);
    QCOMPARE(errors_of(e, {"quant.group_size=32"}).size(), 0);
    QCOMPARE(errors_of(e, {"tokenize.seq_len=8"}).size(), 0);
    QCOMPARE(errors_of(e, {"tokenize.seq_len=7"}).size(), 1);
    QCOMPARE(errors_of(e, {"data.heldout_fraction=0"}).size(), 1);
    QCOMPARE(errors_of(e, {"quant.include=['(unclosed']"}).size(), 1);
  }

  // quant.format: gguf with quant.gguf_type; errors at file:line:col; project check prints the
  // type and its bits per weight (Q2_K: 84 bytes per 256 weights = 2.625) and refuses a module
  // whose rows are not whole blocks.
  void gguf_format_rules() {
    QTemporaryDir dir;
    std::string a = write_file(
        dir, "a.yaml", std::string(kMinimal) + "quant:\n  format: gguf\n  gguf_type: q2_k\n");
    const auto qa = load_project(a).quant;
    QVERIFY(qa.format == qatwb::quant::Format::Gguf);
    QVERIFY(qa.gguf_type == qatwb::quant::GgmlQuant::Q2_K);
    QCOMPARE(qatwb::quant::bits_per_weight(qa, 256, 256), 2.625);
    QCOMPARE(qatwb::quant::describe_module_scheme(qa), std::string("gguf q2_k ste"));
    std::string b =
        write_file(dir, "b.yaml", std::string(kMinimal) + "quant:\n  gguf_type: q4_k\n");
    QCOMPARE(errors_of(b), QStringList{QString::fromStdString(b) +
                                       ":7:14: quant.gguf_type: applies to format: gguf, the "
                                       "format is int"});
    std::string c = write_file(dir, "c.yaml", std::string(kMinimal) + "quant:\n  format: gguf\n");
    QCOMPARE(errors_of(c).size(), 1);
    QVERIFY(errors_of(c)[0].startsWith(QString::fromStdString(c) +
                                       ":7:11: quant.format: gguf requires gguf_type"));
    std::string d = write_file(dir, "d.yaml",
                               std::string(kMinimal) +
                                   "quant:\n  format: gguf\n  gguf_type: q9_k\n  bits: 2\n"
                                   "  group_size: 32\n");
    const QStringList ed = errors_of(d);
    QCOMPARE(ed.size(), 3);
    QVERIFY2(ed[0].contains(":8:14: quant.gguf_type:") && ed[1].contains(":9:9: quant.bits:") &&
                 ed[2].contains(":10:15: quant.group_size: does not apply to format gguf"),
             qPrintable(ed.join('\n')));
    // Round trip through to_yaml keeps the type.
    std::string e = write_file(dir, "e.yaml", to_yaml(load_project(a)));
    QVERIFY(load_project(e).quant.gguf_type == qatwb::quant::GgmlQuant::Q2_K);
    // llama-tiny's down_proj has 688 inputs: not whole super-blocks.
    auto chk =
        qatwb::test::run_qatwb({"project", "check", QString::fromStdString(a), "--no-path-check"});
    QCOMPARE(chk.exit_code, 1);
    QVERIFY2(chk.err.contains("quant.gguf_type: q2_k blocks of 256 do not divide the row of "
                              "model.layers.0.mlp.down_proj (688 inputs)"),
             chk.err.constData());
    std::string f = write_file(dir, "f.yaml",
                               std::string(kMinimal) +
                                   "quant:\n  format: gguf\n  gguf_type: q2_k\n"
                                   "  exclude: ['down_proj']\n");
    auto ok =
        qatwb::test::run_qatwb({"project", "check", QString::fromStdString(f), "--no-path-check"});
    QVERIFY2(ok.exit_code == 0, ok.err.constData());
    QVERIFY2(ok.err.contains("gguf q2_k ste") && ok.err.contains("quantized Linears 2.625"),
             ok.err.constData());
  }

  void quant_audit_rules() {
    QTemporaryDir dir;
    // StableQAT's Fourier order above 7 fails here, with its line, not at run time.
    std::string a = write_file(dir, "a.yaml",
                               std::string(kMinimal) +
                                   "quant:\n  surrogate: stableqat\n  surrogate_params:\n"
                                   "    fourier_order: 8\n");
    QCOMPARE(errors_of(a), QStringList{QString::fromStdString(a) +
                                       ":9:20: quant.surrogate_params.fourier_order: must be in "
                                       "[0, 7] (terms m = 0..M), got 8"});
    QCOMPARE(load_project(a, {"quant.surrogate_params.fourier_order=7"}).quant.params.fourier_order,
             7);
    // Unsigned PACT on Llama Linear inputs (all signed) is refused where it is written.
    std::string b = write_file(dir, "b.yaml",
                               std::string(kMinimal) +
                                   "quant:\n  surrogate: pact\n  activations:\n"
                                   "    signed: false\n");
    const QStringList eb = errors_of(b);
    QCOMPARE(eb.size(), 1);
    QVERIFY2(eb[0].startsWith(QString::fromStdString(b) +
                              ":9:13: quant.activations.signed: unsigned PACT clips"),
             qPrintable(eb[0]));
    QCOMPARE(errors_of(b, {"quant.activations.kind=pact", "quant.surrogate=ste"}).size(), 1);
    // Without PACT the flag is harmless; signed PACT is the default.
    QCOMPARE(errors_of(b, {"quant.surrogate=ste"}).size(), 0);
    QVERIFY(load_project(b, {"quant.activations.signed=true"}).quant.activations.pact_signed);
    // DSQ's scale gradient: chain (default) or lsq; anything else names the choices.
    std::string c = write_file(dir, "c.yaml", std::string(kMinimal) + "quant:\n  surrogate: dsq\n");
    QVERIFY(load_project(c).quant.params.dsq_scale_grad == qatwb::quant::DsqScaleGrad::Chain);
    QVERIFY(
        load_project(c, {"quant.surrogate_params.scale_grad=lsq"}).quant.params.dsq_scale_grad ==
        qatwb::quant::DsqScaleGrad::Lsq);
    QCOMPARE(errors_of(c, {"quant.surrogate_params.scale_grad=soft"}).size(), 1);
    // The scale inits by name; scale_init does not apply to min/max scales.
    for (const char* init :
         {"auto", "stableqat", "max_over_qp", "max_over_qn", "max_abs", "mean_abs", "lsq", "mse"}) {
      const auto parsed = qatwb::parse_enum<qatwb::quant::ScaleInit>(init);
      QVERIFY(parsed);
      QVERIFY(load_project(c, {std::string("quant.scale_init=") + init}).quant.scale_init ==
              *parsed);
    }
    std::string d = write_file(
        dir, "d.yaml", std::string(kMinimal) + "quant:\n  scale: minmax\n  scale_init: lsq\n");
    const QStringList ed = errors_of(d);
    QCOMPARE(ed.size(), 1);
    QVERIFY2(ed[0].startsWith(QString::fromStdString(d) + ":8:15: quant.scale_init: applies to "),
             qPrintable(ed[0]));
    QCOMPARE(errors_of(d, {"quant.scale_init=auto"}).size(), 0);
  }

  void syntax_error_names_file_line_col() {
    std::string p = fixture_path("syntax_error.yaml");
    QString msg = error_text(p);
    QVERIFY2(msg.startsWith(QString::fromStdString(p) + ":"), qPrintable(msg));
    QVERIFY2(msg.contains("YAML syntax error"), qPrintable(msg));
    // The unclosed flow list starts on line 7 and the parser notices by line 8 or 9.
    QRegularExpression re(":(\\d+):(\\d+): ");
    auto m = re.match(msg);
    QVERIFY(m.hasMatch());
    int line = m.captured(1).toInt();
    QVERIFY2(line >= 7 && line <= 9, qPrintable(msg));
    QTemporaryDir dir;
    std::string tab = write_file(dir, "tab.yaml", "name: x\nmodel:\n  preset: a\n   bad: : :\n");
    QVERIFY(error_text(tab).startsWith(QString::fromStdString(tab) + ":4:"));
    QVERIFY(error_text(dir.filePath("missing.yaml").toStdString()).contains("cannot open"));
    std::string dup = write_file(dir, "dup.yaml", "name: x\nname: y\n");
    QCOMPARE(error_text(dup), QString::fromStdString(dup) + ":2:1: duplicate key 'name'");
  }

  void alias_bombs_are_refused() {
    // Issue #15: anchors a0..a9, each a list of 9 aliases of the level below, stand for 9^9
    // values; copying every alias made `project check` grow past 12 GB.
    std::string bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n";
    for (int i = 1; i < 10; ++i) {
      bomb += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
      for (int k = 0; k < 9; ++k) bomb += (k ? ", *a" : "*a") + std::to_string(i - 1);
      bomb += "]\n";
    }
    QTemporaryDir dir;
    std::string p = write_file(dir, "bomb.yaml", bomb);
    QElapsedTimer t;
    t.start();
    QString msg = error_text(p);
    QVERIFY2(msg.startsWith(QString::fromStdString(p) + ":"), qPrintable(msg));
    QVERIFY2(msg.contains("expands to more than 100000 values"), qPrintable(msg));
    QRegularExpression line(":(\\d+):\\d+: ");
    QVERIFY(line.match(msg).hasMatch());
    // The same parser reads --set values.
    std::string ok = write_file(dir, "ok.yaml", kMinimal);
    std::string flow = "[&b0 [x, x, x, x, x, x, x, x, x]";
    for (int i = 1; i < 10; ++i) {
      flow += ", &b" + std::to_string(i) + " [";
      for (int k = 0; k < 9; ++k) flow += (k ? ", *b" : "*b") + std::to_string(i - 1);
      flow += "]";
    }
    flow += "]";
    msg = error_text(ok, {"data.seed=" + flow});
    QVERIFY2(msg.startsWith("override 'data.seed=") && msg.contains("not valid YAML") &&
                 msg.contains("expands to more than 100000 values"),
             qPrintable(msg.left(300)));
    // Deep nesting is capped as well, with the place it starts.
    std::string deep = "name: x\nd: " + std::string(100, '[') + std::string(100, ']') + "\n";
    std::string dp = write_file(dir, "deep.yaml", deep);
    msg = error_text(dp);
    QVERIFY2(
        msg.startsWith(QString::fromStdString(dp) + ":2:") && msg.contains("nests deeper than 64"),
        qPrintable(msg));
    QVERIFY2(t.elapsed() < 10000, "the caps must stop expansion early");
  }

  void invalid_utf8_is_refused_with_its_place() {
    // Found by the sweep_yaml fuzz target (fuzz/seeds/sweep_yaml/invalid_utf8.yaml): yaml-cpp
    // passes stray bytes through, and writing such a value to JSON later (a sweep point's
    // override, the run's config) threw nlohmann's type_error instead of a qatwb::Error.
    QTemporaryDir dir;
    std::string p = write_file(dir, "latin1.yaml", "name: x\ntrain:\n  note: caf\xE9 au lait\n");
    QString msg = error_text(p);
    QVERIFY2(msg.startsWith(QString::fromStdString(p) + ":3:9: the value is not valid UTF-8") &&
                 msg.contains("byte 3"),
             qPrintable(msg));
    p = write_file(dir, "key.yaml", "name: x\n\x87k: 1\n");
    msg = error_text(p);
    QVERIFY2(msg.startsWith(QString::fromStdString(p) + ":2:1: the key is not valid UTF-8"),
             qPrintable(msg));
    // The same check for a --set value; valid UTF-8 (here 3 bytes and 4 bytes) passes through.
    std::string ok = write_file(dir, "ok.yaml", kMinimal);
    msg = error_text(ok, {"name=[a\xC3]"});
    QVERIFY2(msg.startsWith("override 'name=") && msg.contains("not valid UTF-8"), qPrintable(msg));
    // The override is named once, not again inside the reason (a long --set read twice).
    QVERIFY2(msg.count("override '") == 1 &&
                 msg.contains("the value is not valid YAML: the value is not valid UTF-8"),
             qPrintable(msg));
    const auto root =
        qatwb::project::parse_yaml("k: \"\xE2\x82\xAC \xF0\x9F\x98\x80\"\n", "u.yaml", ".");
    QCOMPARE(root.find("k")->scalar, std::string("\xE2\x82\xAC \xF0\x9F\x98\x80"));
  }

  void every_duplicate_key_is_reported() {
    QTemporaryDir dir;
    std::string p = write_file(dir, "dups.yaml",
                               "name: x\nname: y\ntrain:\n  steps: 3\n  lr: 1\n  steps: 4\n"
                               "train: {}\n");
    const QString msg = error_text(p);
    const QString f = QString::fromStdString(p);
    QCOMPARE(msg, f + ":2:1: duplicate key 'name'\n" + f + ":6:3: duplicate key 'steps'\n" + f +
                      ":7:1: duplicate key 'train'");
  }

  void project_check_requires_the_paths() {
    // Issue #15: a missing model.path passed `project check`; the run then failed after making
    // its folder. Every path the run opens is checked, at the line that names it.
    QTemporaryDir dir;
    write_file(dir, "data/a.jsonl", "{\"text\": \"x\"}\n");
    write_file(dir, "model/config.json", "{}");
    std::string p = write_file(dir, "paths.yaml",
                               "name: paths\n"
                               "model:\n"
                               "  path: nowhere\n"
                               "  tokenizer: tok/tokenizer.json\n"
                               "data:\n"
                               "  sources:\n"
                               "    - path: data/a.jsonl\n"
                               "    - path: data/b.jsonl\n"
                               "eval:\n"
                               "  text: data\n");
    const QString f = QString::fromStdString(p);
    auto r = qatwb::test::run_qatwb({"project", "check", f});
    QCOMPARE(r.exit_code, 1);
    const QString err = QString::fromUtf8(r.err);
    QVERIFY2(err.contains(f + ":3:9: model.path: no such folder '" + dir.path() + "/nowhere'"),
             qPrintable(err));
    QVERIFY2(err.contains(f + ":4:14: model.tokenizer: no such file"), qPrintable(err));
    QVERIFY2(err.contains(f + ":8:13: data.sources[1].path: no such file or folder"),
             qPrintable(err));
    QVERIFY2(err.contains(f + ":10:9: eval.text: '"), qPrintable(err));
    QVERIFY(!err.contains("data.sources[0]"));
    QVERIFY(err.contains("4 errors"));
    // A folder without tokenizer.json when model.tokenizer is not given.
    QVERIFY(QFile::exists(dir.filePath("model/config.json")));
    std::string q = write_file(dir, "paths2.yaml",
                               "name: p2\nmodel: {path: model}\n"
                               "data: {sources: [{path: data/a.jsonl}]}\n");
    r = qatwb::test::run_qatwb({"project", "check", QString::fromStdString(q)});
    QCOMPARE(r.exit_code, 1);
    QVERIFY2(r.err.contains("model.path: '" + dir.filePath("model").toUtf8() +
                            "' has no tokenizer.json"),
             r.err.constData());
    // --no-path-check: the schema alone (a project for another machine).
    r = qatwb::test::run_qatwb({"project", "check", f, "--no-path-check"});
    QVERIFY2(r.exit_code == 0, r.err.constData());
    // The library default stays schema-only; paths are an explicit request.
    QVERIFY(errors_of(p).isEmpty());
  }

  void extends_merges_key_by_key() {
    std::string p = fixture_path("variant_w2.yaml");
    ProjectConfig c = load_project(p);
    QString fixtures = QDir::cleanPath(qatwb::test::fixture("projects"));
    QCOMPARE(c.name, std::string("llama-w2"));
    QCOMPARE(c.quant.bits, 2.0);
    QVERIFY(c.quant.surrogate == qatwb::quant::Surrogate::StableQat);
    QVERIFY(c.quant.granularity == qatwb::quant::Granularity::PerChannel);  // from the base
    QCOMPARE(c.train.steps, int64_t(1000));
    QVERIFY(c.train.schedule.kind == ScheduleSection::Kind::Cosine);
    QCOMPARE(c.train.schedule.warmup_steps, int64_t(0));
    // The base's relative paths are relative to the base file (recipes/../models/llama).
    QCOMPARE(QString::fromStdString(c.model.path), fixtures + "/models/llama");
    QCOMPARE(QString::fromStdString(c.data.sources[0].path), fixtures + "/data/mix.jsonl");
    QCOMPARE(c.file, p);
    // A mistake in the base names the base file.
    QStringList e = errors_of(fixture_path("base_error.yaml"));
    QCOMPARE(e, QStringList{QString::fromStdString(fixture_path("recipes/bad_base.yaml")) +
                            ":7:7: train.lr: must be > 0, got -1"});
    QVERIFY(error_text(fixture_path("cycle_a.yaml")).contains("cycle"));
  }

  void overrides_apply_before_typing() {
    std::string p = fixture_path("variant_w2.yaml");
    ProjectConfig c =
        load_project(p, {"quant.bits=3", "train.schedule.kind=linear", "data.sources[0].weight=2.5",
                         "eval.every=7", "quant.exclude=[lm_head, 'embed']"});
    QCOMPARE(c.quant.bits, 3.0);
    QVERIFY(c.train.schedule.kind == ScheduleSection::Kind::Linear);
    QCOMPARE(c.data.sources[0].weight, 2.5);
    QCOMPARE(c.eval.every, int64_t(7));
    QCOMPARE(c.quant.exclude, (std::vector<std::string>{"lm_head", "embed"}));
    QCOMPARE(errors_of(p, {"quant.bits=abc"}),
             QStringList{"override 'quant.bits=abc': quant.bits: expected a number, got 'abc'"});
    QCOMPARE(errors_of(p, {"quant.bitz=3"}),
             QStringList{"override 'quant.bitz=3': quant.bitz: unknown key 'bitz' (did you mean "
                         "'bits'?)"});
    QVERIFY(error_text(p, {"quant.bits"}).startsWith("override 'quant.bits': expected KEY=VALUE"));
    QVERIFY(error_text(p, {"name.x=1"}).startsWith("override 'name.x=1': name is not a map"));
    QVERIFY(error_text(p, {"data.sources[5].weight=1"}).contains("has no element [5]"));
    // Overrides also work on the tree directly, for a sweep that builds many variants.
    ConfigNode tree = load_yaml_tree(p);
    apply_override(tree, "train.steps=5");
    QCOMPARE(type_project(tree, p).train.steps, int64_t(5));
  }

  void to_yaml_round_trips() {
    for (const char* name : {"good.yaml", "variant_w2.yaml"}) {
      ProjectConfig a = load_project(fixture_path(name));
      QTemporaryDir dir;
      std::string text = to_yaml(a);
      std::string p = write_file(dir, "resolved.yaml", text);
      ProjectConfig b = load_project(p);
      QCOMPARE(to_json(b), to_json(a));
      std::string again = to_yaml(b);
      QCOMPARE(again.substr(again.find('\n')), text.substr(text.find('\n')));
      QCOMPARE(b.quant.include, a.quant.include);
      QCOMPARE(b.train.lr, a.train.lr);
    }
    // JSON keeps the types: numbers are numbers, booleans booleans.
    auto j = nlohmann::json::parse(to_json(load_project(fixture_path("good.yaml"))));
    QVERIFY(j["quant"]["bits"].is_number_float());
    QCOMPARE(j["quant"]["bits"].get<double>(), 1.58);
    QVERIFY(j["train"]["steps"].is_number_integer());
    QVERIFY(j["train"]["activation_checkpointing"].is_boolean());
    QCOMPARE(j["train"]["betas"][1].get<double>(), 0.99);
    QCOMPARE(j["runner"]["time_limit"].get<std::string>(), std::string("02:00:00"));
    QCOMPARE(format_number(0.1), std::string("0.1"));
    QCOMPARE(format_number(3), std::string("3.0"));
    QCOMPARE(format_number(1e-8), std::string("1e-08"));
  }

  void template_is_the_resource_and_loads() {
    QFile f(qatwb::test::source_dir() + "/resources/templates/project.yaml");
    QVERIFY(f.open(QIODevice::ReadOnly));
    QCOMPARE(QString::fromUtf8(f.readAll()), QString::fromUtf8(project_template()));
    QTemporaryDir dir;
    std::string p = write_file(dir, "demo.yaml", render_project_template("demo"));
    ProjectConfig c = load_project(p);
    QCOMPARE(c.name, std::string("demo"));
    QCOMPARE(c.model.preset, std::string("llama-tiny"));
    QVERIFY_THROWS_EXCEPTION(qatwb::Error, render_project_template("bad name"));
  }

  void cli_project_check_and_new() {
    using qatwb::test::run_qatwb;
    // good.yaml names paths that exist nowhere: the schema alone is checked.
    auto ok = run_qatwb(
        {"project", "check", QString::fromStdString(fixture_path("good.yaml")), "--no-path-check"});
    QVERIFY2(ok.exit_code == 0, ok.err.constData());
    QVERIFY(ok.out.contains("name: \"good-project\""));
    auto js = run_qatwb({"project", "check", QString::fromStdString(fixture_path("good.yaml")),
                         "--json", "--set", "quant.bits=3", "--no-path-check"});
    QCOMPARE(js.exit_code, 0);
    auto j = nlohmann::json::parse(js.out.toStdString());
    QCOMPARE(j["quant"]["bits"].get<double>(), 3.0);

    std::string bad = fixture_path("errors.yaml");
    auto err = run_qatwb({"project", "check", QString::fromStdString(bad), "--no-path-check"});
    QCOMPARE(err.exit_code, 1);
    QVERIFY(err.out.isEmpty());
    QVERIFY2(err.err.contains((bad + ":12:9: quant.bits:").c_str()), err.err.constData());
    QVERIFY(err.err.contains((bad + ":19:10: train.steps:").c_str()));
    auto errj =
        run_qatwb({"project", "check", QString::fromStdString(bad), "--json", "--no-path-check"});
    QCOMPARE(errj.exit_code, 1);
    auto ej = nlohmann::json::parse(errj.out.toStdString());
    QCOMPARE(ej["ok"].get<bool>(), false);
    QCOMPARE(ej["errors"].size(), size_t(13));
    QCOMPARE(ej["errors"][0]["line"].get<int>(), 4);

    std::string syn = fixture_path("syntax_error.yaml");
    auto se = run_qatwb({"project", "check", QString::fromStdString(syn)});
    QCOMPARE(se.exit_code, 1);
    QVERIFY2(se.err.contains((syn + ":").c_str()), se.err.constData());

    QTemporaryDir dir;
    QString out = dir.filePath("new.yaml");
    auto nw = run_qatwb({"project", "new", "fresh", "--out", out});
    QVERIFY2(nw.exit_code == 0, nw.err.constData());
    QCOMPARE(load_project(out.toStdString()).name, std::string("fresh"));
    auto again = run_qatwb({"project", "new", "fresh", "--out", out});
    QVERIFY(again.exit_code != 0);  // never overwrites
    auto to_stdout = run_qatwb({"project", "new", "x"});
    QCOMPARE(to_stdout.exit_code, 0);
    QVERIFY(to_stdout.out.startsWith("# qatwb project"));
  }
};

QTEST_GUILESS_MAIN(TestProjectYaml)
#include "tst_project_yaml.moc"
