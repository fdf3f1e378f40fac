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

}  // namespace

RunOutcome run_project(const RunRequest& request, const RunHooks& hooks) {
  // Data parallel: under `--nproc N`, srun or torchrun every rank runs this function; rank 0
  // alone owns the run directory (lock, config, events, checkpoints, final model).
  const DistEnv& dist = request.dist;
  const auto log_line = [&hooks](const std::string& line) {
    if (hooks.log) hooks.log(line);
  };
  const bool main_rank = dist.is_main();
  project::ProjectConfig config;
  std::unique_ptr<run::RunDir> rd;
  if (request.resume) {
    rd = std::make_unique<run::RunDir>(request.run_dir);
    if (!fs::exists(rd->config_path()))
      throw Error(request.run_dir + ": not a run directory (no config.yaml) to resume");
    config = project::load_project(rd->config_path());
  } else {
    config = project::load_project(request.project_path, request.overrides);
    if (request.run_dir.empty()) {
      if (dist.enabled()) throw Error("data-parallel ranks need an explicit --run-dir");
      rd = std::make_unique<run::RunDir>(run::RunDir::create_new("runs", config.name));
    } else {
      rd = std::make_unique<run::RunDir>(request.run_dir);
      if (main_rank && fs::exists(rd->events_path()))
        throw Error(request.run_dir + ": already holds a run (use --resume to continue it)");
    }
  }
  if (request.threads > 0) config.train.threads = request.threads;
  if (request.threads_per_rank > 0 && request.threads <= 0)
    config.train.threads = request.threads_per_rank;
  std::unique_ptr<run::RunLock> lock;
  std::unique_ptr<run::EventWriter> events;
  std::unique_ptr<store::LiveIngest> live;  // rank 0 with a store
  if (main_rank) {
    rd->create();
    lock = std::make_unique<run::RunLock>(*rd);
    if (!request.resume) {
      std::ofstream out(rd->config_path());
      out << project::to_yaml(config);
      if (!out) throw Error("cannot write " + rd->config_path());
    }
    events = std::make_unique<run::EventWriter>(rd->events_path());
  }
  std::string threads_line = configure_threads(config.train.threads);
  if (!request.openmp_note.empty()) threads_line += "; OpenMP wait policy " + request.openmp_note;
  const torch::Device device(config.train.device);
  if (events) {
    run::StartInfo info;
    info.run = rd->name();
    info.project = config.name;
    info.config_json = project::to_json(config);
    char host[256] = {0};
    gethostname(host, sizeof host - 1);
    info.host = host;
    info.pid = getpid();
    info.device = device.str();
    info.threads = torch::get_num_threads();
    events->start(info);
    // The store learns of the run now and follows it (the GUI and `qatwb watch` show it live).
    if (!request.db_path.empty()) {
      live = std::make_unique<store::LiveIngest>(request.db_path, rd->path());
      live->poll(true);
    }
  }
  std::unique_ptr<DataParallel> dp;
  if (dist.enabled()) dp = std::make_unique<DataParallel>(dist);
  if (main_rank) {
    log_line(threads_line + "; device " + device.str() + "; run dir " + rd->path() +
             (dp ? "; data parallel over " + std::to_string(dist.world_size) + " ranks" : ""));
    if (const auto w = util::bf16_cpu_warning(config.train.device, enum_name(config.train.dtype));
        !w.empty())
      log_line(w);
  }

  TrainOutcome outcome;
  try {
    const std::string tok_path = tokenizer_path(config);
    auto tokenizer = text::Tokenizer::from_file(tok_path);
    const std::string tok_sha = sha256_file(tok_path);
    // Runs beside each other (a project's runs, a sweep) share sampled and tokenized data.
    const fs::path cache_root =
        !request.cache_root.empty() ? request.cache_root : rd->default_cache_dir();
    // Rank 0 prepares the data; the others find it in the cache afterwards.
    std::string tokens_dir;
    if (main_rank)
      tokens_dir =
          prepare_tokens(config, tokenizer, tok_sha, (cache_root / "data").string(), log_line);
    if (dp) dp->barrier();
    if (!main_rank)
      tokens_dir =
          prepare_tokens(config, tokenizer, tok_sha, (cache_root / "data").string(), log_line);

    model::Llama model = config.model.path.empty()
                             ? model::create_from_preset(config.model.preset,
                                                         tokenizer.vocab_size(), config.model.seed)
                             : model::load_hf(config.model.path, torch::kCPU);
    model->to(device);
    model->set_activation_checkpointing(config.train.activation_checkpointing);
    // The teacher is copied from the starting model before a quantizer or a resumed checkpoint
    // changes it.
    std::unique_ptr<Teacher> teacher;
    if (const auto& d = config.train.distill; d.enabled) {
      teacher = std::make_unique<Teacher>(d, model, device,
                                          config.train.dtype == project::Precision::Bf16);
      if (main_rank)
        log_line("distill: teacher " + teacher->description() + " (" +
                 std::to_string(teacher->parameter_count()) + " parameters, frozen), loss " +
                 (d.loss == project::DistillSection::Loss::Kl
                      ? std::string("kl")
                      : "ce+kl, weight " + project::format_number(d.weight)) +
                 ", temperature " + project::format_number(d.temperature));
    }

    std::shared_ptr<quant::ModelQuantizer> quantizer;
    quant::ModelBits bits;
    if (config.quant.enabled) {
      quantizer =
          std::make_shared<quant::ModelQuantizer>(config.quant, model->quantizable_weights());
      model->set_weight_hook(quantizer);
      std::vector<quant::LinearShape> shapes;
      for (const auto& [name, w] : model->quantizable_weights())
        shapes.push_back({name, w.size(0), w.size(1)});
      bits = quant::model_bits(config.quant, shapes, model->config().num_parameters());
      if (main_rank) {
        log_line("quant: " + std::to_string(quantizer->modules().size()) + " modules, " +
                 quant::describe_module_scheme(config.quant) +
                 (config.quant.overrides.empty()
                      ? std::string()
                      : ", " + std::to_string(config.quant.overrides.size()) +
                            " override(s) (`qatwb project check` lists each module)"));
        if (!config.quant.schedule.empty())
          log_line("quant schedule: " + quant::describe_schedule(config.quant));
        char buf[128];
        std::snprintf(buf, sizeof buf,
                      "quant: %.3f bits per quantized weight, %.3f over the whole model",
                      bits.quantized_bpw, bits.model_bpw);
        log_line(buf);
      }
    }
    if (dp) {
      auto params = model->parameters();
      if (quantizer)
        for (auto& p : quantizer->parameters()) params.push_back(p);
      dp->broadcast_from_main(params);
    }

    eval::PerplexityOptions popt;
    popt.seq_len = config.eval.seq_len > 0 ? config.eval.seq_len : config.tokenize.seq_len;
    popt.max_windows = config.eval.max_windows;
    popt.bf16 = config.train.dtype == project::Precision::Bf16;
    eval::RunEvaluator evaluator(
        main_rank ? heldout_ids(config, tokenizer, tokens_dir) : std::vector<int32_t>{}, popt);

    data::LoaderOptions lopt;
    lopt.split = "train";
    lopt.seq_len = config.tokenize.seq_len;
    lopt.batch_size = config.train.batch_size;
    lopt.seed = static_cast<uint64_t>(config.train.seed);
    lopt.rank = dist.rank;
    lopt.world_size = dist.world_size;
    data::TokenLoader loader(tokens_dir, lopt, tok_sha);
    Trainer trainer(config, model, quantizer, loader, evaluator, events.get(), *rd);
    trainer.set_data_parallel(dp.get());
    if (teacher) trainer.set_teacher(std::move(teacher));
    const auto checkpoints = rd->checkpoints();
    if (request.resume && !checkpoints.empty()) {
      trainer.resume_from(checkpoints.back().second);
      if (main_rank) log_line("resumed from " + checkpoints.back().second);
    } else if (main_rank) {
      // Step 0: the starting point every QAT result is compared with.
      std::map<std::string, double> v;
      v["ppl_fp"] = evaluator.full_precision_ppl(model);
      if (quantizer) {
        v["ppl_rtn"] = evaluator.post_quant_ppl(model, *quantizer);
        v["bits_per_weight"] = bits.model_bpw;
        for (const auto& [k, x] : evaluator.evaluate(model, quantizer.get(), false)) v[k] = x;
      }
      events->eval(0, v);
      if (live) live->poll(true);
      std::string msg = "step 0: ppl_fp " + std::to_string(v["ppl_fp"]);
      if (quantizer) msg += ", ppl_rtn " + std::to_string(v["ppl_rtn"]);
      log_line(msg);
    }
    if (dp) dp->barrier();
    const bool progress = main_rank && hooks.progress_begin;
    if (progress) hooks.progress_begin(config.train.steps, trainer.start_step());
    trainer.set_test_hooks(request.test_hooks);
    trainer.set_step_callback([&](int64_t step, double loss, double tps) {
      if (progress && hooks.progress_step) hooks.progress_step(step, loss, tps);
      if (live) live->poll();
      if (hooks.stop_requested && hooks.stop_requested()) trainer.request_stop();
    });
    outcome = trainer.run();
    if (progress && hooks.progress_end) hooks.progress_end();
    if (outcome.status == TrainStatus::Finished && main_rank) {
      model::save_hf(model, rd->model_dir(), torch::kFloat32,
                     {{"qatwb_run", rd->name()}, {"qatwb_project", config.name}});
      model::copy_tokenizer_files(tok_path, rd->model_dir());
      if (quantizer)
        model::save_safetensors(run::quantizer_file(rd->model_dir()), quantizer->state(),
                                {{"project", project::to_json(config)}});
    }
  } catch (const std::exception& e) {
    if (events) events->end("failed", e.what(), {});
    if (main_rank && !request.db_path.empty()) {
      try {
        store::Store::open(request.db_path).ingest_run_dir(rd->path());
      } catch (...) {
      }
    }
    throw;
  }
  RunOutcome result{outcome.status, outcome.reason, outcome.final_eval, rd->path()};
  if (!main_rank) return result;
  events->end(to_string(outcome.status), outcome.reason, outcome.final_eval);
  if (!request.db_path.empty()) store::Store::open(request.db_path).ingest_run_dir(rd->path());
  return result;
}

}  // namespace qatwb::train
