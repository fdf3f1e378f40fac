// The new-project wizard: model -> data sampling -> tokenization -> quantization -> training
// recipe -> where to run -> summary (the exact YAML). Every page fills part of a
// project::ProjectConfig; the summary emits it with project::to_yaml and validates it with
// project::load_project, so what is written is what `qatwb project check` accepts. Bad input is
// shown next to its field and keeps Next (or Finish) disabled. Widgets carry objectNames (the
// project field they edit: "name", "model_path", "lr", "group_size", "act_kind", "min_lr_ratio",
// "checkpoint_every", "zero1", "nodes", "tasks_per_node", "account", ...) for tests. Every
// choice core names (formats, surrogates and their parameter rules, scales, schedules, runner
// kinds, ...) comes from core's tables (core/util/enum_table.h via core_names.h), the model
// presets from core/model/llama_config.h, and text fields are checked by core's own patterns
// (core/project/field_patterns.h): the wizard and the parser accept the same values.
#pragma once
#include <QWizard>
#include <QWizardPage>
#include <optional>

#include "core/project/project_config.h"

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLineEdit;
class QListWidget;
class QPlainTextEdit;
class QRadioButton;
class QSpinBox;

namespace qatwb::ui {

class ChildProcess;
class EasgdBox;
class FieldMessage;

// The shape of the chosen model, for checks such as "group size divides every Linear input".
struct ModelShape {
  int64_t hidden = 0, intermediate = 0, attention = 0;  // attention: heads * head_dim
};

class ProjectWizard : public QWizard {
  Q_OBJECT

 public:
  enum PageId {
    ModelPageId,
    DataPageId,
    TokenizePageId,
    QuantPageId,
    TrainPageId,
    RunnerPageId,
    SummaryPageId
  };
  explicit ProjectWizard(QWidget* parent = nullptr);

  // The project as the pages describe it now (not validated).
  project::ProjectConfig config() const;
  // Where Finish writes the YAML (the "file" field).
  QString output_path() const;
  // After Finish: the file written.
  QString written_path() const { return written_; }

  std::optional<ModelShape> model_shape() const { return shape_; }
  void set_model_shape(std::optional<ModelShape> shape) { shape_ = shape; }

 protected:
  bool validateCurrentPage() override;

 private:
  std::optional<ModelShape> shape_;
  QString written_;
};

class ModelPage : public QWizardPage {
  Q_OBJECT

 public:
  explicit ModelPage(QWidget* parent = nullptr);
  bool isComplete() const override;
  void fill(project::ProjectConfig& c) const;
  QString output_path() const;
  // The HF folder check (`qatwb model info DIR --json`) under way or done.
  bool checking() const;

 private:
  void validate();
  void check_folder();
  void on_info_finished();
  QLineEdit *name_, *file_, *path_;
  QRadioButton *use_path_, *use_preset_;
  QComboBox* preset_;
  QSpinBox* seed_;
  FieldMessage *name_msg_, *file_msg_, *path_msg_;
  ChildProcess* process_;
  QString checking_folder_;  // the folder process_ is (or was last) about
  QString checked_folder_;   // the folder the last finished check was about
  bool folder_ok_ = false;
};

class DataPage : public QWizardPage {
  Q_OBJECT

 public:
  explicit DataPage(QWidget* parent = nullptr);
  bool isComplete() const override;
  void fill(project::ProjectConfig& c) const;
  void add_source(const QString& path);

 private:
  void validate();
  QListWidget* sources_;
  QLineEdit* text_field_;
  QSpinBox *max_tokens_, *seed_;
  QDoubleSpinBox* heldout_;
  FieldMessage *sources_msg_, *text_field_msg_;
};

class TokenizePage : public QWizardPage {
  Q_OBJECT

 public:
  explicit TokenizePage(QWidget* parent = nullptr);
  void initializePage() override;
  bool isComplete() const override;
  void fill(project::ProjectConfig& c) const;

 private:
  void validate();
  QLineEdit* tokenizer_;
  QSpinBox* seq_len_;
  QComboBox* bos_;
  QCheckBox* eos_;
  FieldMessage* tokenizer_msg_;
};

class QuantPage : public QWizardPage {
  Q_OBJECT

