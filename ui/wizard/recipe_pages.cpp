// Wizard pages 5 and 6: the training recipe, and where the project runs (local, an SSH host from
// the hosts YAML, or Slurm: nodes, ranks per node, account, the #SBATCH lines it gives; EASGD
// across the ranks).
#include <QCheckBox>
#include <QComboBox>
#include <QFileInfo>
#include <QFormLayout>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QSpinBox>

#include "core/jobs/hosts_config.h"
#include "core/jobs/runner_slurm.h"
#include "core/jobs/slurm_script.h"
#include "core/project/field_patterns.h"
#include "core/project/project_yaml.h"
#include "ui/widgets/field_message.h"
#include "ui/widgets/qatwb_binary.h"
#include "ui/wizard/core_names.h"
#include "ui/wizard/easgd_box.h"
#include "ui/wizard/project_wizard.h"

namespace qatwb::ui {

namespace {

// A number typed as text (lr = 1e-4 reads better than a spin box allows).
bool read_number(const QLineEdit* edit, double& out) {
  bool ok = false;
  out = edit->text().trimmed().toDouble(&ok);
  return ok && std::isfinite(out);
}

QSpinBox* spin(const char* name, int lo, int hi, int value) {
  auto* s = new QSpinBox;
  s->setObjectName(name);
  s->setRange(lo, hi);
  s->setValue(value);
  return s;
}

QLineEdit* number_edit(const char* name, const QString& value) {
  auto* e = new QLineEdit(value);
  e->setObjectName(name);
  return e;
}

}  // namespace

TrainPage::TrainPage(QWidget* parent) : QWizardPage(parent) {
  setTitle(tr("Training recipe"));
  setSubTitle(
      tr("AdamW with a learning-rate schedule; evaluation measures post-quantization "
         "perplexity on the held-out split."));
  const project::TrainSection defaults;
  auto* form = new QFormLayout(this);
  steps_ = spin("steps", 1, 100000000, 100);
  form->addRow(tr("Steps"), steps_);
  batch_ = spin("batch_size", 1, 1 << 16, 8);
  form->addRow(tr("Batch (sequences)"), batch_);
  accum_ = spin("grad_accum", 1, 1 << 16, 1);
  form->addRow(tr("Gradient accumulation"), accum_);
  lr_ = number_edit("lr", "1e-4");
  lr_msg_ = new FieldMessage;
  lr_msg_->setObjectName("lr_message");
  form->addRow(tr("Learning rate"), lr_);
  form->addRow(QString(), lr_msg_);
  schedule_ = new QComboBox;
  schedule_->setObjectName("schedule");
  add_enum_items(schedule_, defaults.schedule.kind);
  form->addRow(tr("Schedule"), schedule_);
  warmup_ = spin("warmup_steps", 0, 100000000, 0);
  warmup_msg_ = new FieldMessage;
  form->addRow(tr("Warm-up steps"), warmup_);
  form->addRow(QString(), warmup_msg_);
  min_lr_ = number_edit("min_lr_ratio", "0");
  min_lr_->setToolTip(tr("train.schedule.min_lr_ratio: the schedule ends at lr x this (0 to 1)"));
  min_lr_msg_ = new FieldMessage;
  min_lr_msg_->setObjectName("min_lr_ratio_message");
  form->addRow(tr("Final lr (fraction of lr)"), min_lr_);
  form->addRow(QString(), min_lr_msg_);
  weight_decay_ = number_edit("weight_decay", "0");
  wd_msg_ = new FieldMessage;
  form->addRow(tr("Weight decay"), weight_decay_);
  form->addRow(QString(), wd_msg_);
  grad_clip_ = number_edit("grad_clip", "1.0");
  clip_msg_ = new FieldMessage;
  form->addRow(tr("Gradient clip (0: off)"), grad_clip_);
  form->addRow(QString(), clip_msg_);
  eval_every_ = spin("eval_every", 0, 100000000, 0);
  eval_every_->setSpecialValueText(tr("only at the end"));
  form->addRow(tr("Evaluate every (steps)"), eval_every_);
  device_ = new QComboBox;
  device_->setObjectName("device");
  device_->setEditable(true);
  device_->addItems({"cpu", "cuda", "cuda:1"});
  form->addRow(tr("Device"), device_);
  dtype_ = new QComboBox;
  dtype_->setObjectName("dtype");
  add_enum_items(dtype_, defaults.dtype);
  form->addRow(tr("Precision"), dtype_);
  checkpoint_every_ = spin("checkpoint_every", 0, 100000000, 0);
  checkpoint_every_->setSpecialValueText(tr("only at the end"));
  form->addRow(tr("Checkpoint every (steps)"), checkpoint_every_);
  act_ckpt_ = new QCheckBox(tr("Activation checkpointing (recompute in backward, less memory)"));
  act_ckpt_->setObjectName("activation_checkpointing");
  form->addRow(QString(), act_ckpt_);
  optimizer_states_ = new QComboBox;
  optimizer_states_->setObjectName("optimizer_states");
  add_enum_items(optimizer_states_, defaults.optimizer_states);
  optimizer_states_->setToolTip(
      tr("AdamW's two moments per parameter: bf16 (stochastically rounded) halves their memory"));
  form->addRow(tr("Optimizer states"), optimizer_states_);
  zero1_ = new QCheckBox(tr("ZeRO-1 (each rank keeps its share of the optimizer states)"));
  zero1_->setObjectName("zero1");
  form->addRow(QString(), zero1_);
  distill_ = new QComboBox;
  distill_->setObjectName("distill");
  distill_->addItem(tr("off"), QString("off"));
  add_enum_items(distill_, defaults.distill.loss);
  distill_->setCurrentIndex(0);
  distill_->setToolTip(
      tr("Knowledge distillation from the unquantized starting model (or another model "
         "folder): kl learns the teacher's distribution, ce+kl mixes it with the labels"));
  form->addRow(tr("Distillation"), distill_);
  teacher_ = number_edit("distill_teacher", "self_fp");
  teacher_->setToolTip(
      tr("self_fp: the starting model, frozen; or a model folder with the "
         "same vocabulary"));
  form->addRow(tr("Teacher"), teacher_);
  temperature_ = number_edit("distill_temperature", "1.0");
  form->addRow(tr("Temperature"), temperature_);
  kd_weight_ = number_edit("distill_weight", "0.5");
  kd_weight_->setToolTip(tr("ce+kl: the KD term's share w in (1 - w) CE + w KD"));
  form->addRow(tr("KD weight"), kd_weight_);
  distill_msg_ = new FieldMessage;
  form->addRow(QString(), distill_msg_);
  connect(distill_, &QComboBox::currentTextChanged, this, [this] { validate(); });
  for (QLineEdit* e : {lr_, weight_decay_, grad_clip_, temperature_, kd_weight_, teacher_, min_lr_})
    connect(e, &QLineEdit::textChanged, this, [this] { validate(); });
  for (QSpinBox* s : {steps_, warmup_})
    connect(s, &QSpinBox::valueChanged, this, [this] { validate(); });
  connect(device_, &QComboBox::currentTextChanged, this, [this] { validate(); });
  validate();
}

void TrainPage::validate() {
  double v = 0;
  lr_msg_->show_error(!read_number(lr_, v) ? tr("Not a number: '%1'").arg(lr_->text())
                      : !(v > 0)           ? tr("The learning rate must be > 0.")
                                           : QString());
  wd_msg_->show_error(!read_number(weight_decay_, v) || v < 0
                          ? tr("Weight decay must be a number >= 0.")
                          : QString());
  clip_msg_->show_error(!read_number(grad_clip_, v) || v < 0
                            ? tr("Gradient clip must be a number >= 0 (0: off).")
                            : QString());
  min_lr_msg_->show_error(!read_number(min_lr_, v) || !(v >= 0 && v <= 1)
                              ? tr("The final lr fraction must be a number in [0, 1].")
                              : QString());
  const auto kd = distill_loss();
  teacher_->setEnabled(kd.has_value());
  temperature_->setEnabled(kd.has_value());
  kd_weight_->setEnabled(kd == project::DistillSection::Loss::CeKl);
  QString kd_error;
  if (kd) {
    if (!read_number(temperature_, v) || !(v > 0 && v <= 100))
      kd_error = tr("The temperature must be in (0, 100].");
    else if (kd == project::DistillSection::Loss::CeKl &&
             (!read_number(kd_weight_, v) || !(v > 0 && v <= 1)))
      kd_error = tr("The KD weight must be in (0, 1].");
    else if (teacher_->text().trimmed().isEmpty())
      kd_error = tr("The teacher is self_fp or a model folder.");
  }
  distill_msg_->show_error(kd_error);
  warmup_msg_->show_error(warmup_->value() >= steps_->value()
                              ? tr("Warm-up (%1) must be shorter than the run (%2 steps).")
                                    .arg(warmup_->value())
                                    .arg(steps_->value())
                              : QString());
  Q_EMIT completeChanged();
}

std::optional<project::DistillSection::Loss> TrainPage::distill_loss() const {
  return parse_enum<project::DistillSection::Loss>(
      distill_->currentData().toString().toStdString());
}

bool TrainPage::isComplete() const {
  return !lr_msg_->has_error() && !wd_msg_->has_error() && !clip_msg_->has_error() &&
         !warmup_msg_->has_error() && !distill_msg_->has_error() && !min_lr_msg_->has_error() &&
         project::is_device(device_->currentText().toStdString());
}

void TrainPage::fill(project::ProjectConfig& c) const {
  auto& t = c.train;
  t.steps = steps_->value();
  t.batch_size = batch_->value();
  t.grad_accum = accum_->value();
  read_number(lr_, t.lr);
  read_number(weight_decay_, t.weight_decay);
  read_number(grad_clip_, t.grad_clip);
  t.schedule.kind = current_enum(schedule_, t.schedule.kind);
  t.schedule.warmup_steps = warmup_->value();
  read_number(min_lr_, t.schedule.min_lr_ratio);
  t.device = device_->currentText().toStdString();
  t.dtype = current_enum(dtype_, t.dtype);
  t.checkpoint_every = checkpoint_every_->value();
  t.activation_checkpointing = act_ckpt_->isChecked();
  t.optimizer_states = current_enum(optimizer_states_, t.optimizer_states);
  t.zero1 = zero1_->isChecked();
  c.eval.every = eval_every_->value();
  auto& d = t.distill;
  const auto kd = distill_loss();
  d.enabled = kd.has_value();
  if (d.enabled) {
    d.loss = *kd;
    d.teacher = teacher_->text().trimmed().toStdString();
    read_number(temperature_, d.temperature);
    if (d.loss == project::DistillSection::Loss::CeKl) read_number(kd_weight_, d.weight);
  }
}

RunnerPage::RunnerPage(QWidget* parent) : QWizardPage(parent) {
  setTitle(tr("Where to run"));
  setSubTitle(tr("This computer, an SSH host from the hosts file, or a Slurm cluster."));
  auto* form = new QFormLayout(this);
  kind_ = new QComboBox;
  kind_->setObjectName("runner_kind");
  add_enum_items(kind_, project::RunnerSection{}.kind);
  form->addRow(tr("Runner"), kind_);
  host_ = new QComboBox;
  host_->setObjectName("runner_host");
  host_->setEditable(true);
  host_msg_ = new FieldMessage;
  try {
    const auto hosts = load_hosts();
    for (const auto& [name, h] : hosts.hosts)
      host_->addItem(QString("%1 (%2)").arg(QString::fromStdString(name),
                                            QString::fromStdString(h.destination())),
                     QString::fromStdString(h.destination() +
                                            (h.port != 22 ? ":" + std::to_string(h.port) : "")));
  } catch (const std::exception& e) {
    host_->setToolTip(QString::fromUtf8(e.what()));
  }
  form->addRow(tr("Host"), host_);
  form->addRow(QString(), host_msg_);
  remote_dir_ = new QLineEdit;
  remote_dir_->setObjectName("remote_dir");
  form->addRow(tr("Remote folder"), remote_dir_);
  partition_ = new QLineEdit;
  partition_->setObjectName("partition");
  form->addRow(tr("Slurm partition"), partition_);
  gpus_ = spin("gpus", 0, 64, 0);
  form->addRow(tr("GPUs per node"), gpus_);
  nodes_ = spin("nodes", 1, 4096, 1);
  form->addRow(tr("Nodes"), nodes_);
  tasks_per_node_ = spin("tasks_per_node", 0, 256, 0);
  tasks_per_node_->setSpecialValueText(tr("one per GPU"));
  tasks_per_node_->setToolTip(
      tr("Ranks (worker processes) per node; data parallel over nodes x ranks. Default: one "
         "per GPU, at least one."));
  form->addRow(tr("Ranks per node"), tasks_per_node_);
  account_ = new QLineEdit;
  account_->setObjectName("account");
  account_msg_ = new FieldMessage;
  form->addRow(tr("Slurm account"), account_);
  form->addRow(QString(), account_msg_);
  time_limit_ = new QLineEdit;
  time_limit_->setObjectName("time_limit");
  time_limit_->setPlaceholderText("04:00:00");
  time_msg_ = new FieldMessage;
  form->addRow(tr("Time limit"), time_limit_);
  form->addRow(QString(), time_msg_);
  // What `qatwb jobs submit` will put in the batch script for this runner section.
  sbatch_preview_ = new QPlainTextEdit;
  sbatch_preview_->setObjectName("sbatch_preview");
  sbatch_preview_->setReadOnly(true);
  sbatch_preview_->setLineWrapMode(QPlainTextEdit::NoWrap);
  sbatch_preview_->setMaximumHeight(110);
  form->addRow(tr("sbatch"), sbatch_preview_);
  easgd_ = new EasgdBox;
  form->addRow(easgd_);
  connect(kind_, &QComboBox::currentTextChanged, this, [this] { validate(); });
  connect(host_, &QComboBox::currentTextChanged, this, [this] { validate(); });
  for (QLineEdit* e : {time_limit_, partition_, account_})
    connect(e, &QLineEdit::textChanged, this, [this] { validate(); });
  for (QSpinBox* s : {gpus_, nodes_, tasks_per_node_})
    connect(s, &QSpinBox::valueChanged, this, [this] { validate(); });
  connect(easgd_, &EasgdBox::changed, this, [this] { validate(); });
  validate();
}

void RunnerPage::initializePage() { validate(); }

QString RunnerPage::sbatch_header() const {
  project::ProjectConfig c;
  fill(c);
  if (c.runner.kind != jobs::LauncherKind::Slurm) return {};
  jobs::SlurmOptions opts;
  jobs::fill_slurm_options(c.runner, opts);
  try {
    const std::string script = jobs::make_sbatch_script(opts, {"qatwb", "run"});
    QStringList lines;
    for (const QString& line : QString::fromStdString(script).split('\n'))
      if (line.startsWith("#SBATCH")) lines << line;
    return lines.join('\n');
  } catch (const std::exception& e) {
    return QString::fromUtf8(e.what());
  }
}

void RunnerPage::validate() {
  using jobs::LauncherKind;
  const LauncherKind kind = current_enum(kind_, LauncherKind::Local);
  const bool slurm = kind == LauncherKind::Slurm;
  host_->setEnabled(kind != LauncherKind::Local);
  remote_dir_->setEnabled(kind != LauncherKind::Local);
  partition_->setEnabled(slurm);
  gpus_->setEnabled(kind != LauncherKind::Local);
  time_limit_->setEnabled(slurm);
  for (QWidget* w : std::initializer_list<QWidget*>{nodes_, tasks_per_node_, account_})
    w->setEnabled(slurm);
  account_msg_->show_error(slurm && !project::is_one_word(account_->text().trimmed().toStdString())
                               ? tr("A Slurm account is one word.")
                               : QString());
  sbatch_preview_->setVisible(slurm);
  sbatch_preview_->setPlainText(sbatch_header());
  const auto* zero1 = wizard() ? wizard()->findChild<QCheckBox*>("zero1") : nullptr;
  easgd_->validate(zero1 && zero1->isChecked()
                       ? tr("ZeRO-1 (training page) does not combine with EASGD: each EASGD "
                            "worker keeps its own optimizer.")
                       : QString());
  host_msg_->show_error(kind == LauncherKind::Ssh && host_->currentText().trimmed().isEmpty()
                            ? tr("The ssh runner needs a host (user@host[:port]); hosts come "
                                 "from %1")
                                  .arg(hosts_file())
                            : QString());
  const QString t = time_limit_->text().trimmed();
  time_msg_->show_error(slurm && !t.isEmpty() && !project::is_slurm_time(t.toStdString())
                            ? tr("Slurm time limits read like 04:00:00 or 1-00:00:00.")
                            : QString());
  Q_EMIT completeChanged();
}

bool RunnerPage::isComplete() const {
  return !host_msg_->has_error() && !time_msg_->has_error() && !account_msg_->has_error() &&
         !easgd_->has_error();
}

void RunnerPage::fill(project::ProjectConfig& c) const {
  easgd_->fill(c.easgd);
  auto& r = c.runner;
  r.kind = current_enum(kind_, r.kind);
  if (r.kind == jobs::LauncherKind::Local) return;
  const int i = host_->findText(host_->currentText());
  r.host = (i >= 0 && host_->itemData(i).isValid() ? host_->itemData(i).toString()
                                                   : host_->currentText().trimmed())
               .toStdString();
  r.remote_dir = remote_dir_->text().trimmed().toStdString();
  r.gpus = gpus_->value();
  if (r.kind == jobs::LauncherKind::Slurm) {
    r.partition = partition_->text().trimmed().toStdString();
    r.time_limit = time_limit_->text().trimmed().toStdString();
    r.nodes = nodes_->value();
    r.tasks_per_node = tasks_per_node_->value();
    r.account = account_->text().trimmed().toStdString();
  }
}

}  // namespace qatwb::ui
