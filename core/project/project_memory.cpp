#include "core/project/project_memory.h"

#include <filesystem>
#include <sstream>

#include "core/model/training_cost.h"
#include "core/text/tokenizer.h"

namespace qatwb::project {

model::LlamaConfig project_model_config(const ProjectConfig& c) {
  namespace fs = std::filesystem;
  if (!c.model.path.empty())
    return model::LlamaConfig::from_file((fs::path(c.model.path) / "config.json").string());
  const int64_t vocab =
      c.model.tokenizer.empty() ? 0 : text::Tokenizer::from_file(c.model.tokenizer).vocab_size();
  return model::preset(c.model.preset, vocab);
}

std::string project_memory_estimate(const ProjectConfig& c) {
  std::ostringstream out;
  try {
    const auto mc = project_model_config(c);
    model::MemoryInputs in;
    in.batch = c.train.batch_size;
    in.seq_len = c.tokenize.seq_len;
    in.bf16 = c.train.dtype == Precision::Bf16;
    in.activation_checkpointing = c.train.activation_checkpointing;
    in.quantized = c.quant.enabled;
    in.cpu = c.train.device == "cpu";
    in.optimizer_state_bytes = c.train.optimizer_states == Precision::Bf16 ? 2 : 4;
    if (const auto& d = c.train.distill; d.enabled) {
      const auto tc = d.self_teacher()
                          ? mc
                          : model::LlamaConfig::from_file(
                                (std::filesystem::path(d.teacher) / "config.json").string());
      in.teacher_parameters = tc.num_parameters();
      in.teacher_hidden = tc.hidden_size;
    }
    const auto e = model::estimate_training_memory(mc, in);
    out << "memory estimate (peak per rank, " << mc.num_parameters() / 1e6 << "M parameters, batch "
        << in.batch << " x seq " << in.seq_len << ", " << enum_name(c.train.dtype) << " on "
        << c.train.device << "):\n"
        << model::format_memory_estimate(e);
    if (c.train.zero1) {
      out << "  with train.zero1 (optimizer states split across ranks):";
      for (int64_t ranks : {2, 4, 8}) {
        model::MemoryInputs z = in;
        z.optimizer_shards = ranks;
        out << (ranks > 2 ? "," : "") << " " << ranks << " ranks "
            << model::estimate_training_memory(mc, z).total() / 1e9 << " GB";
      }
      out << "\n";
    }
    if (!in.activation_checkpointing) {
      in.activation_checkpointing = true;
      out << "  with train.activation_checkpointing: "
          << model::estimate_training_memory(mc, in).total() / 1e9 << " GB\n";
    }
  } catch (const std::exception& e) {
    out << "memory estimate: unavailable (" << e.what() << ")\n";
  }
  return out.str();
}

}  // namespace qatwb::project
