// Wizard page 4: quantization (bits, granularity and group size, format, surrogate and its
// parameters, excluded modules).
#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QRegularExpression>
#include <QSpinBox>

#include "core/project/field_patterns.h"
#include "core/project/project_yaml.h"
#include "core/quant/scheme.h"
#include "ui/widgets/field_message.h"
#include "ui/wizard/core_names.h"
#include "ui/wizard/project_wizard.h"

namespace qatwb::ui {

namespace {

bool power_of_two(int v) { return v > 0 && (v & (v - 1)) == 0; }

}  // namespace

QuantPage::QuantPage(QWidget* parent) : QWizardPage(parent) {
  setTitle(tr("Quantization"));
  setSubTitle(tr("Weight format and grid, and the gradient surrogate used through rounding."));
  const quant::QuantScheme defaults;
  auto* form = new QFormLayout(this);
  enabled_ = new QCheckBox(tr("Quantize (off: full-precision training)"));
  enabled_->setObjectName("quant_enabled");
  enabled_->setChecked(true);
  form->addRow(QString(), enabled_);
  format_ = new QComboBox;
  format_->setObjectName("format");
  add_enum_items(format_, defaults.format);
  format_->setToolTip(tr("gguf: train on one of llama.cpp's block formats and export it as is"));
  form->addRow(tr("Format"), format_);
  gguf_type_ = new QComboBox;
  gguf_type_->setObjectName("gguf_type");
  gguf_type_->addItems(gguf_type_names());
  gguf_type_->setCurrentText(quant::to_string(defaults.gguf_type));
  gguf_msg_ = new FieldMessage;
  gguf_msg_->setObjectName("gguf_message");
  form->addRow(tr("ggml type"), gguf_type_);
  form->addRow(QString(), gguf_msg_);
  bits_ = new QComboBox;
  bits_->setObjectName("bits");
  bits_->addItems(to_qt(quant::int_bits_names()));
  bits_->setCurrentText(QString::number(defaults.bits));
  form->addRow(tr("Bits"), bits_);
  granularity_ = new QComboBox;
  granularity_->setObjectName("granularity");
  add_enum_items(granularity_, defaults.granularity);
  form->addRow(tr("Granularity"), granularity_);
  group_size_ = new QSpinBox;
  group_size_->setObjectName("group_size");
  group_size_->setRange(1, 1 << 16);
  group_size_->setValue(128);
  group_msg_ = new FieldMessage;
  group_msg_->setObjectName("group_size_message");
  form->addRow(tr("Group size"), group_size_);
  form->addRow(QString(), group_msg_);
  scale_ = new QComboBox;
  scale_->setObjectName("scale");
  add_enum_items(scale_, defaults.scale_mode);
  scale_->setToolTip(tr("minmax: s = max|w|/Qp every forward (not learned)"));
  form->addRow(tr("Scales"), scale_);
  scale_init_ = new QComboBox;
  scale_init_->setObjectName("scale_init");
  add_enum_items(scale_init_, defaults.scale_init);
  scale_init_->setToolTip(
      tr("Initial learned / frozen scale. auto: max|w|/Qp, but max|w|/2 at 2 bits (level -2 "
         "reachable); stableqat: StableQAT's max|w|/Qp (max|w| at 2 bits); lsq: "
         "2 mean|w|/sqrt(Qp); mse: search per row or group"));
  form->addRow(tr("Scale init"), scale_init_);
  surrogate_ = new QComboBox;
  surrogate_->setObjectName("surrogate");
  add_enum_items(surrogate_, defaults.surrogate);
  surrogate_help_ = new FieldMessage;
  form->addRow(tr("Surrogate"), surrogate_);
  form->addRow(QString(), surrogate_help_);
  amplitude_ = new QDoubleSpinBox;
  amplitude_->setObjectName("amplitude");
  amplitude_->setDecimals(4);
  amplitude_->setRange(0, 0.225);
  amplitude_->setSingleStep(0.01);
  amplitude_->setValue(0.21);
  amplitude_->setToolTip(tr("Fourier amplitude A in [0, 1/(sqrt2*pi) = 0.2251)"));
  form->addRow(tr("StableQAT amplitude A"), amplitude_);
  fourier_order_ = new QSpinBox;
  fourier_order_->setObjectName("fourier_order");
  fourier_order_->setRange(0, 7);
  form->addRow(tr("StableQAT order M"), fourier_order_);
  dsq_alpha_ = new QDoubleSpinBox;
  dsq_alpha_->setObjectName("dsq_alpha");
  dsq_alpha_->setDecimals(3);
  dsq_alpha_->setRange(0.001, 0.499);
  dsq_alpha_->setValue(0.2);
  form->addRow(tr("DSQ initial alpha"), dsq_alpha_);
  dsq_scale_grad_ = new QComboBox;
  dsq_scale_grad_->setObjectName("dsq_scale_grad");
  add_enum_items(dsq_scale_grad_, defaults.params.dsq_scale_grad);
  dsq_scale_grad_->setToolTip(
      tr("chain: through the soft quantizer, Q(v) - v G(v); "
         "lsq: round(v) - v"));
  form->addRow(tr("DSQ scale gradient"), dsq_scale_grad_);
  ewgs_delta_ = new QDoubleSpinBox;
  ewgs_delta_->setObjectName("ewgs_delta");
  ewgs_delta_->setDecimals(5);
  ewgs_delta_->setRange(0, 1);
  ewgs_delta_->setValue(0.001);
  ewgs_delta_->setToolTip(
      tr("delta in the paper's normalised domain (the grid's range is "
         "[0, 1]); 0.001 is the authors' fixed setting"));
  form->addRow(tr("EWGS delta"), ewgs_delta_);
  round_reg_ = new QDoubleSpinBox;
  round_reg_->setObjectName("adaround_reg_weight");
  round_reg_->setDecimals(4);
  round_reg_->setRange(0, 1000);
  round_reg_->setValue(quant::SurrogateParams{}.adaround_reg_weight);
  round_reg_->setToolTip(
      tr("Weight of AdaRound's rounding regulariser (per weight, beta annealed 20 -> 2 after "
         "the first 20% of steps)"));
  form->addRow(tr("AdaRound regulariser"), round_reg_);
  // quant.activations: the Linear inputs quantized too (W+A), per token to int8 or by PACT.
  act_kind_ = new QComboBox;
  act_kind_->setObjectName("act_kind");
  add_enum_items(act_kind_, defaults.activations.kind);
  act_kind_->setToolTip(
      tr("none: weights only (PACT as the surrogate still clips inputs); int8_per_token: "
         "dynamic per-token int8; pact: learned clip alpha per Linear, then BITS"));
  form->addRow(tr("Activations"), act_kind_);
  act_bits_ = new QSpinBox;
  act_bits_->setObjectName("act_bits");
  act_bits_->setRange(2, 16);
  act_bits_->setValue(quant::ActivationQuant{}.pact_bits);
  form->addRow(tr("PACT activation bits"), act_bits_);
  act_alpha_ = new QDoubleSpinBox;
  act_alpha_->setObjectName("act_alpha_init");
  act_alpha_->setDecimals(3);
  act_alpha_->setRange(0.001, 1000);
  act_alpha_->setValue(quant::ActivationQuant{}.pact_alpha_init);
  form->addRow(tr("PACT initial alpha"), act_alpha_);
  act_l2_ = new QDoubleSpinBox;
  act_l2_->setObjectName("act_l2");
  act_l2_->setDecimals(6);
  act_l2_->setRange(0, 10);
  act_l2_->setSingleStep(1e-4);
  act_l2_->setValue(quant::ActivationQuant{}.pact_l2);
  form->addRow(tr("PACT alpha L2"), act_l2_);
  act_signed_ = new QCheckBox(tr("Signed range [-alpha, alpha]"));
  act_signed_->setObjectName("act_signed");
  act_signed_->setChecked(true);
  act_msg_ = new FieldMessage;
  act_msg_->setObjectName("act_message");
  form->addRow(QString(), act_signed_);
  form->addRow(QString(), act_msg_);
  schedule_ = new QLineEdit;
  schedule_->setObjectName("schedule");
  schedule_->setPlaceholderText(tr("e.g. 4:100, 3:200 (4 bits until step 100, 3 until 200)"));
  schedule_->setToolTip(
      tr("quant.schedule (progressive quantization): BITS:UNTIL phases in order; after the "
         "last one the run trains at the bits above, which evaluation and export use"));
  schedule_msg_ = new FieldMessage;
  form->addRow(tr("Progressive bits"), schedule_);
  form->addRow(QString(), schedule_msg_);
  exclude_ = new QPlainTextEdit;
  exclude_->setObjectName("exclude");
  exclude_->setPlaceholderText(tr("one regex per line, e.g. ^model\\.layers\\.0\\."));
  exclude_->setMaximumHeight(70);
  exclude_msg_ = new FieldMessage;
  form->addRow(tr("Keep in full precision"), exclude_);
  form->addRow(QString(), exclude_msg_);
  overrides_ = new QPlainTextEdit;
  overrides_->setObjectName("overrides");
  overrides_->setPlaceholderText(
      tr("one per line: REGEX BITS or REGEX off, e.g. mlp\\.down_proj$ 4"));
  overrides_->setToolTip(
      tr("quant.overrides (mixed precision): modules whose name matches are quantized at "
         "these bits (or stay in full precision); later lines win. model\\.embed_tokens$ "
         "selects the token embedding (and the tied lm_head), ^lm_head$ an untied lm_head"));
  overrides_->setMaximumHeight(70);
  overrides_msg_ = new FieldMessage;
  form->addRow(tr("Per-module bits"), overrides_);
  form->addRow(QString(), overrides_msg_);

  auto changed = [this] {
    update_visibility();
    validate();
  };
  connect(enabled_, &QCheckBox::toggled, this, changed);
  connect(format_, &QComboBox::currentTextChanged, this, changed);
  connect(gguf_type_, &QComboBox::currentTextChanged, this, changed);
  connect(scale_, &QComboBox::currentTextChanged, this, changed);
  connect(granularity_, &QComboBox::currentTextChanged, this, changed);
  connect(surrogate_, &QComboBox::currentTextChanged, this, changed);
  connect(group_size_, &QSpinBox::valueChanged, this, changed);
  connect(exclude_, &QPlainTextEdit::textChanged, this, changed);
  connect(overrides_, &QPlainTextEdit::textChanged, this, changed);
  connect(schedule_, &QLineEdit::textChanged, this, changed);
  connect(act_kind_, &QComboBox::currentTextChanged, this, changed);
  connect(act_signed_, &QCheckBox::toggled, this, changed);
  // AdaRound rounds on a fixed grid: picking it moves learned scales to frozen, visibly.
  connect(surrogate_, &QComboBox::currentTextChanged, this, [this] {
    if (quant::surrogate_rules(surrogate()).learned_rounding &&
        scale_mode() == quant::ScaleMode::Learned)
      scale_->setCurrentText(quant::to_string(quant::ScaleMode::Frozen));
  });
  update_visibility();
}

void QuantPage::initializePage() { validate(); }

quant::Surrogate QuantPage::surrogate() const {
  return current_enum(surrogate_, quant::Surrogate::Ste);
}

quant::ScaleMode QuantPage::scale_mode() const {
  return current_enum(scale_, quant::ScaleMode::Learned);
}

void QuantPage::update_visibility() {
  const bool on = enabled_->isChecked();
  const auto format = current_enum(format_, quant::Format::Int);
  const bool int_format = format == quant::Format::Int;
  const bool gguf = format == quant::Format::Gguf;
  for (QWidget* w : std::initializer_list<QWidget*>{
           format_, granularity_, scale_, scale_init_, surrogate_, amplitude_, fourier_order_,
           dsq_alpha_, dsq_scale_grad_, ewgs_delta_, exclude_, overrides_, schedule_})
    w->setEnabled(on);
  const quant::Surrogate s = surrogate();
  round_reg_->setEnabled(on && quant::surrogate_takes(s, "reg_weight"));
  schedule_->setEnabled(on && int_format);
  bits_->setEnabled(on && int_format);
  gguf_type_->setEnabled(on && gguf);
  granularity_->setEnabled(on && !gguf);  // a ggml type fixes its blocks and scales
  group_size_->setEnabled(on && !gguf &&
                          current_enum(granularity_, quant::Granularity::PerChannel) ==
                              quant::Granularity::PerGroup);
  // The surrogate table says which surrogate_params each surrogate reads.
  amplitude_->setEnabled(on && quant::surrogate_takes(s, "amplitude"));
  fourier_order_->setEnabled(on && quant::surrogate_takes(s, "fourier_order"));
  dsq_alpha_->setEnabled(on && quant::surrogate_takes(s, "alpha"));
  dsq_scale_grad_->setEnabled(on && quant::surrogate_takes(s, "scale_grad"));
  scale_init_->setEnabled(on && int_format && scale_mode() != quant::ScaleMode::MinMax);
  ewgs_delta_->setEnabled(on && quant::surrogate_takes(s, "delta"));
  surrogate_help_->show_info(QString::fromUtf8(enum_help(s)));
  act_kind_->setEnabled(on);
  const bool pact = pact_activations();
  for (QWidget* w : std::initializer_list<QWidget*>{act_bits_, act_alpha_, act_l2_, act_signed_})
    w->setEnabled(on && pact);
}

void QuantPage::validate() {
  QString group_error;
  if (enabled_->isChecked() && group_size_->isEnabled()) {
    const int g = group_size_->value();
    const auto* w = static_cast<ProjectWizard*>(wizard());
    const auto shape = w ? w->model_shape() : std::nullopt;
    if (!power_of_two(g)) {
      group_error = tr("Group size must be a power of two, got %1.").arg(g);
    } else if (shape) {
      for (int64_t width : {shape->hidden, shape->intermediate, shape->attention})
        if (group_error.isEmpty() && width > 0 && width % g != 0)
          group_error =
              tr("Group size %1 does not divide the model's input width %2.").arg(g).arg(width);
    }
  }
  group_msg_->show_error(group_error);
  QStringList bad;
  // The parser's own check (core/project/field_patterns.h), so both accept the same patterns.
  for (const QString& line : exclude_->toPlainText().split('\n', Qt::SkipEmptyParts)) {
    const std::string why = project::regex_error(line.trimmed().toStdString());
    if (!why.empty()) bad << QString("'%1': %2").arg(line.trimmed(), QString::fromStdString(why));
  }
  exclude_msg_->show_error(bad.isEmpty() ? QString() : tr("Bad pattern %1").arg(bad.join("; ")));
  QString override_error;
  parse_overrides(overrides_->toPlainText(), &override_error);
  if (override_error.isEmpty() && quant::surrogate_rules(surrogate()).learned_rounding &&
      scale_mode() == quant::ScaleMode::Learned)
    override_error = tr("AdaRound rounds on a fixed grid: choose frozen or minmax scales.");
  overrides_msg_->show_error(override_error);
  // The project parser refuses unsigned PACT (every quantized Llama Linear reads signed inputs).
  act_msg_->show_error(enabled_->isChecked() && pact_activations() && !act_signed_->isChecked()
                           ? tr("Unsigned PACT would zero the negative inputs of every "
                                "quantized Linear (they are signed in a Llama); keep it signed.")
                           : QString());
  validate_gguf();
  QString schedule_error;
  if (schedule_->isEnabled()) parse_schedule(schedule_->text(), &schedule_error);
  schedule_msg_->show_error(schedule_error);
  Q_EMIT completeChanged();
}

bool QuantPage::isComplete() const {
  return !group_msg_->has_error() && !gguf_msg_->has_error() && !exclude_msg_->has_error() &&
         !overrides_msg_->has_error() && !schedule_msg_->has_error() && !act_msg_->has_error();
}

// Format gguf: the ggml type's rules as the parser applies them (learned or frozen scales; ste,
// lsq or stableqat), and every module it quantizes (core's include/exclude/override rules) reads
// rows of whole blocks; otherwise the message says which module to exclude.
void QuantPage::validate_gguf() {
  const bool gguf = enabled_->isChecked() && gguf_type_->isEnabled();
  if (!gguf) {
    gguf_msg_->show_error(QString());
    return;
  }
  project::ProjectConfig c;
  fill(c);
  const auto& spec = quant::ggml_quant_spec(c.quant.gguf_type);
  QString error;
  if (c.quant.scale_mode == quant::ScaleMode::MinMax)
    error = tr("%1 scales are learned or frozen (llama-quantize's at step 0), not minmax.")
                .arg(spec.name);
  if (error.isEmpty() && !quant::surrogate_allowed(c.quant.surrogate, quant::Format::Gguf))
    error = tr("Format gguf trains with the %1 surrogates, not %2.")
                .arg(QString::fromStdString(names_or(quant::surrogates_for(quant::Format::Gguf))),
                     quant::to_string(c.quant.surrogate));
  const auto* w = static_cast<ProjectWizard*>(wizard());
  const auto shape = w ? w->model_shape() : std::nullopt;
  if (error.isEmpty() && shape && !exclude_msg_->has_error() && !overrides_msg_->has_error()) {
    const std::pair<const char*, int64_t> modules[] = {
        {"self_attn.q_proj", shape->hidden},   {"self_attn.k_proj", shape->hidden},
        {"self_attn.v_proj", shape->hidden},   {"self_attn.o_proj", shape->attention},
        {"mlp.gate_proj", shape->hidden},      {"mlp.up_proj", shape->hidden},
        {"mlp.down_proj", shape->intermediate}};
    for (const auto& [m, width] : modules) {
      const std::string module = std::string("model.layers.0.") + m;
      quant::QuantScheme ms;
      try {
        ms = quant::scheme_for_module(c.quant, module);
      } catch (const std::exception&) {  // a pattern the other fields already report
        break;
      }
      if (!ms.enabled || ms.format != quant::Format::Gguf || width <= 0) continue;
      const int block = quant::ggml_quant_spec(ms.gguf_type).block;
      if (width % block == 0) continue;
      error = tr("%1 reads rows of %2, not whole %3-blocks of %4: exclude it (e.g. '%5').")
                  .arg(m)
                  .arg(width)
                  .arg(block)
                  .arg(quant::ggml_quant_spec(ms.gguf_type).name)
                  .arg(QString(m).replace('.', "\\."));
      break;
    }
  }
  if (!error.isEmpty())
    gguf_msg_->show_error(error);
  else
    gguf_msg_->show_info(tr("%1: %2 bits per weight, scales included; step 0 is llama-quantize's "
                            "own quantization, and the GGUF export writes the trained codes.")
                             .arg(spec.name)
                             .arg(quant::ggml_bits_per_weight(c.quant.gguf_type)));
}

bool QuantPage::pact_activations() const {
  using Kind = quant::ActivationQuant::Kind;
  const Kind kind = current_enum(act_kind_, Kind::None);
  return kind == Kind::Pact || (kind == Kind::None && surrogate() == quant::Surrogate::Pact);
}

void QuantPage::fill(project::ProjectConfig& c) const {
  auto& q = c.quant;
  q.enabled = enabled_->isChecked();
  q.format = current_enum(format_, q.format);
  quant::parse(gguf_type_->currentText().toStdString(), q.gguf_type);
  q.bits = q.format == quant::Format::Int ? bits_->currentText().toDouble() : 4.0;
  q.granularity = current_enum(granularity_, q.granularity);
  q.group_size = group_size_->value();
  q.scale_mode = scale_mode();
  q.scale_init = quant::ScaleInit::Auto;
  if (q.scale_mode != quant::ScaleMode::MinMax)
    q.scale_init = current_enum(scale_init_, q.scale_init);
  q.surrogate = surrogate();
  q.params.amplitude = amplitude_->value();
  q.params.fourier_order = fourier_order_->value();
  q.params.dsq_alpha = dsq_alpha_->value();
  q.params.dsq_scale_grad = current_enum(dsq_scale_grad_, q.params.dsq_scale_grad);
  q.params.ewgs_delta = ewgs_delta_->value();
  q.params.adaround_reg_weight = round_reg_->value();
  q.schedule = schedule_->isEnabled() ? parse_schedule(schedule_->text(), nullptr)
                                      : std::vector<quant::SchedulePhase>{};
  q.exclude.clear();
  for (const QString& line : exclude_->toPlainText().split('\n', Qt::SkipEmptyParts))
    if (!line.trimmed().isEmpty()) q.exclude.push_back(line.trimmed().toStdString());
  q.overrides = parse_overrides(overrides_->toPlainText(), nullptr);
  auto& a = q.activations;
  a.kind = current_enum(act_kind_, a.kind);
  a.pact_bits = act_bits_->value();
  a.pact_alpha_init = act_alpha_->value();
  a.pact_l2 = act_l2_->value();
  a.pact_signed = act_signed_->isChecked();
}

// "BITS:UNTIL, BITS:UNTIL" -> quant.schedule bits phases, each ending after the previous one.
std::vector<quant::SchedulePhase> QuantPage::parse_schedule(const QString& text, QString* error) {
  std::vector<quant::SchedulePhase> out;
  int64_t previous = 0;
  for (const QString& raw : text.split(',', Qt::SkipEmptyParts)) {
    const QString item = raw.trimmed();
    if (item.isEmpty()) continue;
    const QStringList parts = item.split(':');
    bool until_ok = false;
    const qlonglong until = parts.size() == 2 ? parts[1].trimmed().toLongLong(&until_ok) : 0;
    const QString bits = parts.value(0).trimmed();
    QString why;
    if (parts.size() != 2 || !until_ok)
      why = tr("expected BITS:UNTIL (e.g. 4:100), got '%1'").arg(item);
    else if (!to_qt(quant::int_bits_names(true)).contains(bits))
      why = tr("bits must be %1, got '%2'")
                .arg(QString::fromStdString(names_or(quant::int_bits_names(true))), bits);
    else if (until <= previous)
      why = tr("phase '%1' must end after step %2").arg(item).arg(previous);
    if (!why.isEmpty()) {
      if (error && error->isEmpty()) *error = why;
      continue;
    }
    quant::SchedulePhase p;
    p.until = until;
    p.bits = bits.toDouble();
    out.push_back(p);
    previous = until;
  }
  return out;
}

// "REGEX BITS" or "REGEX off" per line; the regex and the bits are checked by the parser's own
// rules (core/project/field_patterns.h, quant::int_bits_names), so the wizard and `project
// check` accept the same overrides.
std::vector<quant::SchemeOverride> QuantPage::parse_overrides(const QString& text, QString* error) {
  std::vector<quant::SchemeOverride> out;
  int n = 0;
  for (const QString& raw : text.split('\n')) {
    ++n;
    const QString line = raw.trimmed();
    if (line.isEmpty()) continue;
    const int cut = line.lastIndexOf(QRegularExpression("\\s"));
    auto fail = [&](const QString& why) {
      if (error && error->isEmpty()) *error = tr("Line %1: %2").arg(n).arg(why);
    };
    if (cut < 0) {
      fail(tr("expected REGEX BITS or REGEX off, got '%1'").arg(line));
      continue;
    }
    quant::SchemeOverride o;
    o.match = line.left(cut).trimmed().toStdString();
    const QString what = line.mid(cut + 1);
    if (const std::string why = project::regex_error(o.match); !why.empty()) {
      fail(tr("bad pattern '%1': %2")
               .arg(QString::fromStdString(o.match), QString::fromStdString(why)));
      continue;
    }
    if (what == "off") {
      o.enabled = false;
    } else {
      const double b = what.toDouble();
      if (!to_qt(quant::int_bits_names()).contains(what)) {
        fail(tr("bits must be %1 (or off), got '%2'")
                 .arg(QString::fromStdString(names_or(quant::int_bits_names())), what));
        continue;
      }
      o.bits = b;
      o.enabled = true;  // "REGEX BITS": quantized at BITS, also where include does not reach
    }
    out.push_back(o);
  }
  return out;
}

}  // namespace qatwb::ui
