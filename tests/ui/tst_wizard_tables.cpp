// The wizard and the project parser agree because they share core's tables and patterns: the
// same lists of good and bad values (project names, devices, Slurm time limits and accounts,
// module regexes, override and schedule bits) go to the parser (a project file holding the
// value) and to the wizard's own validator (the field typed in), and both accept or refuse each
// alike. Every combo box lists its core table's names (with the descriptions as tooltips), the
// presets are core's, and the surrogate fields are enabled by the surrogate table's rules.
#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFile>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QRadioButton>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QTest>

#include "core/model/llama_config.h"
#include "core/project/field_patterns.h"
#include "core/project/project_template.h"
#include "core/project/project_yaml.h"
#include "ui/wizard/project_wizard.h"

using namespace qatwb;
using qatwb::ui::ProjectWizard;

namespace {

const char* kMinimal =
    "model: {preset: llama-micro}\n"
    "data: {sources: [{path: d.jsonl}]}\n";

// A YAML single-quoted scalar.
std::string quoted(const std::string& v) {
  std::string out = "'";
  for (char c : v) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

}  // namespace

class TestWizardTables : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() { QVERIFY(tmp_.isValid()); }
  void project_names();
  void devices();
  void slurm_time_limits_and_accounts();
  void module_regexes();
  void override_and_schedule_bits();
  void combo_boxes_list_the_tables();
  void presets_are_cores();
  void surrogate_fields_follow_the_table();

 private:
  // Whether the parser accepts `yaml` (the minimal project plus these lines), and its messages.
  bool parser_accepts(const std::string& yaml, QString* why = nullptr) {
    const QString path = tmp_.filePath(QString("p%1.yaml").arg(++files_));
    QFile f(path);
    if (!f.open(QIODevice::WriteOnly)) qFatal("cannot write %s", qPrintable(path));
    f.write((std::string(kMinimal) + yaml).c_str());
    f.close();
    try {
      project::load_project(path.toStdString());
      return true;
    } catch (const std::exception& e) {
      if (why) *why = QString::fromUtf8(e.what());
      return false;
    }
  }
  template <class W>
  static W* field(QObject& page, const char* name) {
    W* f = page.findChild<W*>(name);
    if (!f) qFatal("no field %s", name);
    return f;
  }
  // Feeds every value to the parser and to the wizard; both must give `good`.
  template <class Wizard, class Parser>
  void agree(const QStringList& values, bool good, Wizard wizard_accepts, Parser yaml_for) {
    for (const QString& v : values) {
      QString why;
      const bool parser = parser_accepts(yaml_for(v.toStdString()), &why);
      const bool wizard = wizard_accepts(v);
      QVERIFY2(parser == good, qPrintable("parser on '" + v + "': " + why));
      QVERIFY2(wizard == good, qPrintable("wizard on '" + v + "'"));
    }
  }

  QTemporaryDir tmp_;
  int files_ = 0;
};

void TestWizardTables::project_names() {
  ui::ModelPage page;
  field<QRadioButton>(page, "use_preset")->setChecked(true);
  field<QLineEdit>(page, "file")->setText(tmp_.filePath("new.yaml"));
  auto wizard = [&](const QString& v) {
    field<QLineEdit>(page, "name")->setText(v);
    return page.isComplete();
  };
  auto yaml = [](const std::string& v) { return "name: " + quoted(v) + "\n"; };
  const QStringList good = {"a", "llama-w2-stableqat", "x_1.2", "0abc", "_x", "A.B-c_d"};
  const QStringList bad = {"", ".hidden", "-x", "a b", "a/b", "caf\u00e9", "x:y"};
  agree(good, true, wizard, yaml);
  agree(bad, false, wizard, yaml);
  // `qatwb project new NAME` applies the same rule.
  for (const QString& v : good) QVERIFY(!project::render_project_template(v.toStdString()).empty());
  for (const QString& v : bad)
    QVERIFY_THROWS_EXCEPTION(std::exception, project::render_project_template(v.toStdString()));
}

void TestWizardTables::devices() {
  ui::TrainPage page;
  auto wizard = [&](const QString& v) {
    field<QComboBox>(page, "device")->setCurrentText(v);
    return page.isComplete();
  };
  auto yaml = [](const std::string& v) { return "train: {device: " + quoted(v) + "}\n"; };
  agree({"cpu", "cuda", "cuda:0", "cuda:12"}, true, wizard, yaml);
  agree({"", "gpu", "CPU", "cuda:", "cuda:x", "cuda:1:2", "cpu ", "mps"}, false, wizard, yaml);
}

