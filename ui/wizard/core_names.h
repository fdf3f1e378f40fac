// Combo-box items spelled by core's name tables (to_string of each enum value), so the wizard
// offers exactly the words the project parser reads.
#pragma once
#include <QStringList>

namespace qatwb::ui {

QStringList format_names();           // quant.format
QStringList gguf_type_names();        // quant.gguf_type (ggml block types)
QStringList scale_init_names();       // quant.scale_init (auto first)
QStringList activation_kind_names();  // quant.activations.kind
QStringList rounding_names();         // easgd.rounding entries
QStringList easgd_mode_names();       // easgd.mode
QStringList runner_kind_names();      // runner.kind

}  // namespace qatwb::ui
