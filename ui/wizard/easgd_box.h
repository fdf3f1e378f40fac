// The wizard's EASGD group (project section `easgd`): elastic averaging across the data-parallel
// ranks, symmetric or SupportiveQAT's sequential turns, with per-worker betas and rounding.
// Checkable: unchecked writes no easgd section. Widgets carry objectNames "easgd", "easgd_mode",
// "easgd_alpha", "easgd_beta", "easgd_tau", "easgd_stickiness", "easgd_worker_betas",
// "easgd_rounding" and "easgd_message".
#pragma once
#include <QGroupBox>

#include "core/project/project_config.h"

class QComboBox;
class QDoubleSpinBox;
class QLineEdit;
class QSpinBox;

namespace qatwb::ui {

class FieldMessage;

class EasgdBox : public QGroupBox {
  Q_OBJECT

 public:
  explicit EasgdBox(QWidget* parent = nullptr);
  // A mistake in the fields (or `conflict`, e.g. ZeRO-1 chosen with EASGD) is shown under them.
  void validate(const QString& conflict = {});
  bool has_error() const;
  void fill(project::EasgdSection& e) const;

  // "0.9, 0.5" -> {0.9, 0.5}; each in [0, 2]. "nearest, up" -> rounding per worker.
  static std::vector<double> parse_betas(const QString& text, QString* error);
  static std::vector<quant::Rounding> parse_rounding(const QString& text, QString* error);

 Q_SIGNALS:
  void changed();

 private:
  QComboBox* mode_;
  QDoubleSpinBox *alpha_, *beta_;
  QSpinBox *tau_, *stickiness_;
  QLineEdit *worker_betas_, *rounding_;
  FieldMessage* message_;
};

}  // namespace qatwb::ui
