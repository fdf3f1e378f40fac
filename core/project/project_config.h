// A project, as typed values: what `qatwb run` needs from project.yaml. Parsed and validated by
// project_yaml.cpp (every mistake reported as file:line: field: message before work starts).
// Relative paths are resolved against the YAML file's folder by the parser.
#pragma once
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/data/bos_policy.h"
#include "core/jobs/launcher_kind.h"
#include "core/quant/scheme.h"

namespace qatwb::project {

struct ModelSection {
  // Exactly one of: an HF folder (config.json + safetensors), or a named preset with random
  // init ("llama-tiny", ...: model::preset() in llama_config.h), or the checkpoint produced
  // by another run of the same project file ("run:<name>" -> that run's final model folder).
  std::string path;
  std::string preset;
  std::string tokenizer;  // tokenizer.json; default <path>/tokenizer.json
  int64_t seed = 0;       // random init seed for presets
};

struct DataSource {
  std::string path;                 // .jsonl, .jsonl.zst, .jsonl.gz, .txt, or a folder of those
  std::string text_field = "text";  // jsonl only
  double weight = 1.0;              // sampling weight among sources
};

struct DataSection {
  std::vector<DataSource> sources;
  int64_t seed = 0;
  int64_t max_documents = 0;  // 0: no limit
  int64_t max_tokens = 0;     // 0: no limit (approximate, counted after tokenization)
  double heldout_fraction = 0.1;
  bool stop_on_bad_line = false;  // else skip and warn with file:line
};

struct TokenizeSection {
  int64_t seq_len = 256;
  data::BosPolicy bos = data::BosPolicy::Document;
  bool eos_between_documents = true;
  int threads = 0;  // 0: all cores
};

struct ScheduleSection {
  enum class Kind { Constant, Cosine, Linear } kind = Kind::Cosine;
  int64_t warmup_steps = 0;
  double min_lr_ratio = 0.0;  // final lr = lr * min_lr_ratio
};

// Knowledge distillation from a frozen teacher (train.distill). Per token, with the student's
// and teacher's softmax at temperature T (p_T, q_T) and w the KD share:
//   loss = (1 - w) * CE + w * T^2 * KL(q_T || p_T)   (loss: ce+kl; loss: kl is w = 1)
// The teacher's logits are computed in the fused loss's vocabulary chunks beside the student's.
struct DistillSection {
  enum class Loss { Kl, CeKl };
  bool enabled = false;
  std::string teacher = "self_fp";  // the unquantized starting model, or a model folder
  double temperature = 1.0;
  double weight = 0.5;  // ce+kl: the KD term's share w
  Loss loss = Loss::Kl;
  double kd_weight() const { return loss == Loss::Kl ? 1.0 : weight; }
  bool self_teacher() const { return teacher == "self_fp"; }
};

// Floating-point precision of train.dtype (fp32, or bf16 autocast) and train.optimizer_states
// (AdamW's moments: fp32, or bf16 stochastically rounded).
enum class Precision { Fp32, Bf16 };

struct TrainSection {
  int64_t steps = 100;
  int64_t batch_size = 8;  // sequences per micro-batch
  int64_t grad_accum = 1;  // micro-batches per optimizer step
  double lr = 1e-4;
  double quant_lr = 0;  // learning rate of quantizer parameters; 0: same as lr
  double weight_decay = 0.0;
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
  double grad_clip = 1.0;  // 0: off
  ScheduleSection schedule;
  int64_t seed = 0;
  std::string device = "cpu";         // "cpu", "cuda", "cuda:1"
  Precision dtype = Precision::Fp32;  // bf16: autocast
  bool activation_checkpointing = false;
  // AdamW's two moments per parameter: "fp32", or "bf16" (stochastically rounded; half the
  // memory, core/train/compact_adamw.h).
  Precision optimizer_states = Precision::Fp32;
  // ZeRO-1: with data parallel, each rank keeps the optimizer states of its share of the
  // parameters only, steps them and broadcasts them to the others.
  bool zero1 = false;
  int threads = 0;               // intra-op threads; 0: all cores
  int64_t checkpoint_every = 0;  // steps; 0: only at the end
  int64_t max_bad_steps = 5;     // NaN/Inf steps in a row before the run stops
  int64_t log_every = 1;         // metric events every N steps
  int64_t detail_every = 25;     // per-layer grad norms, code flips, scale stats
  double spike_k = 3.0;          // grad-norm spike: above mean + k * std of the rolling window
  int64_t spike_window = 50;
  DistillSection distill;
};

struct EvalSection {
  int64_t every = 0;           // steps; 0: only at the end
  int64_t seq_len = 0;         // 0: tokenize.seq_len
  int64_t max_windows = 0;     // 0: all held-out windows
  bool post_quant_ppl = true;  // real quantize-dequantize, then perplexity
  std::string text;            // held-out text file; default: the sampled held-out split
};

// Elastic averaging SGD (Zhang et al. 2015) across the data-parallel ranks: each rank trains its
// own replica (no gradient averaging) and is pulled toward a centre copy held on every rank.
//  symmetric:  every `tau` steps, d_i = x_i - c; x_i -= alpha d_i; c += (beta / p) sum_i d_i.
//  sequential: SupportiveQAT's variant: workers train in turns of `stickiness` steps each; after
//              every full round (p * stickiness steps) they are visited in order,
//              d_i = x_i - c; x_i -= alpha d_i; c += beta_i d_i (beta_i from worker_betas).
// The centre is what is evaluated, checkpointed as the run's model and exported.
struct EasgdSection {
  enum class Mode { Symmetric, Sequential };
  bool enabled = false;
  Mode mode = Mode::Symmetric;
  double alpha = 0.1;
  double beta = 0.9;
  int64_t tau = 10;
  int64_t stickiness = 5;
  std::vector<double> worker_betas;  // sequential; empty: beta for every worker
  std::vector<quant::Rounding> worker_rounding = {quant::Rounding::Nearest};  // cycled over ranks

