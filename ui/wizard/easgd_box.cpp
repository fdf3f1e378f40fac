#include "ui/wizard/easgd_box.h"

#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QLineEdit>
#include <QSpinBox>

#include "core/project/project_yaml.h"
#include "ui/widgets/field_message.h"
#include "ui/wizard/core_names.h"

namespace qatwb::ui {

EasgdBox::EasgdBox(QWidget* parent) : QGroupBox(tr("EASGD across the ranks"), parent) {
  setObjectName("easgd");
  setCheckable(true);
  setChecked(false);
  setToolTip(
      tr("Elastic averaging: each rank trains its own replica and is pulled toward a centre "
         "copy, which is evaluated, checkpointed and exported. Needs 2+ ranks."));
  const project::EasgdSection defaults;
  auto* form = new QFormLayout(this);
  mode_ = new QComboBox;
  mode_->setObjectName("easgd_mode");
  add_enum_items(mode_, defaults.mode);
  form->addRow(tr("Mode"), mode_);
  alpha_ = new QDoubleSpinBox;
  alpha_->setObjectName("easgd_alpha");
  alpha_->setDecimals(3);
  alpha_->setRange(0, 1);
  alpha_->setSingleStep(0.05);
  alpha_->setValue(defaults.alpha);
  form->addRow(tr("Alpha (pull on a worker)"), alpha_);
  beta_ = new QDoubleSpinBox;
  beta_->setObjectName("easgd_beta");
  beta_->setDecimals(3);
  beta_->setRange(0, 2);
  beta_->setSingleStep(0.05);
  beta_->setValue(defaults.beta);
  form->addRow(tr("Beta (pull on the centre)"), beta_);
  tau_ = new QSpinBox;
  tau_->setObjectName("easgd_tau");
  tau_->setRange(1, 1000000);
  tau_->setValue(int(defaults.tau));
  form->addRow(tr("Tau (steps between updates)"), tau_);
  stickiness_ = new QSpinBox;
  stickiness_->setObjectName("easgd_stickiness");
  stickiness_->setRange(1, 1000000);
  stickiness_->setValue(int(defaults.stickiness));
  form->addRow(tr("Stickiness (sequential)"), stickiness_);
  worker_betas_ = new QLineEdit;
  worker_betas_->setObjectName("easgd_worker_betas");
  worker_betas_->setPlaceholderText(tr("sequential: e.g. 0.9, 0.5 (empty: beta for all)"));
  form->addRow(tr("Worker betas"), worker_betas_);
  rounding_ = new QLineEdit(QString::fromUtf8(quant::to_string(quant::Rounding::Nearest)));
  rounding_->setObjectName("easgd_rounding");
  rounding_->setToolTip(tr("Rounding per worker, cycled over the ranks: %1")
                            .arg(to_qt(enum_names<quant::Rounding>()).join(", ")));
  form->addRow(tr("Worker rounding"), rounding_);
  message_ = new FieldMessage;
  message_->setObjectName("easgd_message");
  form->addRow(QString(), message_);
  auto emit_changed = [this] { Q_EMIT changed(); };
  connect(this, &QGroupBox::toggled, this, emit_changed);
  connect(mode_, &QComboBox::currentTextChanged, this, emit_changed);
  connect(worker_betas_, &QLineEdit::textChanged, this, emit_changed);
  connect(rounding_, &QLineEdit::textChanged, this, emit_changed);
}

std::vector<double> EasgdBox::parse_betas(const QString& text, QString* error) {
  std::vector<double> out;
  for (const QString& raw : text.split(',', Qt::SkipEmptyParts)) {
    const QString item = raw.trimmed();
    if (item.isEmpty()) continue;
    bool ok = false;
    const double b = item.toDouble(&ok);
    if (!ok || !(b >= 0 && b <= 2)) {
      if (error) *error = tr("Worker beta '%1' must be a number in [0, 2].").arg(item);
      return {};
    }
    out.push_back(b);
  }
  return out;
}

std::vector<quant::Rounding> EasgdBox::parse_rounding(const QString& text, QString* error) {
  std::vector<quant::Rounding> out;
  for (const QString& raw : text.split(',', Qt::SkipEmptyParts)) {
    const QString item = raw.trimmed();
    if (item.isEmpty()) continue;
    const auto r = parse_enum<quant::Rounding>(item.toStdString());
    if (!r) {
      if (error)
        *error = tr("Rounding '%1': expected %2.")
                     .arg(item, to_qt(enum_names<quant::Rounding>()).join(", "));
      return {};
    }
    out.push_back(*r);
  }
  if (out.empty() && error)
    *error =
        tr("Give at least one rounding (%1).").arg(to_qt(enum_names<quant::Rounding>()).join(", "));
  return out;
}

void EasgdBox::validate(const QString& conflict) {
  const bool sequential = current_enum(mode_, project::EasgdSection::Mode::Symmetric) ==
                          project::EasgdSection::Mode::Sequential;
  stickiness_->setEnabled(sequential);
  worker_betas_->setEnabled(sequential);
  QString error;
  if (isChecked()) {
    parse_betas(worker_betas_->text(), &error);
    if (error.isEmpty()) parse_rounding(rounding_->text(), &error);
    if (error.isEmpty()) error = conflict;
  }
  message_->show_error(error);
}

bool EasgdBox::has_error() const { return message_->has_error(); }

void EasgdBox::fill(project::EasgdSection& e) const {
  e = project::EasgdSection{};
  e.enabled = isChecked();
  if (!e.enabled) return;
  e.mode = current_enum(mode_, e.mode);
  e.alpha = alpha_->value();
  e.beta = beta_->value();
  e.tau = tau_->value();
  e.stickiness = stickiness_->value();
  if (e.mode == project::EasgdSection::Mode::Sequential)
    e.worker_betas = parse_betas(worker_betas_->text(), nullptr);
  const auto rounding = parse_rounding(rounding_->text(), nullptr);
  if (!rounding.empty()) e.worker_rounding = rounding;
}

}  // namespace qatwb::ui
