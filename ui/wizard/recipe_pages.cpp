// Wizard pages 5 and 6: the training recipe, and where the project runs (local, an SSH host from
// the hosts YAML, or Slurm).
#include <QComboBox>
#include <QFileInfo>
#include <QFormLayout>
#include <QLineEdit>
#include <QRegularExpression>
#include <QSpinBox>

#include "core/jobs/hosts_config.h"
#include "ui/widgets/field_message.h"
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
  schedule_->addItems({"cosine", "linear", "constant"});
  form->addRow(tr("Schedule"), schedule_);
  warmup_ = spin("warmup_steps", 0, 100000000, 0);
  warmup_msg_ = new FieldMessage;
  form->addRow(tr("Warm-up steps"), warmup_);
  form->addRow(QString(), warmup_msg_);
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
  dtype_->addItems({"fp32", "bf16"});
  form->addRow(tr("Precision"), dtype_);
  distill_ = new QComboBox;
  distill_->setObjectName("distill");
  distill_->addItems({"off", "kl", "ce+kl"});
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
  for (QLineEdit* e : {lr_, weight_decay_, grad_clip_, temperature_, kd_weight_, teacher_})
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
  const QString kd = distill_->currentText();
  teacher_->setEnabled(kd != "off");
  temperature_->setEnabled(kd != "off");
  kd_weight_->setEnabled(kd == "ce+kl");
  QString kd_error;
  if (kd != "off") {
    if (!read_number(temperature_, v) || !(v > 0 && v <= 100))
      kd_error = tr("The temperature must be in (0, 100].");
    else if (kd == "ce+kl" && (!read_number(kd_weight_, v) || !(v > 0 && v <= 1)))
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

bool TrainPage::isComplete() const {
  static const QRegularExpression device("^(cpu|cuda(:\\d+)?)$");
  return !lr_msg_->has_error() && !wd_msg_->has_error() && !clip_msg_->has_error() &&
         !warmup_msg_->has_error() && !distill_msg_->has_error() &&
         device.match(device_->currentText()).hasMatch();
}

void TrainPage::fill(project::ProjectConfig& c) const {
  auto& t = c.train;
  t.steps = steps_->value();
  t.batch_size = batch_->value();
  t.grad_accum = accum_->value();
  read_number(lr_, t.lr);
  read_number(weight_decay_, t.weight_decay);
  read_number(grad_clip_, t.grad_clip);
  const QString s = schedule_->currentText();
  t.schedule.kind = s == "constant" ? project::ScheduleSection::Kind::Constant
                    : s == "linear" ? project::ScheduleSection::Kind::Linear
                                    : project::ScheduleSection::Kind::Cosine;
  t.schedule.warmup_steps = warmup_->value();
  t.device = device_->currentText().toStdString();
  t.dtype = dtype_->currentText().toStdString();
  c.eval.every = eval_every_->value();
  auto& d = t.distill;
  const QString kd = distill_->currentText();
  d.enabled = kd != "off";
  if (d.enabled) {
    d.loss = kd == "kl" ? project::DistillSection::Loss::Kl : project::DistillSection::Loss::CeKl;
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
  kind_->addItems({"local", "ssh", "slurm"});
  form->addRow(tr("Runner"), kind_);
  host_ = new QComboBox;
  host_->setObjectName("runner_host");
  host_->setEditable(true);
  host_msg_ = new FieldMessage;
  try {
    const auto hosts = jobs::load_hosts_config(jobs::default_hosts_path());
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
  form->addRow(tr("GPUs"), gpus_);
  time_limit_ = new QLineEdit;
  time_limit_->setObjectName("time_limit");
  time_limit_->setPlaceholderText("04:00:00");
  time_msg_ = new FieldMessage;
  form->addRow(tr("Time limit"), time_limit_);
  form->addRow(QString(), time_msg_);
  connect(kind_, &QComboBox::currentTextChanged, this, [this] { validate(); });
  connect(host_, &QComboBox::currentTextChanged, this, [this] { validate(); });
  connect(time_limit_, &QLineEdit::textChanged, this, [this] { validate(); });
  validate();
}

void RunnerPage::validate() {
  const QString kind = kind_->currentText();
  host_->setEnabled(kind != "local");
  remote_dir_->setEnabled(kind != "local");
  partition_->setEnabled(kind == "slurm");
  gpus_->setEnabled(kind != "local");
  time_limit_->setEnabled(kind == "slurm");
  host_msg_->show_error(kind == "ssh" && host_->currentText().trimmed().isEmpty()
                            ? tr("The ssh runner needs a host (user@host[:port]); hosts come "
                                 "from %1")
                                  .arg(QString::fromStdString(jobs::default_hosts_path()))
                            : QString());
  static const QRegularExpression time("^(\\d+-)?\\d{1,3}(:\\d\\d){0,2}$");
  const QString t = time_limit_->text().trimmed();
  time_msg_->show_error(kind == "slurm" && !t.isEmpty() && !time.match(t).hasMatch()
                            ? tr("Slurm time limits read like 04:00:00 or 1-00:00:00.")
                            : QString());
  Q_EMIT completeChanged();
}

bool RunnerPage::isComplete() const { return !host_msg_->has_error() && !time_msg_->has_error(); }

void RunnerPage::fill(project::ProjectConfig& c) const {
  auto& r = c.runner;
  const QString kind = kind_->currentText();
  r.kind = kind == "ssh"     ? project::RunnerSection::Kind::Ssh
           : kind == "slurm" ? project::RunnerSection::Kind::Slurm
                             : project::RunnerSection::Kind::Local;
  if (kind == "local") return;
  const int i = host_->findText(host_->currentText());
  r.host = (i >= 0 && host_->itemData(i).isValid() ? host_->itemData(i).toString()
                                                   : host_->currentText().trimmed())
               .toStdString();
  r.remote_dir = remote_dir_->text().trimmed().toStdString();
  r.gpus = gpus_->value();
  if (kind == "slurm") {
    r.partition = partition_->text().trimmed().toStdString();
    r.time_limit = time_limit_->text().trimmed().toStdString();
  }
}

}  // namespace qatwb::ui
