// The tables of the project's own enums (quant's are in quant/scheme_names.cpp, BOS in
// data/token_shards.cpp, the runner kind in jobs/job.cpp), and the list of every field whose
// value is a table's name (`qatwb project choices`).
#include "core/project/project_yaml.h"

namespace qatwb::project {
namespace {

const EnumRow<ScheduleSection::Kind> kScheduleKinds[] = {
    {ScheduleSection::Kind::Constant, "constant", "lr after warm-up, unchanged"},
    {ScheduleSection::Kind::Cosine, "cosine", "cosine decay from lr to lr * min_lr_ratio"},
    {ScheduleSection::Kind::Linear, "linear", "linear decay from lr to lr * min_lr_ratio"}};

const EnumRow<DistillSection::Loss> kDistillLosses[] = {
    {DistillSection::Loss::Kl, "kl", "pure distillation: T^2 * KL(teacher || student)"},
    {DistillSection::Loss::CeKl, "ce+kl",
     "(1 - weight) * cross-entropy + weight * T^2 * KL(teacher || student)"}};

const EnumRow<EasgdSection::Mode> kEasgdModes[] = {
    {EasgdSection::Mode::Symmetric, "symmetric",
     "every tau steps all workers and the centre pull toward each other"},
    {EasgdSection::Mode::Sequential, "sequential",
     "SupportiveQAT: workers train in turns of stickiness steps, then update the centre in order"}};

const EnumRow<Precision> kPrecisions[] = {
    {Precision::Fp32, "fp32", "32-bit float"},
    {Precision::Bf16, "bf16",
     "bfloat16 (train.dtype: autocast; optimizer_states: half the memory)"}};

template <typename E>
ChoiceField choices(const std::string& field, const std::vector<std::string>& names) {
  ChoiceField f{field, {}};
  for (const auto& n : names) f.choices.push_back({n, enum_help(*parse_enum<E>(n))});
  return f;
}

template <typename E>
ChoiceField choices(const std::string& field) {
  return choices<E>(field, enum_names<E>());
}

}  // namespace

EnumRows<ScheduleSection::Kind> enum_rows(ScheduleSection::Kind) { return kScheduleKinds; }
EnumRows<DistillSection::Loss> enum_rows(DistillSection::Loss) { return kDistillLosses; }
EnumRows<EasgdSection::Mode> enum_rows(EasgdSection::Mode) { return kEasgdModes; }
EnumRows<Precision> enum_rows(Precision) { return kPrecisions; }

const char* to_string(ScheduleSection::Kind kind) { return enum_name(kind); }
const char* to_string(DistillSection::Loss loss) { return enum_name(loss); }
const char* to_string(EasgdSection::Mode mode) { return enum_name(mode); }
const char* to_string(Precision precision) { return enum_name(precision); }

std::vector<ChoiceField> choice_fields() {
  using namespace quant;
  ChoiceField gguf{"quant.gguf_type", {}};
  for (const auto& t : kGgmlQuantSpecs)
    gguf.choices.push_back(
        {t.name, "ggml " + std::string(t.name) + ": blocks of " + std::to_string(t.block) + ", " +
                     format_number(ggml_bits_per_weight(t.type)) + " bits per weight"});
  const auto not_gguf = [](Format f) { return f != Format::Gguf; };
  return {choices<data::BosPolicy>("tokenize.bos"),
          choices<Format>("quant.format"),
          gguf,
          choices<Granularity>("quant.granularity"),
          choices<ScaleMode>("quant.scale"),
          choices<ScaleInit>("quant.scale_init"),
          choices<Surrogate>("quant.surrogate"),
          choices<DsqScaleGrad>("quant.surrogate_params.scale_grad"),
          choices<ActivationQuant::Kind>("quant.activations.kind"),
          choices<Format>("quant.overrides[].format", enum_names_where<Format>(not_gguf)),
          choices<Granularity>("quant.overrides[].granularity"),
          choices<Surrogate>("quant.overrides[].surrogate"),
          choices<ScheduleSection::Kind>("train.schedule.kind"),
          choices<Precision>("train.dtype"),
          choices<Precision>("train.optimizer_states"),
          choices<DistillSection::Loss>("train.distill.loss"),
          choices<EasgdSection::Mode>("easgd.mode"),
          choices<Rounding>("easgd.rounding[]"),
          choices<jobs::LauncherKind>("runner.kind")};
}

}  // namespace qatwb::project