void TestWizardTables::slurm_time_limits_and_accounts() {
  ui::RunnerPage page;
  field<QComboBox>(page, "runner_kind")->setCurrentText("slurm");
  auto time_wizard = [&](const QString& v) {
    field<QLineEdit>(page, "time_limit")->setText(v);
    const bool ok = page.isComplete();
    field<QLineEdit>(page, "time_limit")->clear();
    return ok;
  };
  auto time_yaml = [](const std::string& v) {
    return "runner: {kind: slurm, time_limit: " + quoted(v) + "}\n";
  };
  agree({"", "04:00:00", "1-00:00:00", "90", "30:00", "2-12", "1-2:30", "100:00:00"}, true,
        time_wizard, time_yaml);
  agree({"4h", "1:2", "1--2", "abc", "04:00:00:00", "-1", "1-", "1000:00"}, false, time_wizard,
        time_yaml);
  auto account_wizard = [&](const QString& v) {
    field<QLineEdit>(page, "account")->setText(v);
    const bool ok = page.isComplete();
    field<QLineEdit>(page, "account")->clear();
    return ok;
  };
  auto account_yaml = [](const std::string& v) {
    return "runner: {kind: slurm, account: " + quoted(v) + "}\n";
  };
  agree({"", "proj1", "my-acct", "a.b_c"}, true, account_wizard, account_yaml);
  agree({"my acct", "a b c"}, false, account_wizard, account_yaml);
}

