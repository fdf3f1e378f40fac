#include "ui/wizard/core_names.h"

#include "core/project/project_yaml.h"
#include "core/quant/scheme.h"

namespace qatwb::ui {

namespace {

template <class Enum>
QStringList names(std::initializer_list<Enum> values) {
  QStringList out;
  for (Enum v : values) out << QString::fromUtf8(project::to_string(v));
  return out;
}

template <class Enum>
QStringList quant_names(std::initializer_list<Enum> values) {
  QStringList out;
  for (Enum v : values) out << QString::fromUtf8(quant::to_string(v));
  return out;
}

}  // namespace

QStringList format_names() {
  using F = quant::Format;
  return quant_names({F::Int, F::MxFp4, F::NvFp4, F::Gguf});
}

QStringList gguf_type_names() {
  QStringList out;
  for (const auto& t : quant::kGgmlQuantSpecs) out << QString::fromUtf8(t.name);
  return out;
}

QStringList scale_init_names() {
  using I = quant::ScaleInit;
  return quant_names({I::Auto, I::StableQat, I::MaxOverQp, I::MaxOverQn, I::MaxAbs, I::MeanAbs,
                      I::Lsq, I::MseSearch});
}

QStringList activation_kind_names() {
  using K = quant::ActivationQuant::Kind;
  return names({K::None, K::Int8PerToken, K::Pact});
}

QStringList rounding_names() {
  using R = quant::Rounding;
  return quant_names({R::Nearest, R::Up, R::Down});
}

QStringList easgd_mode_names() {
  using M = project::EasgdSection::Mode;
  return names({M::Symmetric, M::Sequential});
}

QStringList runner_kind_names() {
  using K = project::RunnerSection::Kind;
  return names({K::Local, K::Ssh, K::Slurm});
}

}  // namespace qatwb::ui