  double beta_of(int worker) const {
    return worker_betas.empty() ? beta
                                : worker_betas[static_cast<size_t>(worker) % worker_betas.size()];
  }
  quant::Rounding rounding_of(int worker) const {
    return worker_rounding[static_cast<size_t>(worker) % worker_rounding.size()];
  }
};

struct RunnerSection {
  jobs::LauncherKind kind = jobs::LauncherKind::Local;
  std::string host;  // ssh: user@host[:port]; slurm: login host ("" for local sbatch)
  std::string remote_dir;
  std::string partition;
  int gpus = 0;  // per node
  std::string time_limit;
  // Slurm: nodes, ranks per node (0: one per GPU, at least one) and the account to charge.
  int nodes = 1;
  int tasks_per_node = 0;
  std::string account;
  int ranks_per_node() const { return tasks_per_node > 0 ? tasks_per_node : std::max(1, gpus); }
};

struct ProjectConfig {
  std::string file;  // the YAML file it came from (absolute)
  std::string name;
  std::string description;
  ModelSection model;
  DataSection data;
  TokenizeSection tokenize;
  quant::QuantScheme quant;
  TrainSection train;
  EvalSection eval;
  EasgdSection easgd;
  RunnerSection runner;
};

// The tables of the project's own enums (project_enums.cpp; quant's are in scheme.h, BOS in
// data/bos_policy.h, the runner kind in jobs/launcher_kind.h).
EnumRows<ScheduleSection::Kind> enum_rows(ScheduleSection::Kind);
EnumRows<DistillSection::Loss> enum_rows(DistillSection::Loss);
EnumRows<EasgdSection::Mode> enum_rows(EasgdSection::Mode);
EnumRows<Precision> enum_rows(Precision);

}  // namespace qatwb::project