 public:
  explicit QuantPage(QWidget* parent = nullptr);
  void initializePage() override;
  bool isComplete() const override;
  void fill(project::ProjectConfig& c) const;

 private:
  void validate();
  void update_visibility();
  QCheckBox* enabled_;
  QComboBox *format_, *bits_, *granularity_, *scale_, *scale_init_, *surrogate_, *dsq_scale_grad_;
  QComboBox* gguf_type_;  // format gguf: the ggml block type
  FieldMessage* gguf_msg_;
  QSpinBox* group_size_;
  QDoubleSpinBox *amplitude_, *dsq_alpha_, *ewgs_delta_, *round_reg_;
  QSpinBox* fourier_order_;
  QPlainTextEdit *exclude_, *overrides_;
  QLineEdit* schedule_;
  FieldMessage *group_msg_, *surrogate_help_, *exclude_msg_, *overrides_msg_, *schedule_msg_;
  // quant.activations
  void validate_gguf();
  bool pact_activations() const;  // PACT clips the inputs (kind pact, or none with surrogate pact)
  quant::Surrogate surrogate() const;  // the surrogate chosen
  quant::ScaleMode scale_mode() const;
  QComboBox* act_kind_;
  QSpinBox* act_bits_;
  QDoubleSpinBox *act_alpha_, *act_l2_;
  QCheckBox* act_signed_;
  FieldMessage* act_msg_;

 public:
  // The "Per-module bits" field: "REGEX BITS" or "REGEX off" per line -> quant.overrides; the
  // first bad line is described in `error` (when given).
  static std::vector<quant::SchemeOverride> parse_overrides(const QString& text, QString* error);
  // The "Progressive bits" field: "BITS:UNTIL, ..." -> quant.schedule.
  static std::vector<quant::SchedulePhase> parse_schedule(const QString& text, QString* error);
};

class TrainPage : public QWizardPage {
  Q_OBJECT

 public:
  explicit TrainPage(QWidget* parent = nullptr);
  bool isComplete() const override;
  void fill(project::ProjectConfig& c) const;

 private:
  void validate();
  std::optional<project::DistillSection::Loss> distill_loss() const;  // nullopt: off
  QSpinBox *steps_, *batch_, *accum_, *warmup_, *eval_every_, *checkpoint_every_;
  QLineEdit *lr_, *weight_decay_, *grad_clip_, *teacher_, *temperature_, *kd_weight_, *min_lr_;
  QComboBox *schedule_, *device_, *dtype_, *distill_, *optimizer_states_;
  QCheckBox *act_ckpt_, *zero1_;
  FieldMessage *lr_msg_, *wd_msg_, *clip_msg_, *warmup_msg_, *distill_msg_, *min_lr_msg_;
};

class RunnerPage : public QWizardPage {
  Q_OBJECT

 public:
  explicit RunnerPage(QWidget* parent = nullptr);
  void initializePage() override;
  bool isComplete() const override;
  void fill(project::ProjectConfig& c) const;  // runner and easgd
  // Slurm: the #SBATCH lines `qatwb jobs submit` writes for this runner section ("" otherwise).
  QString sbatch_header() const;

 private:
  void validate();
  QComboBox *kind_, *host_;
  QLineEdit *remote_dir_, *partition_, *time_limit_, *account_;
  QSpinBox *gpus_, *nodes_, *tasks_per_node_;
  QPlainTextEdit* sbatch_preview_;
  EasgdBox* easgd_;
  FieldMessage *host_msg_, *time_msg_, *account_msg_;
};

class SummaryPage : public QWizardPage {
  Q_OBJECT

 public:
  explicit SummaryPage(QWidget* parent = nullptr);
  void initializePage() override;
  bool isComplete() const override;
  QString yaml() const;
  QString errors() const;

 private:
  QPlainTextEdit *yaml_, *memory_;
  FieldMessage* errors_;
  bool valid_ = false;
};

// Writes `yaml` to a temporary file next to `target` and loads it with project::load_project.
// Returns "" when it loads, else every diagnostic ("file:line:col: field: message"), one a line.
QString validate_project_yaml(const QString& yaml, const QString& target);

}  // namespace qatwb::ui
