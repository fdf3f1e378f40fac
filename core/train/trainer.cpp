#include "core/train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <sstream>

#include "core/eval/causal_lm_loss.h"
#include "core/quant/model_quantizer.h"
#include "core/train/autocast.h"
#include "core/train/checkpoint.h"
#include "core/train/compact_adamw.h"
#include "core/train/lr_schedule.h"
#include "core/train/zero1.h"
#include "core/util/error.h"

namespace qatwb::train {
namespace {

using Clock = std::chrono::steady_clock;

bool contains(const std::vector<int64_t>& v, int64_t x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

std::string centre_tensor_name(size_t k) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "param.%05zu", k);
  return buf;
}

}  // namespace

const char* to_string(TrainStatus s) {
  switch (s) {
    case TrainStatus::Finished:
      return "finished";
    case TrainStatus::Stopped:
      return "stopped";
    case TrainStatus::Failed:
      break;
  }
  return "failed";
}

Trainer::Trainer(const project::ProjectConfig& config, model::Llama model,
                 std::shared_ptr<quant::ModelQuantizer> quantizer, data::TokenLoader& loader,
                 eval::RunEvaluator& evaluator, run::EventWriter* events,
                 const run::RunDir& run_dir)
    : config_(config),
      model_(std::move(model)),
      quantizer_(std::move(quantizer)),
      loader_(loader),
      evaluator_(evaluator),
      events_(events),
      run_dir_(run_dir),
      device_(config.train.device),
      grad_stats_(config.train.spike_window, config.train.spike_k) {
  build_optimizer();
}

Trainer::~Trainer() = default;

void Trainer::build_optimizer() {
  const auto& t = config_.train;
  std::vector<torch::Tensor> weights, qparams;
  for (auto& p : model_->parameters())
    if (p.requires_grad()) weights.push_back(p);
  if (quantizer_) qparams = quantizer_->parameters();
  trainable_ = weights;
  trainable_.insert(trainable_.end(), qparams.begin(), qparams.end());
  const bool has_quant_group = !qparams.empty();
  owned_by_rank_.clear();
  if (t.zero1 && dp_ && dp_->env().world_size > 1 && !config_.easgd.enabled) {
    owned_by_rank_ = shard_parameters(trainable_, dp_->env().world_size);
    std::set<const void*> mine;
    for (const auto& p : owned_by_rank_[static_cast<size_t>(dp_->env().rank)])
      mine.insert(p.unsafeGetTensorImpl());
    auto keep_mine = [&](std::vector<torch::Tensor>& v) {
      v.erase(std::remove_if(
                  v.begin(), v.end(),
                  [&](const torch::Tensor& p) { return !mine.count(p.unsafeGetTensorImpl()); }),
              v.end());
    };
    keep_mine(weights);
    keep_mine(qparams);
  }
  auto weight_options = torch::optim::AdamWOptions(t.lr)
                            .betas({t.beta1, t.beta2})
                            .eps(t.eps)
                            .weight_decay(t.weight_decay);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(weights, std::make_unique<torch::optim::AdamWOptions>(weight_options));
  // The quantizer's group exists on every rank that has one at all (a ZeRO-1 rank may own none
  // of its tensors), so group i has the same learning rate everywhere.
  if (has_quant_group) {
    auto qopt = torch::optim::AdamWOptions(t.quant_lr > 0 ? t.quant_lr : t.lr)
                    .betas({t.beta1, t.beta2})
                    .eps(t.eps)
                    .weight_decay(0.0);
    groups.emplace_back(qparams, std::make_unique<torch::optim::AdamWOptions>(qopt));
  }
  if (t.optimizer_states == project::Precision::Bf16)
    optimizer_ = std::make_unique<CompactAdamW>(std::move(groups), weight_options);
  else
    optimizer_ = std::make_unique<torch::optim::AdamW>(std::move(groups), weight_options);
}

void Trainer::set_data_parallel(DataParallel* dp) {
  dp_ = dp;
  if (config_.train.zero1) build_optimizer();
}

void Trainer::reset_optimizer_state(const std::vector<torch::Tensor>& params) {
  auto& state = optimizer_->state();
  for (const auto& p : params) state.erase(c10::guts::to_string(p.unsafeGetTensorImpl()));
}

// Gradients are dropped, not zeroed: the first backward then hands its buffer to .grad instead of
// adding it to zeros (one pass over every parameter less per step).
void Trainer::clear_grads() {
  for (auto& p : trainable_) p.mutable_grad() = torch::Tensor();
}

