#include "core/train/run_pipeline.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "core/data/sampler.h"
#include "core/data/token_loader.h"
#include "core/data/tokenize_shards.h"
#include "core/eval/run_evaluator.h"
#include "core/model/hf_checkpoint.h"
#include "core/model/safetensors.h"
#include "core/project/project_yaml.h"
#include "core/quant/model_quantizer.h"
#include "core/run/event_log.h"
#include "core/run/run_dir.h"
#include "core/store/live_ingest.h"
#include "core/store/store.h"
#include "core/text/tokenizer.h"
#include "core/train/data_parallel.h"
#include "core/train/threads.h"
#include "core/train/trainer.h"
#include "core/util/cpu_features.h"
#include "core/util/error.h"
#include "core/util/sha256.h"

namespace fs = std::filesystem;

namespace qatwb::train {
namespace {

std::string tokenizer_path(const project::ProjectConfig& c) {
  if (!c.model.tokenizer.empty()) return c.model.tokenizer;
  if (!c.model.path.empty()) return (fs::path(c.model.path) / "tokenizer.json").string();
  throw Error(c.file + ": model.tokenizer: a preset model needs a tokenizer.json path");
}

// Samples and tokenizes into a cache folder keyed by everything that determines its content,
// so runs of the same data (e.g. a sweep over surrogates) share one copy.
std::string prepare_tokens(const project::ProjectConfig& c, const text::Tokenizer& tok,
                           const std::string& tokenizer_sha, const std::string& cache_root,
                           const std::function<void(const std::string&)>& log_line) {
  nlohmann::json key = nlohmann::json::parse(project::to_json(c));
  nlohmann::json identity = {
      {"data", key["data"]}, {"tokenize", key["tokenize"]}, {"tokenizer_sha256", tokenizer_sha}};
  // The content of every source (sha256 of each file; a folder by its files in name order), not
  // its size: a corpus edited in place to the same length must not reuse stale shards.
  for (const auto& s : c.data.sources) {
    std::error_code ec;
    nlohmann::json files = nlohmann::json::array();
    if (fs::is_directory(s.path, ec)) {
      std::vector<fs::path> found;
      for (fs::recursive_directory_iterator it(s.path, ec), end; !ec && it != end; it.increment(ec))
        if (it->is_regular_file(ec)) found.push_back(it->path());
      std::sort(found.begin(), found.end());
      for (const auto& f : found)
        files.push_back({fs::relative(f, s.path, ec).string(), sha256_file(f.string())});
    } else if (fs::is_regular_file(s.path, ec)) {
      files.push_back({"", sha256_file(s.path)});
    }
    identity["source_sha256"].push_back(files);
  }
  const std::string digest = sha256_hex(identity.dump()).substr(0, 16);
  const fs::path dir = fs::path(cache_root) / digest;
  const fs::path tokens = dir / "tokens";
  if (fs::exists(tokens / "manifest.json")) {
    log_line("data: using cached token shards " + tokens.string());
    return tokens.string();
  }
  fs::create_directories(dir);
  data::SampleOptions so;
  for (const auto& s : c.data.sources) so.sources.push_back({s.path, s.text_field, s.weight});
  so.out_dir = (dir / "sample").string();
  so.seed = static_cast<uint64_t>(c.data.seed);
  so.max_documents = c.data.max_documents;
  so.max_tokens = c.data.max_tokens;
  so.heldout_fraction = c.data.heldout_fraction;
  so.stop_on_bad_line = c.data.stop_on_bad_line;
  so.show_progress = true;
  const auto sampled = data::sample_documents(so);
  log_line("data: sampled " + std::to_string(sampled.train.documents) + " train and " +
           std::to_string(sampled.heldout.documents) + " held-out documents");
  data::TokenizeOptions to;
  to.input = so.out_dir;
  to.out_dir = tokens.string();
  to.seq_len = c.tokenize.seq_len;
  to.bos = c.tokenize.bos;
  to.eos = c.tokenize.eos_between_documents;
  to.threads = c.tokenize.threads;
  to.show_progress = true;
  const auto result = data::tokenize_to_shards(to, tok);
  log_line("data: tokenized into " + result.manifest_path);
  return tokens.string();
}

// The held-out text for perplexity: the evaluation file if given, else the held-out documents
// joined with "\n\n", tokenized once with the tokenizer's special tokens (BOS).
std::vector<int32_t> heldout_ids(const project::ProjectConfig& c, const text::Tokenizer& tok,
                                 const std::string& tokens_dir) {
  std::string text;
  if (!c.eval.text.empty()) {
    std::ifstream in(c.eval.text, std::ios::binary);
    if (!in) throw Error(c.file + ": eval.text: cannot read " + c.eval.text);
    text.assign(std::istreambuf_iterator<char>(in), {});
  } else {
    const auto manifest = data::read_token_manifest(tokens_dir);
    const auto* split = manifest.find_split("heldout");
    if (!split) throw Error("the sampled data has no held-out split (data.heldout_fraction)");
    std::ifstream in(split->source_path);
    std::string line;
    bool first = true;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      auto doc = nlohmann::json::parse(line);
      if (!first) text += "\n\n";
      text += doc.at("text").get<std::string>();
      first = false;
    }
  }
  return tok.encode(text, /*add_special_tokens=*/true, /*replace_invalid=*/false);
}

// The quantizer attached to a model and its bits per weight.
struct AttachedQuantizer {
  std::shared_ptr<quant::ModelQuantizer> quantizer;  // null without quant.enabled
  quant::ModelBits bits;
};

// One call of run_project: every rank runs one (under `--nproc N`, srun or torchrun); rank 0
// alone owns the run directory (lock, config, events, checkpoints, final model).
class ProjectRun {
 public:
  ProjectRun(const RunRequest& request, const RunHooks& hooks)
      : request_(request), hooks_(hooks), dist_(request.dist), main_rank_(dist_.is_main()) {}