void TestWizardTables::module_regexes() {
  ui::QuantPage page;
  auto wizard = [&](const QString& v) {
    field<QPlainTextEdit>(page, "exclude")->setPlainText(v);
    const bool ok = page.isComplete();
    field<QPlainTextEdit>(page, "exclude")->clear();
    return ok;
  };
  auto yaml = [](const std::string& v) { return "quant: {exclude: [" + quoted(v) + "]}\n"; };
  const QStringList good = {"mlp\\.down_proj$", "^model\\.layers\\.0\\.", "(q|k)_proj",
                            "layers\\.[0-3]\\."};
  const QStringList bad = {"(", "[a-", "*x", "a{2,1}", "(?<x>a)"};
  agree(good, true, wizard, yaml);
  agree(bad, false, wizard, yaml);
  // The per-module overrides' patterns go through the same check.
  for (const QString& v : good) {
    QString error;
    ui::QuantPage::parse_overrides(v + " 4", &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QVERIFY(parser_accepts("quant: {overrides: [{match: " + quoted(v.toStdString()) +
                           ", bits: 4}]}\n"));
  }
  for (const QString& v : bad) {
    QString error;
    ui::QuantPage::parse_overrides(v + " 4", &error);
    QVERIFY(!error.isEmpty());
    QVERIFY(!parser_accepts("quant: {overrides: [{match: " + quoted(v.toStdString()) +
                            ", bits: 4}]}\n"));
  }
}

void TestWizardTables::override_and_schedule_bits() {
  auto override_wizard = [](const QString& v) {
    QString error;
    ui::QuantPage::parse_overrides("mlp\\.down_proj$ " + v, &error);
    return error.isEmpty();
  };
  auto override_yaml = [](const std::string& v) {
    return "quant: {overrides: [{match: x, bits: " + v + "}]}\n";
  };
  agree({"1", "1.58", "2", "3", "4", "8"}, true, override_wizard, override_yaml);
  agree({"0", "5", "16", "1.5", "x"}, false, override_wizard, override_yaml);
  auto schedule_wizard = [](const QString& v) {
    QString error;
    ui::QuantPage::parse_schedule(v + ":10", &error);
    return error.isEmpty();
  };
  auto schedule_yaml = [](const std::string& v) {
    return "quant: {bits: 2, schedule: [{until: 10, bits: " + v + "}]}\n";
  };
  agree({"2", "3", "4", "8"}, true, schedule_wizard, schedule_yaml);
  agree({"1", "1.58", "5", "16"}, false, schedule_wizard, schedule_yaml);
}

void TestWizardTables::combo_boxes_list_the_tables() {
  ProjectWizard w;
  auto names = [](QComboBox* box) {
    std::vector<std::string> out;
    for (int i = 0; i < box->count(); ++i) out.push_back(box->itemData(i).toString().toStdString());
    return out;
  };
  auto check = [&](const char* name, const std::vector<std::string>& want) {
    auto* box = field<QComboBox>(w, name);
    QCOMPARE(names(box), want);
    // Each item's tooltip is its table description.
    for (int i = 0; i < box->count(); ++i)
      if (box->itemData(i).toString() != "off")
        QVERIFY2(!box->itemData(i, Qt::ToolTipRole).toString().isEmpty(), name);
  };
  check("format", enum_names<quant::Format>());
  check("granularity", enum_names<quant::Granularity>());
  check("scale", enum_names<quant::ScaleMode>());
  check("scale_init", enum_names<quant::ScaleInit>());
  check("surrogate", enum_names<quant::Surrogate>());
  check("dsq_scale_grad", enum_names<quant::DsqScaleGrad>());
  check("act_kind", enum_names<quant::ActivationQuant::Kind>());
  check("bos", enum_names<data::BosPolicy>());
  check("schedule", enum_names<project::ScheduleSection::Kind>());
  check("dtype", enum_names<project::Precision>());
  check("optimizer_states", enum_names<project::Precision>());
  check("runner_kind", enum_names<jobs::LauncherKind>());
  check("easgd_mode", enum_names<project::EasgdSection::Mode>());
  auto distill = enum_names<project::DistillSection::Loss>();
  distill.insert(distill.begin(), "off");
  check("distill", distill);
  QCOMPARE(field<QComboBox>(w, "surrogate")->itemData(1, Qt::ToolTipRole).toString(),
           QString::fromUtf8(enum_help(quant::Surrogate::StableQat)));
  // The defaults are ProjectConfig's.
  const project::ProjectConfig defaults;
  const project::ProjectConfig c = w.config();
  QVERIFY(c.quant.granularity == defaults.quant.granularity);
  QVERIFY(c.quant.scale_mode == defaults.quant.scale_mode);
  QVERIFY(c.quant.surrogate == defaults.quant.surrogate);
  QVERIFY(c.tokenize.bos == defaults.tokenize.bos);
  QVERIFY(c.train.schedule.kind == defaults.train.schedule.kind);
  QVERIFY(c.train.dtype == defaults.train.dtype);
  QVERIFY(c.runner.kind == defaults.runner.kind);
  QVERIFY(!c.train.distill.enabled);
  QCOMPARE(c.quant.bits, defaults.quant.bits);
  QStringList bits;
  auto* bits_box = field<QComboBox>(w, "bits");
  for (int i = 0; i < bits_box->count(); ++i) bits << bits_box->itemText(i);
  QCOMPARE(bits.join(","), QString("1,1.58,2,3,4,8"));
}

void TestWizardTables::presets_are_cores() {
  ProjectWizard w;
  auto* preset = field<QComboBox>(w, "preset");
  QCOMPARE(preset->count(), int(model::preset_names().size()));
  for (int i = 0; i < preset->count(); ++i)
    QCOMPARE(preset->itemText(i).toStdString(), model::preset_names()[size_t(i)]);
  // The shape the group-size check uses is the preset's.
  field<QRadioButton>(w, "use_preset")->setChecked(true);
  for (const auto& name : model::preset_names()) {
    preset->setCurrentText(QString::fromStdString(name));
    const auto c = model::preset(name, 0);
    QVERIFY(w.model_shape());
    QCOMPARE(w.model_shape()->hidden, c.hidden_size);
    QCOMPARE(w.model_shape()->intermediate, c.intermediate_size);
    QCOMPARE(w.model_shape()->attention, c.num_attention_heads * c.head_dim);
  }
}

void TestWizardTables::surrogate_fields_follow_the_table() {
  ui::QuantPage page;
  const std::pair<const char*, const char*> params[] = {
      {"amplitude", "amplitude"}, {"fourier_order", "fourier_order"},
      {"dsq_alpha", "alpha"},     {"dsq_scale_grad", "scale_grad"},
      {"ewgs_delta", "delta"},    {"adaround_reg_weight", "reg_weight"}};
  auto* surrogate = field<QComboBox>(page, "surrogate");
  for (const auto& row : enum_rows_of<quant::Surrogate>()) {
    surrogate->setCurrentText(row.name);
    for (const auto& [widget, param] : params)
      QVERIFY2(
          page.findChild<QWidget*>(widget)->isEnabled() == quant::surrogate_takes(row.value, param),
          qPrintable(QString("%1 with %2").arg(widget, row.name)));
    // Learned rounding moves learned scales to frozen, as the parser requires.
    if (quant::surrogate_rules(row.value).learned_rounding)
      QCOMPARE(field<QComboBox>(page, "scale")->currentText(), QString("frozen"));
    field<QComboBox>(page, "scale")->setCurrentText("learned");
  }
}

QTEST_MAIN(TestWizardTables)
#include "tst_wizard_tables.moc"