ElasticAveraging* Trainer::elastic() {
  if (!config_.easgd.enabled) return nullptr;
  if (!elastic_) {
    elastic_ = std::make_unique<ElasticAveraging>(config_.easgd, dp_, trainable_);
    if (quantizer_) quantizer_->set_rounding(config_.easgd.rounding_of(elastic_->worker()));
  }
  return elastic_.get();
}

std::string Trainer::worker_checkpoint_path(const std::string& main_dir) const {
  // checkpoints/step-N (rank 0: its replica and the centre) and
  // checkpoints/workers/rank-R/step-N (the other ranks' replicas).
  return run::rank_checkpoint_path(main_dir, dp_ ? dp_->env().rank : 0);
}

void Trainer::resume_from(const std::string& checkpoint_dir) {
  ElasticAveraging* easgd = elastic();
  const std::string own_dir = easgd ? worker_checkpoint_path(checkpoint_dir) : checkpoint_dir;
  {
    // A ZeRO-1 checkpoint holds one optimizer shard per rank: it resumes on as many ranks.
    const int64_t saved = read_trainer_state(checkpoint_dir).value("zero1_ranks", int64_t{0});
    const int64_t now = sharded() ? static_cast<int64_t>(owned_by_rank_.size()) : 0;
    if (saved != now)
      throw Error(checkpoint_dir + ": written with " +
                  (saved ? "train.zero1 over " + std::to_string(saved) + " ranks"
                         : std::string("unsharded optimizer states")) +
                  ", resumed " +
                  (now ? "with train.zero1 over " + std::to_string(now) + " ranks"
                       : std::string("without ZeRO-1 sharding")) +
                  "; resume with the same --nproc and train.zero1");
  }
  auto state = read_checkpoint(own_dir, model_, quantizer_.get(), *optimizer_,
                               sharded() ? worker_checkpoint_path(checkpoint_dir) : "");
  if (easgd) {
    auto tensors = read_checkpoint_tensors(checkpoint_dir, run::kEasgdCentreFile);
    std::map<std::string, torch::Tensor> by_name(tensors.begin(), tensors.end());
    std::vector<torch::Tensor> centre;
    for (size_t k = 0; k < easgd->params().size(); ++k) {
      auto it = by_name.find(centre_tensor_name(k));
      if (it == by_name.end())
        throw Error(checkpoint_dir + "/" + run::kEasgdCentreFile + ": no tensor " +
                    centre_tensor_name(k));
      centre.push_back(it->second);
    }
    easgd->set_centre(centre);
  }
  step_ = state.at("step").get<int64_t>();
  // quant.schedule's phase at the resumed step, keeping the loaded scales and optimizer state.
  if (quantizer_) quantizer_->set_step(step_, config_.train.steps, /*reinit=*/false);
  auto loader_state = data::LoaderState::from_json(state.at("loader").get<std::string>());
  loader_state.rank = loader_.state().rank;  // ranks step in lockstep; rank 0 saved its own
  loader_.restore(loader_state);
  grad_stats_.load_state(state.at("grad_stats"));
  bad_streak_ = state.value("bad_streak", int64_t{0});
  skipped_steps_ = state.value("skipped_steps", int64_t{0});
}

void Trainer::apply_lr(int64_t step) {
  const double f = lr_factor(config_.train.schedule, step, config_.train.steps);
  const double base[2] = {config_.train.lr,
                          config_.train.quant_lr > 0 ? config_.train.quant_lr : config_.train.lr};
  auto& groups = optimizer_->param_groups();
  for (size_t i = 0; i < groups.size(); ++i)
    static_cast<torch::optim::AdamWOptions&>(groups[i].options())
        .lr(base[std::min<size_t>(i, 1)] * f);
}