  RunOutcome run() {
    load_config();
    if (main_rank_) claim_run_dir();
    std::string threads_line = configure_threads(config_.train.threads);
    if (!request_.openmp_note.empty())
      threads_line += "; OpenMP wait policy " + request_.openmp_note;
    const torch::Device device(config_.train.device);
    if (events_) start_events(device);
    if (dist_.enabled()) dp_ = std::make_unique<DataParallel>(dist_);
    if (main_rank_) {
      log(threads_line + "; device " + device.str() + "; run dir " + rd_->path() +
          (dp_ ? "; data parallel over " + std::to_string(dist_.world_size) + " ranks" : ""));
      if (const auto w =
              util::bf16_cpu_warning(config_.train.device, enum_name(config_.train.dtype));
          !w.empty())
        log(w);
    }
    TrainOutcome outcome;
    try {
      outcome = train(device);
    } catch (const std::exception& e) {
      if (events_) events_->end("failed", e.what(), {});
      if (main_rank_ && !request_.db_path.empty()) {
        try {
          store::Store::open(request_.db_path).ingest_run_dir(rd_->path());
        } catch (...) {
        }
      }
      throw;
    }
    RunOutcome result{outcome.status, outcome.reason, outcome.final_eval, rd_->path()};
    if (!main_rank_) return result;
    events_->end(to_string(outcome.status), outcome.reason, outcome.final_eval);
    if (!request_.db_path.empty()) store::Store::open(request_.db_path).ingest_run_dir(rd_->path());
    return result;
  }

 private:
  void log(const std::string& line) const {
    if (hooks_.log) hooks_.log(line);
  }

  // The project (the run's config.yaml on resume) and the run directory; the thread count.
  void load_config() {
    if (request_.resume) {
      rd_ = std::make_unique<run::RunDir>(request_.run_dir);
      if (!fs::exists(rd_->config_path()))
        throw Error(request_.run_dir + ": not a run directory (no config.yaml) to resume");
      config_ = project::load_project(rd_->config_path());
    } else {
      config_ = project::load_project(request_.project_path, request_.overrides);
      if (request_.run_dir.empty()) {
        if (dist_.enabled()) throw Error("data-parallel ranks need an explicit --run-dir");
        rd_ = std::make_unique<run::RunDir>(run::RunDir::create_new("runs", config_.name));
      } else {
        rd_ = std::make_unique<run::RunDir>(request_.run_dir);
        if (main_rank_ && fs::exists(rd_->events_path()))
          throw Error(request_.run_dir + ": already holds a run (use --resume to continue it)");
      }
    }
    if (request_.threads > 0) config_.train.threads = request_.threads;
    if (request_.threads_per_rank > 0 && request_.threads <= 0)
      config_.train.threads = request_.threads_per_rank;
  }

  // Rank 0: creates and locks the run directory, writes config.yaml (new run), opens the events.
  void claim_run_dir() {
    rd_->create();
    lock_ = std::make_unique<run::RunLock>(*rd_);
    if (!request_.resume) {
      std::ofstream out(rd_->config_path());
      out << project::to_yaml(config_);
      if (!out) throw Error("cannot write " + rd_->config_path());
    }
    events_ = std::make_unique<run::EventWriter>(rd_->events_path());
  }

