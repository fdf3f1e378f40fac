// The QAT training loop: AdamW (weights and quantizer parameters in separate groups), warmup +
// cosine/linear/constant schedule, gradient clipping and accumulation, bf16 autocast, NaN/Inf
// step skipping, metrics and evaluations as events, atomic checkpoints and bit-exact resume.
#pragma once
#include <torch/torch.h>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <string>

#include "core/data/token_loader.h"
#include "core/eval/run_evaluator.h"
#include "core/model/llama.h"
#include "core/project/project_config.h"
#include "core/run/event_log.h"
#include "core/run/run_dir.h"
#include "core/train/data_parallel.h"
#include "core/train/distillation.h"
#include "core/train/easgd.h"
#include "core/train/grad_stats.h"
#include "core/train/test_hooks.h"

namespace qatwb::quant {
class ModelQuantizer;
}

namespace qatwb::train {

enum class TrainStatus { Finished, Failed, Stopped };
// The status word of events.jsonl's end event and of the store: "finished", "failed", "stopped".
const char* to_string(TrainStatus s);

struct TrainOutcome {
  TrainStatus status = TrainStatus::Failed;
  std::string reason;
  int64_t steps_done = 0;
  std::map<std::string, double> final_eval;
};

// Called after every optimizer step with (step, loss, tokens/s); for console progress.
using StepCallback = std::function<void(int64_t step, double loss, double tokens_per_s)>;

class Trainer {
 public:
  // events: null on data-parallel ranks other than 0.
  Trainer(const project::ProjectConfig& config, model::Llama model,
          std::shared_ptr<quant::ModelQuantizer> quantizer, data::TokenLoader& loader,
          eval::RunEvaluator& evaluator, run::EventWriter* events, const run::RunDir& run_dir);
  ~Trainer();

  // Restores model, quantizer, optimizer, data position and statistics from a checkpoint folder
  // written by this class; training continues at the step after it.
  void resume_from(const std::string& checkpoint_dir);
  int64_t start_step() const { return step_; }

  void set_step_callback(StepCallback cb) { on_step_ = std::move(cb); }
  // Averages gradients across ranks (or, with easgd enabled, runs elastic averaging between the
  // ranks' replicas); rank 0 alone evaluates and writes events and checkpoints. Call before
  // resume_from() and run().
  // With train.zero1 the optimizer is rebuilt here over this rank's share of the parameters.
  void set_data_parallel(DataParallel* dp);
  // train.distill: the frozen teacher whose logits the student learns (core/train/distillation.h).
  void set_teacher(std::unique_ptr<Teacher> teacher) { teacher_ = std::move(teacher); }
  // Asks the loop to stop after the current step (from a signal handler's flag, or the GUI).
  void request_stop() { stop_requested_ = true; }
  void set_test_hooks(const TrainerTestHooks& hooks) { hooks_ = hooks; }
  const volatile bool* stop_flag() const { return &stop_requested_; }

  TrainOutcome run();

 private:
  struct StepResult {
    bool finite = true;
    bool trained = true;  // false: an EASGD worker waiting for its turn (sequential mode)
    double loss = 0;
    double grad_norm = 0;
    // Distillation's two terms, per token (NaN without a teacher or when this rank waited).
    double loss_ce = std::numeric_limits<double>::quiet_NaN();
    double loss_kd = std::numeric_limits<double>::quiet_NaN();
    std::vector<double> worker_loss;  // EASGD: per worker (NaN for workers that did not train)
  };
  StepResult train_step();
  // AdamW (train.optimizer_states: bf16 -> CompactAdamW) over the weights and the quantizer's
  // parameters in two groups; with ZeRO-1 only over the ones this rank owns.
  void build_optimizer();
  bool sharded() const { return !owned_by_rank_.empty(); }
  void clear_grads();
  // Drops the optimizer's moments of these parameters (they restart from zero).
  void reset_optimizer_state(const std::vector<torch::Tensor>& params);
  // EASGD: created on first use (after set_data_parallel); null when easgd is off.
  ElasticAveraging* elastic();
  void combine_worker_results(StepResult& r);
  std::string worker_checkpoint_path(const std::string& main_dir) const;
  void apply_lr(int64_t step);
  void log_details(int64_t step);
  std::map<std::string, double> run_eval(int64_t step);
  void save_checkpoint(int64_t step);

  const project::ProjectConfig& config_;
  model::Llama model_;
  std::shared_ptr<quant::ModelQuantizer> quantizer_;
  data::TokenLoader& loader_;
  eval::RunEvaluator& evaluator_;
  run::EventWriter* events_;  // null on data-parallel ranks other than 0
  DataParallel* dp_ = nullptr;
  std::unique_ptr<ElasticAveraging> elastic_;
  std::unique_ptr<Teacher> teacher_;
  const run::RunDir& run_dir_;
  torch::Device device_;
  std::unique_ptr<torch::optim::AdamW> optimizer_;
  std::vector<torch::Tensor> trainable_;  // every trained tensor: weights, then quantizer's
  std::vector<std::vector<torch::Tensor>> owned_by_rank_;  // ZeRO-1 (empty: not sharded)
  GradNormStats grad_stats_;
  int64_t step_ = 0;  // optimizer steps done
  int64_t bad_streak_ = 0;
  int64_t skipped_steps_ = 0;
  volatile bool stop_requested_ = false;
  StepCallback on_step_;
  TrainerTestHooks hooks_;
};

}  // namespace qatwb::train