Trainer::StepResult Trainer::train_step() {
  const auto& t = config_.train;
  StepResult r;
  ElasticAveraging* easgd = elastic();
  clear_grads();
  if (easgd && !easgd->trains_at(step_)) {
    r.trained = false;
    return r;
  }
  model_->train();
  if (quantizer_) {
    // A new phase of quant.schedule re-initialised scales (and AdaRound's V) for its bits: the
    // optimizer's moments of the previous grid no longer apply to them.
    if (quantizer_->set_step(step_, t.steps)) reset_optimizer_state(quantizer_->parameters());
    quantizer_->begin_step();
  }
  double loss_sum = 0;
  torch::Tensor nll_sum, kd_sum;  // distillation's terms, summed on the device (read once)
  int64_t token_count = 0;
  const bool inject_nan = contains(hooks_.nan_steps, step_);
  for (int64_t micro = 0; micro < t.grad_accum; ++micro) {
    auto batch = loader_.next_batch();
    auto windows =
        torch::from_blob(batch.data(), {t.batch_size, config_.tokenize.seq_len + 1}, torch::kInt64)
            .to(device_);
    torch::Tensor loss;
    int64_t tokens = 0;
    {
      AutocastGuard autocast(t.dtype == project::Precision::Bf16, device_);
      // The mean over the step's tokens, scaled inside the fused loss.
      tokens = windows.size(0) * (windows.size(1) - 1);
      const double scale = 1.0 / static_cast<double>(tokens * t.grad_accum);
      if (teacher_) {
        auto d = teacher_->loss_sum(model_, windows, scale);
        loss = d.loss;
        // Accumulated in float64, as the host sum they replace (exact for one micro-batch).
        const auto nll = d.nll_sum.to(torch::kFloat64), kd = d.kd_sum.to(torch::kFloat64);
        nll_sum = nll_sum.defined() ? nll_sum + nll : nll;
        kd_sum = kd_sum.defined() ? kd_sum + kd : kd;
      } else {
        loss = eval::causal_lm_loss_sum(model_, windows, scale).nll_sum;
      }
      if (quantizer_ && micro == 0) loss = loss + quantizer_->regularization_loss();
    }
    if (inject_nan) loss = loss * std::numeric_limits<float>::quiet_NaN();
    const double lv = loss.item<double>();
    if (!std::isfinite(lv)) r.finite = false;
    loss.backward();
    loss_sum += lv * t.grad_accum;
    token_count += tokens;
  }
  if (quantizer_) quantizer_->end_step();
  r.loss = loss_sum / t.grad_accum;
  if (teacher_) {
    r.loss_ce = nll_sum.item<double>() / static_cast<double>(token_count);
    r.loss_kd = kd_sum.item<double>() / static_cast<double>(token_count);
  }

  std::vector<torch::Tensor> params;
  for (auto& p : trainable_)
    if (p.grad().defined()) params.push_back(p);
  if (dp_ && !easgd) {
    std::vector<torch::Tensor> grads;
    for (auto& p : params) grads.push_back(p.grad());
    dp_->average(grads);
    const int world = dp_->env().world_size;
    if (teacher_) {
      const auto v =
          dp_->sum(torch::tensor({r.loss, r.loss_ce, r.loss_kd}, torch::kFloat64)) / world;
      r.loss = v[0].item<double>();
      r.loss_ce = v[1].item<double>();
      r.loss_kd = v[2].item<double>();
    } else {
      r.loss = dp_->sum(torch::tensor({r.loss})).item<double>() / world;
    }
    if (!std::isfinite(r.loss)) r.finite = false;
  }
  // Global norm before clipping (clip_grad_norm_ returns it); infinite max_norm only measures.
  const double max_norm = t.grad_clip > 0 ? t.grad_clip : std::numeric_limits<double>::infinity();
  r.grad_norm = torch::nn::utils::clip_grad_norm_(params, max_norm);
  if (!std::isfinite(r.grad_norm)) r.finite = false;
  if (r.finite) {
    apply_lr(step_);
    optimizer_->step();
    if (sharded()) broadcast_from_owners(*dp_, owned_by_rank_);
  } else {
    clear_grads();
  }
  return r;
}

// EASGD: every worker trained (or waited for its turn) on its own data; gather the per-worker
// losses, gradient norms and finiteness so rank 0 can report them and every rank agrees on
// whether the step counts as bad.
void Trainer::combine_worker_results(StepResult& r) {
  const int p = elastic_->workers();
  const int me = elastic_->worker();
  auto v = torch::zeros({4 * p}, torch::kDouble);
  if (r.trained) {
    v[me] = std::isfinite(r.loss) ? r.loss : 0.0;
    v[p + me] = std::isfinite(r.grad_norm) ? r.grad_norm : 0.0;
    v[2 * p + me] = 1.0;
    v[3 * p + me] = r.finite ? 0.0 : 1.0;
  }
  if (dp_) v = dp_->sum(v);
  double loss = 0, norm = 0;
  int trained = 0;
  bool finite = true;
  r.worker_loss.assign(p, std::numeric_limits<double>::quiet_NaN());
  for (int i = 0; i < p; ++i) {
    if (v[3 * p + i].item<double>() > 0) finite = false;
    if (v[2 * p + i].item<double>() == 0) continue;
    r.worker_loss[i] = v[i].item<double>();
    loss += r.worker_loss[i];
    norm += v[p + i].item<double>();
    ++trained;
  }
  r.finite = finite;
  r.trained = trained > 0;
  r.loss = trained ? loss / trained : std::numeric_limits<double>::quiet_NaN();
  r.grad_norm = trained ? norm / trained : std::numeric_limits<double>::quiet_NaN();
  if (!finite) r.loss = std::numeric_limits<double>::quiet_NaN();
}