  // The start event; the store learns of the run now and follows it (the GUI and `qatwb watch`
  // show it live).
  void start_events(const torch::Device& device) {
    run::StartInfo info;
    info.run = rd_->name();
    info.project = config_.name;
    info.config_json = project::to_json(config_);
    char host[256] = {0};
    gethostname(host, sizeof host - 1);
    info.host = host;
    info.pid = getpid();
    info.device = device.str();
    info.threads = torch::get_num_threads();
    events_->start(info);
    if (!request_.db_path.empty()) {
      live_ = std::make_unique<store::LiveIngest>(request_.db_path, rd_->path());
      live_->poll(true);
    }
  }

  TrainOutcome train(const torch::Device& device) {
    const std::string tok_path = tokenizer_path(config_);
    auto tokenizer = text::Tokenizer::from_file(tok_path);
    const std::string tok_sha = sha256_file(tok_path);
    const std::string tokens_dir = prepare_data(tokenizer, tok_sha);
    model::Llama model = build_model(tokenizer, device);
    // The teacher is copied from the starting model before a quantizer or a resumed checkpoint
    // changes it.
    std::unique_ptr<Teacher> teacher = make_teacher(model, device);
    const AttachedQuantizer q = attach_quantizer(model);
    if (dp_) {
      auto params = model->parameters();
      if (q.quantizer)
        for (auto& p : q.quantizer->parameters()) params.push_back(p);
      dp_->broadcast_from_main(params);
    }
    eval::PerplexityOptions popt;
    popt.seq_len = config_.eval.seq_len > 0 ? config_.eval.seq_len : config_.tokenize.seq_len;
    popt.max_windows = config_.eval.max_windows;
    popt.bf16 = config_.train.dtype == project::Precision::Bf16;
    eval::RunEvaluator evaluator(
        main_rank_ ? heldout_ids(config_, tokenizer, tokens_dir) : std::vector<int32_t>{}, popt);
    data::LoaderOptions lopt;
    lopt.split = "train";
    lopt.seq_len = config_.tokenize.seq_len;
    lopt.batch_size = config_.train.batch_size;
    lopt.seed = static_cast<uint64_t>(config_.train.seed);
    lopt.rank = dist_.rank;
    lopt.world_size = dist_.world_size;
    data::TokenLoader loader(tokens_dir, lopt, tok_sha);
    Trainer trainer(config_, model, q.quantizer, loader, evaluator, events_.get(), *rd_);
    trainer.set_data_parallel(dp_.get());
    if (teacher) trainer.set_teacher(std::move(teacher));
    resume_or_evaluate_start(trainer, evaluator, model, q);
    if (dp_) dp_->barrier();
    const TrainOutcome outcome = run_trainer(trainer);
    if (outcome.status == TrainStatus::Finished && main_rank_)
      save_final_model(model, q.quantizer.get(), tok_path);
    return outcome;
  }

  // Rank 0 samples and tokenizes (or finds the data in the cache); the others find it there
  // afterwards. Runs beside each other (a project's runs, a sweep) share the cache.
  std::string prepare_data(const text::Tokenizer& tokenizer, const std::string& tok_sha) {
    const fs::path cache_root =
        !request_.cache_root.empty() ? request_.cache_root : rd_->default_cache_dir();
    const std::string data_cache = (cache_root / "data").string();
    const auto log_line = [this](const std::string& line) { log(line); };
    std::string tokens_dir;
    if (main_rank_) tokens_dir = prepare_tokens(config_, tokenizer, tok_sha, data_cache, log_line);
    if (dp_) dp_->barrier();
    if (!main_rank_) tokens_dir = prepare_tokens(config_, tokenizer, tok_sha, data_cache, log_line);
    return tokens_dir;
  }

  model::Llama build_model(const text::Tokenizer& tokenizer, const torch::Device& device) const {
    model::Llama model = config_.model.path.empty()
                             ? model::create_from_preset(config_.model.preset,
                                                         tokenizer.vocab_size(), config_.model.seed)
                             : model::load_hf(config_.model.path, torch::kCPU);
    model->to(device);
    model->set_activation_checkpointing(config_.train.activation_checkpointing);
    return model;
  }

  std::unique_ptr<Teacher> make_teacher(const model::Llama& model,
                                        const torch::Device& device) const {
    const auto& d = config_.train.distill;
    if (!d.enabled) return nullptr;
    auto teacher = std::make_unique<Teacher>(d, model, device,
                                             config_.train.dtype == project::Precision::Bf16);
    if (main_rank_)
      log("distill: teacher " + teacher->description() + " (" +
          std::to_string(teacher->parameter_count()) + " parameters, frozen), loss " +
          (d.loss == project::DistillSection::Loss::Kl
               ? std::string("kl")
               : "ce+kl, weight " + project::format_number(d.weight)) +
          ", temperature " + project::format_number(d.temperature));
    return teacher;
  }