void Trainer::log_details(int64_t step) {
  std::map<std::string, double> values;
  for (const auto& [name, p] : model_->linear_weights())
    if (p.grad().defined()) values["grad_norm/" + name] = p.grad().norm().item<double>();
  if (quantizer_) {
    const auto stats = quantizer_->stats();
    values["code_flip_fraction"] = stats.code_flip_fraction;
    values["levels_used_fraction"] = stats.levels_used_fraction;
    values["scale_mean"] = stats.scale_mean;
    values["scale_min"] = stats.scale_min;
    values["scale_max"] = stats.scale_max;
    if (stats.learned_rounding_weights > 0)
      values["rounding_soft_fraction"] = stats.soft_rounding_fraction;
    for (const auto& [name, m] : stats.modules) {
      values["code_flip/" + name] = m.code_flip_fraction;
      values["levels_used/" + name] = m.levels_used;
      values["scale_mean/" + name] = m.scale_mean;
    }
  }
  if (events_) events_->metric(step, values);
}

std::map<std::string, double> Trainer::run_eval(int64_t step) {
  std::map<std::string, double> values;
  if (events_) {
    if (ElasticAveraging* easgd = elastic()) {
      // The centre is the model that is evaluated (and exported), with nearest rounding.
      ElasticAveraging::CentreSwap centre(*easgd);
      const auto rounding = quantizer_ ? quantizer_->rounding() : quant::Rounding::Nearest;
      if (quantizer_) quantizer_->set_rounding(quant::Rounding::Nearest);
      values = evaluator_.evaluate(model_, quantizer_.get(), config_.eval.post_quant_ppl);
      if (quantizer_) quantizer_->set_rounding(rounding);
    } else {
      values = evaluator_.evaluate(model_, quantizer_.get(), config_.eval.post_quant_ppl);
    }
    events_->eval(step, values);
  }
  if (dp_) dp_->barrier();
  return values;
}

void Trainer::save_checkpoint(int64_t step) {
  nlohmann::json state = {{"step", step},
                          {"loader", loader_.state().to_json()},
                          {"grad_stats", grad_stats_.state()},
                          {"bad_streak", bad_streak_},
                          {"skipped_steps", skipped_steps_}};
  if (sharded()) state["zero1_ranks"] = static_cast<int64_t>(owned_by_rank_.size());
  const std::string dir = run_dir_.checkpoint_path(step);
  if (ElasticAveraging* easgd = elastic()) {
    // Every worker keeps its own replica and optimizer; rank 0's folder also holds the centre
    // and is written last, so a complete main checkpoint implies complete worker ones.
    if (!events_)
      write_checkpoint(worker_checkpoint_path(dir), model_, quantizer_.get(), *optimizer_, state);
    if (dp_) dp_->barrier();
    if (events_) {
      model::NamedTensors centre;
      for (size_t k = 0; k < easgd->centre().size(); ++k)
        centre.emplace_back(centre_tensor_name(k), easgd->centre()[k]);
      write_checkpoint(dir, model_, quantizer_.get(), *optimizer_, state,
                       {{run::kEasgdCentreFile, centre}});
      events_->checkpoint(step, dir);
    }
  } else {
    // ZeRO-1: the other ranks' optimizer shards are complete before rank 0's checkpoint is.
    if (sharded() && !events_) write_optimizer_shard(worker_checkpoint_path(dir), *optimizer_);
    if (sharded()) dp_->barrier();
    if (events_) {
      write_checkpoint(dir, model_, quantizer_.get(), *optimizer_, state);
      events_->checkpoint(step, dir);
    }
  }
  if (dp_) dp_->barrier();
}