  AttachedQuantizer attach_quantizer(model::Llama& model) const {
    AttachedQuantizer q;
    if (!config_.quant.enabled) return q;
    q.quantizer =
        std::make_shared<quant::ModelQuantizer>(config_.quant, model->quantizable_weights());
    model->set_weight_hook(q.quantizer);
    std::vector<quant::LinearShape> shapes;
    for (const auto& [name, w] : model->quantizable_weights())
      shapes.push_back({name, w.size(0), w.size(1)});
    q.bits = quant::model_bits(config_.quant, shapes, model->config().num_parameters());
    if (!main_rank_) return q;
    log("quant: " + std::to_string(q.quantizer->modules().size()) + " modules, " +
        quant::describe_module_scheme(config_.quant) +
        (config_.quant.overrides.empty()
             ? std::string()
             : ", " + std::to_string(config_.quant.overrides.size()) +
                   " override(s) (`qatwb project check` lists each module)"));
    if (!config_.quant.schedule.empty())
      log("quant schedule: " + quant::describe_schedule(config_.quant));
    char buf[128];
    std::snprintf(buf, sizeof buf,
                  "quant: %.3f bits per quantized weight, %.3f over the whole model",
                  q.bits.quantized_bpw, q.bits.model_bpw);
    log(buf);
    return q;
  }

  // A resume continues from the last checkpoint; a new run's rank 0 evaluates step 0, the
  // starting point every QAT result is compared with.
  void resume_or_evaluate_start(Trainer& trainer, eval::RunEvaluator& evaluator,
                                model::Llama& model, const AttachedQuantizer& q) {
    const auto checkpoints = rd_->checkpoints();
    if (request_.resume && !checkpoints.empty()) {
      trainer.resume_from(checkpoints.back().second);
      if (main_rank_) log("resumed from " + checkpoints.back().second);
      return;
    }
    if (!main_rank_) return;
    std::map<std::string, double> v;
    v["ppl_fp"] = evaluator.full_precision_ppl(model);
    if (q.quantizer) {
      v["ppl_rtn"] = evaluator.post_quant_ppl(model, *q.quantizer);
      v["bits_per_weight"] = q.bits.model_bpw;
      for (const auto& [k, x] : evaluator.evaluate(model, q.quantizer.get(), false)) v[k] = x;
    }
    events_->eval(0, v);
    if (live_) live_->poll(true);
    std::string msg = "step 0: ppl_fp " + std::to_string(v["ppl_fp"]);
    if (q.quantizer) msg += ", ppl_rtn " + std::to_string(v["ppl_rtn"]);
    log(msg);
  }

  // Trains with the progress hooks, the live store and the stop request wired in.
  TrainOutcome run_trainer(Trainer& trainer) {
    const bool progress = main_rank_ && hooks_.progress_begin;
    if (progress) hooks_.progress_begin(config_.train.steps, trainer.start_step());
    trainer.set_test_hooks(request_.test_hooks);
    trainer.set_step_callback([&](int64_t step, double loss, double tps) {
      if (progress && hooks_.progress_step) hooks_.progress_step(step, loss, tps);
      if (live_) live_->poll();
      if (hooks_.stop_requested && hooks_.stop_requested()) trainer.request_stop();
    });
    TrainOutcome outcome = trainer.run();
    if (progress && hooks_.progress_end) hooks_.progress_end();
    return outcome;
  }

  void save_final_model(model::Llama& model, const quant::ModelQuantizer* quantizer,
                        const std::string& tok_path) const {
    model::save_hf(model, rd_->model_dir(), torch::kFloat32,
                   {{"qatwb_run", rd_->name()}, {"qatwb_project", config_.name}});
    model::copy_tokenizer_files(tok_path, rd_->model_dir());
    if (quantizer)
      model::save_safetensors(run::quantizer_file(rd_->model_dir()), quantizer->state(),
                              {{"project", project::to_json(config_)}});
  }

  const RunRequest& request_;
  const RunHooks& hooks_;
  const DistEnv& dist_;
  const bool main_rank_;
  project::ProjectConfig config_;
  std::unique_ptr<run::RunDir> rd_;
  std::unique_ptr<run::RunLock> lock_;
  std::unique_ptr<run::EventWriter> events_;
  std::unique_ptr<store::LiveIngest> live_;  // rank 0 with a store
  std::unique_ptr<DataParallel> dp_;
};

}  // namespace

RunOutcome run_project(const RunRequest& request, const RunHooks& hooks) {
  return ProjectRun(request, hooks).run();
}

}  // namespace qatwb::train