TrainOutcome Trainer::run() {
  const auto& t = config_.train;
  TrainOutcome out;
  const int64_t tokens_per_step = t.batch_size * t.grad_accum * config_.tokenize.seq_len;
  while (step_ < t.steps) {
    if (hooks_.stop_at_step >= 0 && step_ >= hooks_.stop_at_step) stop_requested_ = true;
    if (hooks_.crash_at_step >= 0 && step_ >= hooks_.crash_at_step &&
        (dp_ ? dp_->env().rank : 0) == hooks_.crash_rank)
      std::_Exit(3);
    // Every rank must leave the loop at the same step, whichever got the signal first.
    if (dp_ && dp_->sum(torch::tensor({stop_requested_ ? 1.0 : 0.0})).item<double>() > 0)
      stop_requested_ = true;
    if (stop_requested_) {
      save_checkpoint(step_);
      out.status = TrainStatus::Stopped;
      out.reason = "stopped by request after step " + std::to_string(step_);
      out.steps_done = step_;
      return out;
    }
    const auto t0 = Clock::now();
    StepResult r = train_step();
    if (elastic_) combine_worker_results(r);
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    const int64_t step = step_;  // index of the step just taken
    ++step_;
    std::map<std::string, double> elastic_values;
    if (elastic_ && elastic_->update_due(step_)) {
      // Runs even after a skipped step: every rank must take part in the same collectives.
      const auto distances = elastic_->update();
      double mean = 0;
      for (size_t i = 0; i < distances.size(); ++i) {
        elastic_values["easgd/distance/" + std::to_string(i)] = distances[i];
        mean += distances[i] / static_cast<double>(distances.size());
      }
      elastic_values["easgd/distance_mean"] = mean;
      if (events_) events_->metric(step, elastic_values);
    }
    if (!r.finite) {
      ++bad_streak_;
      ++skipped_steps_;
      std::ostringstream msg;
      msg << "step " << step << " skipped: non-finite "
          << (std::isfinite(r.loss) ? "gradient norm" : "loss") << " (" << bad_streak_
          << " in a row, limit " << t.max_bad_steps << ")";
      if (events_) events_->warning(step, msg.str(), "non_finite");
      if (bad_streak_ >= t.max_bad_steps) {
        out.status = TrainStatus::Failed;
        out.reason = "stopped after " + std::to_string(bad_streak_) +
                     " consecutive steps with non-finite loss or gradients (last: step " +
                     std::to_string(step) + "); last good checkpoint kept";
        out.steps_done = step_;
        return out;
      }
      continue;
    }
    bad_streak_ = 0;
    const bool spike = grad_stats_.add(r.grad_norm);
    if (t.log_every > 0 && (step % t.log_every == 0 || step_ == t.steps)) {
      const double lr =
          static_cast<torch::optim::AdamWOptions&>(optimizer_->param_groups()[0].options()).lr();
      std::map<std::string, double> values = {
          {"loss", r.loss},
          {"lr", lr},
          {"grad_norm", r.grad_norm},
          {"grad_norm_mean", grad_stats_.mean()},
          {"grad_norm_std", grad_stats_.stddev()},
          {"grad_spikes", static_cast<double>(grad_stats_.spikes())},
          {"grad_spike", spike ? 1.0 : 0.0},
          {"tokens_per_s", tokens_per_step / seconds},
          {"step_time_s", seconds},
          {"skipped_steps", static_cast<double>(skipped_steps_)}};
      // EASGD: this rank's own terms (the others' are in their worker_loss).
      if (std::isfinite(r.loss_ce)) values["loss_ce"] = r.loss_ce;
      if (std::isfinite(r.loss_kd)) values["loss_kd"] = r.loss_kd;
      if (quantizer_ && !config_.quant.schedule.empty())
        values["quant_bits"] = quantizer_->scheduled_bits();
      for (size_t i = 0; i < r.worker_loss.size(); ++i)
        if (std::isfinite(r.worker_loss[i]))
          values["worker_loss/" + std::to_string(i)] = r.worker_loss[i];
      if (events_) events_->metric(step, values);
    }
    if (t.detail_every > 0 && step % t.detail_every == 0) log_details(step);
    if (on_step_) on_step_(step, r.loss, tokens_per_step / seconds);
    if (config_.eval.every > 0 && step_ % config_.eval.every == 0 && step_ < t.steps)
      run_eval(step_);
    if (t.checkpoint_every > 0 && step_ % t.checkpoint_every == 0 && step_ < t.steps)
      save_checkpoint(step_);
  }
  out.final_eval = run_eval(step_);
  save_checkpoint(step_);
  if (ElasticAveraging* easgd = elastic()) {
    // The run's final model is the centre, rounded to nearest like every evaluation of it.
    easgd->adopt_centre();
    if (quantizer_) quantizer_->set_rounding(quant::Rounding::Nearest);
  }
  out.status = TrainStatus::Finished;
  out.steps_done = step_;
  return out;
}

}  // namespace qatwb::train
