// What users run: `qatwb run` of the bundled tiny-brown stages (the FP pretrain and the W2 STE /
// StableQAT / DSQ fine-tunes), each a child process, interleaved over rounds. Per stage and
// dtype: the run's own tokens/s (median and min over steps past the warm-up), ms/step, the
// wall-clock tokens/s between its step events (this bench's own clock), MFU against a GEMM peak
// measured here, peak RSS (wait4) and the estimate `qatwb project check` prints. The QAT rows'
// x_step is their ms/step over the unquantized row of the same dtype and model. With
// --inner-loop it also runs bench_qat_step's "none" child at the same shape, so the inner-loop
// figure and the real run can be compared. With --pytorch it also runs bench/pytorch_reference.py
// (plain PyTorch eager on the same model, batch and threads: Debian's python3-torch, the same
// LibTorch 1.13) in each round, with libgomp's default wait policy and with active, and prints
// how much faster `qatwb run` trains than each.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>

#include "core/model/llama_config.h"
#include "core/model/training_cost.h"
#include "core/train/threads.h"
#include "core/util/openmp_env.h"

namespace fs = std::filesystem;

namespace {

struct Variant {
  std::string stage;  // pretrain, w2-ste, ...
  std::string dtype;  // fp32, bf16
  std::string omp;    // "" (qatwb's own policy) or an OMP_WAIT_POLICY value
  std::string name() const { return stage + "/" + dtype + (omp.empty() ? "" : "/omp=" + omp); }
};

struct Sample {
  std::vector<double> step_s;    // step_time_s of steps past the warm-up
  std::vector<double> wall_tps;  // tokens/s from event timestamps
  std::vector<double> rss_mb;
  int64_t tokens_per_step = 0;
  std::string error;
};

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::string self_dir() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return ".";
  buf[n] = 0;
  return fs::path(buf).parent_path().string();
}

// Runs argv with extra environment; returns exit status and peak RSS (KB) of the child.
int spawn(const std::vector<std::string>& args, const std::vector<std::string>& env,
          const std::string& log, long* maxrss_kb) {
  const pid_t pid = fork();
  if (pid == 0) {
    for (const auto& e : env) putenv(const_cast<char*>(e.c_str()));
    FILE* f = std::fopen(log.c_str(), "w");
    if (f) {
      dup2(fileno(f), 1);
      dup2(fileno(f), 2);
    }
    std::vector<char*> a;
    for (const auto& s : args) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    execv(a[0], a.data());
    _exit(127);
  }
  int status = 0;
  struct rusage ru {};
  wait4(pid, &status, 0, &ru);
  *maxrss_kb = ru.ru_maxrss;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// GFLOP/s of the best of `reps` products at the shapes of the tiny model's GEMMs (the lm_head's
// [2048, 256] x [256, 32000] and a square 1024 one), fp32 or bf16, in this process.
double gemm_peak(bool bf16, int reps = 4) {
  const auto dtype = bf16 ? torch::kBFloat16 : torch::kFloat32;
  double best = 0;
  for (auto [m, k, n] : {std::array<int64_t, 3>{2048, 256, 32000}, {1024, 1024, 1024}}) {
    auto a = torch::randn({m, k}).to(dtype), b = torch::randn({k, n}).to(dtype);
    for (int r = 0; r <= reps; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      auto c = torch::mm(a, b);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (r > 0) best = std::max(best, 2.0 * m * k * n / s / 1e9);
    }
  }
  return best;
}

constexpr const char* kPytorch = "pytorch-eager";

// One run of bench/pytorch_reference.py: plain PyTorch on the same model, batch, seq and thread
// count, in the environment a user's script gets (this bench's own OpenMP choice and qatwb's
// variables removed; OMP_WAIT_POLICY only for the "active" variant).
void run_pytorch(const Variant& v, const std::string& source, const qatwb::model::LlamaConfig& c,
                 int64_t batch, int64_t seq, int steps, int warmup,
                 const std::vector<std::string>& env, const std::string& log, Sample& s) {
  std::vector<std::string> args = {"/usr/bin/env",     "-u", "OMP_WAIT_POLICY",     "-u",
                                   "QATWB_OMP_POLICY", "-u", "QATWB_OMP_POLICY_PID"};
  if (!v.omp.empty()) args.push_back("OMP_WAIT_POLICY=" + v.omp);
  const auto n = [](int64_t x) { return std::to_string(x); };
  args.insert(args.end(), {"/usr/bin/python3",
                           source + "/bench/pytorch_reference.py",
                           "--layers",
                           n(c.num_hidden_layers),
                           "--hidden",
                           n(c.hidden_size),
                           "--heads",
                           n(c.num_attention_heads),
                           "--kv-heads",
                           n(c.num_key_value_heads),
                           "--intermediate",
                           n(c.intermediate_size),
                           "--vocab",
                           n(c.vocab_size),
                           "--batch",
                           n(batch),
                           "--seq",
                           n(seq),
                           "--steps",
                           n(steps),
                           "--warmup",
                           n(warmup),
                           "--dtype",
                           v.dtype,
                           "--threads",
                           n(std::max(1u, std::thread::hardware_concurrency()))});
  long rss = 0;
  const int rc = spawn(args, env, log, &rss);
  std::ifstream in(log);
  std::string line, result;
  while (std::getline(in, line))
    if (line.rfind("RESULT ", 0) == 0) result = line.substr(7);
  if (rc != 0 || result.empty()) {
    s.error = "exit " + std::to_string(rc) + " (python3-torch installed?), see " + log;
    return;
  }
  std::istringstream is(result);
  std::string tok;
  while (is >> tok && tok != "|") s.step_s.push_back(std::stod(tok) / 1000);
  s.tokens_per_step = batch * seq;
  s.rss_mb.push_back(rss / 1024.0);
}

}  // namespace

int main(int argc, char** argv) {
  qatwb::ensure_openmp_wait_policy(argv);
  CLI::App app{"qatwb run throughput of the tiny-brown stages: tokens/s, ms/step, MFU, peak RSS"};
  std::string source = fs::path(self_dir()).parent_path().parent_path().string();
  std::string qatwb = fs::path(self_dir()).parent_path().append("bin/qatwb").string();
  std::string work = (fs::temp_directory_path() / "qatwb-train-throughput").string();
  std::vector<std::string> stages = {"pretrain", "w2-ste", "w2-stableqat", "w2-dsq"};
  std::vector<std::string> dtypes = {"fp32", "bf16"};
  int rounds = 3, steps = 10, warmup = 2;
  bool policies = false, inner = false, pytorch = false;
  app.add_option("--source", source, "the qatwb source tree (projects/tiny-brown, data/)");
  app.add_option("--qatwb", qatwb, "the qatwb binary");
  app.add_option("--work", work, "scratch folder for the runs (emptied first)");
  app.add_option("--stages", stages, "tiny-brown stages")->delimiter(',');
  app.add_option("--dtypes", dtypes, "fp32 and/or bf16")->delimiter(',');
  app.add_option("--rounds", rounds, "rounds; every variant runs once per round, interleaved");
  app.add_option("--steps", steps, "steps per run");
  app.add_option("--warmup", warmup, "leading steps not timed");
  app.add_flag("--compare-omp", policies,
               "also run the pretrain stage with OMP_WAIT_POLICY=passive and =active");
  app.add_flag("--inner-loop", inner, "also time bench_qat_step's inner loop at the same shape");
  app.add_flag("--pytorch", pytorch,
               "also time plain PyTorch eager (bench/pytorch_reference.py, python3-torch) on the "
               "same model, interleaved");
  bool peak_only = false;
  app.add_flag("--peak-only", peak_only, "print the GEMM peak and exit");
  CLI11_PARSE(app, argc, argv);
  if (peak_only) {
    qatwb::configure_threads(0);
    const double fp32 = gemm_peak(false), bf16 = gemm_peak(true);
    std::printf("GEMM peak: fp32 %.1f GFLOP/s, bf16 %.1f GFLOP/s\n", fp32, bf16);
    return 0;
  }
  // The peak is measured in a child: a GEMM here would leave this process an OpenMP pool whose
  // threads, under the active wait policy, spin for as long as it lives, taking a core from every
  // run it times (measured: half the tokens/s, and each run chose the passive policy).
  double peak_fp32 = 0, peak_bf16 = 0;
  {
    const std::string cmd = "'" + self_dir() + "/bench_train_throughput' --peak-only";
    FILE* p = popen(cmd.c_str(), "r");
    char buf[256] = "";
    while (p && fgets(buf, sizeof buf, p))
      if (std::sscanf(buf, "GEMM peak: fp32 %lf GFLOP/s, bf16 %lf", &peak_fp32, &peak_bf16) == 2)
        break;
    if (p) pclose(p);
    if (peak_fp32 <= 0) {
      std::cerr << "train_throughput: could not measure the GEMM peak (" << cmd << ")\n";
      return 1;
    }
  }
  const fs::path proj = fs::path(source) / "projects/tiny-brown";
  if (!fs::exists(fs::path(source) / "data/brown.jsonl")) {
    std::cerr << "train_throughput: " << source
              << "/data/brown.jsonl is missing: run scripts/demo.sh once, or node "
                 "scripts/fixtures_to_jsonl.mjs --npm tests/fixtures/npm/node_modules --out data\n";
    return 2;
  }
  fs::remove_all(work);
  fs::create_directories(work);
  const std::string cache = work + "/cache";
  std::vector<std::string> env = {"QATWB_CACHE=" + cache};
  auto common = [&](const std::string& project, const std::string& run_dir, int n) {
    return std::vector<std::string>{qatwb,   "run",
                                    project, "--run-dir",
                                    run_dir, "--no-db",
                                    "--set", "train.steps=" + std::to_string(n),
                                    "--set", "eval.every=0",
                                    "--set", "eval.max_windows=1",
                                    "--set", "eval.post_quant_ppl=false",
                                    "--set", "train.checkpoint_every=0",
                                    "--set", "train.log_every=1"};
  };
  // A model for the W2 stages to start from (its weights do not matter for speed).
  const std::string base = work + "/base";
  long rss = 0;
  if (spawn(common((proj / "pretrain.yaml").string(), base, 1), env, work + "/base.log", &rss) !=
      0) {
    std::cerr << "train_throughput: the base run failed, see " << work << "/base.log\n";
    return 1;
  }
  const auto config = qatwb::model::LlamaConfig::from_file(base + "/model/config.json");
  std::vector<Variant> variants;
  for (const auto& dt : dtypes)
    for (const auto& s : stages) variants.push_back({s, dt, ""});
  if (policies)
    for (const auto& dt : dtypes)
      for (const char* p : {"passive", "active"}) variants.push_back({"pretrain", dt, p});
  if (pytorch)
    for (const auto& dt : dtypes)
      for (const char* p : {"", "active"}) variants.push_back({kPytorch, dt, p});
  std::map<std::string, Sample> res;
  std::map<std::string, std::vector<double>> inner_ms;
  int64_t batch = 16, seq = 128;
  for (int r = 0; r < rounds; ++r) {
    for (const auto& v : variants) {
      Sample& s = res[v.name()];
      const std::string dir = work + "/run-" + std::to_string(r) + "-" + v.stage + "-" + v.dtype +
                              (v.omp.empty() ? "" : "-" + v.omp);
      if (v.stage == kPytorch) {
        run_pytorch(v, source, config, batch, seq, steps, warmup, env, dir + ".log", s);
        std::cerr << "." << std::flush;
        continue;
      }
      auto args = common((proj / (v.stage + ".yaml")).string(), dir, steps);
      args.insert(args.end(), {"--set", "train.dtype=" + v.dtype});
      if (v.stage != "pretrain")
        args.insert(args.end(), {"--set", "model.path=" + base + "/model"});
      auto e = env;
      if (!v.omp.empty()) e.push_back("OMP_WAIT_POLICY=" + v.omp);
      const int rc = spawn(args, e, dir + ".log", &rss);
      if (rc != 0) {
        s.error = "exit " + std::to_string(rc) + ", see " + dir + ".log";
        continue;
      }
      s.rss_mb.push_back(rss / 1024.0);
      std::ifstream in(dir + "/events.jsonl");
      std::string line;
      std::vector<double> times;
      while (std::getline(in, line)) {
        auto j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_discarded() || j.value("type", "") != "metric") continue;
        const auto& vals = j["values"];
        if (!vals.contains("step_time_s")) continue;
        const int64_t step = j.value("step", int64_t{0});
        if (step < warmup) continue;
        s.step_s.push_back(vals["step_time_s"].get<double>());
        s.tokens_per_step = static_cast<int64_t>(
            std::llround(vals["tokens_per_s"].get<double>() * vals["step_time_s"].get<double>()));
        times.push_back(j.value("time", 0.0));
      }
      if (times.size() >= 2)
        s.wall_tps.push_back(s.tokens_per_step * (times.size() - 1) /
                             (times.back() - times.front()));
      std::cerr << "." << std::flush;
    }
    if (inner) {
      for (const auto& dt : dtypes) {
        const std::string exe = self_dir() + "/bench_qat_step";
        std::ostringstream cmd;
        cmd << "'" << exe << "' --child " << (dt == "bf16" ? "none-bf16" : "none")
            << " --preset llama-tiny --vocab " << config.vocab_size << " --batch " << batch
            << " --seq " << seq << " --steps 4 2>&1";
        FILE* p = popen(cmd.str().c_str(), "r");
        std::string out;
        char buf[4096];
        while (p && fgets(buf, sizeof buf, p)) out += buf;
        if (p) pclose(p);
        const auto pos = out.find("RESULT");
        if (pos == std::string::npos) continue;
        std::istringstream is(out.substr(pos + 6));
        std::string tok;
        while (is >> tok && tok != "|") inner_ms[dt].push_back(std::stod(tok));
      }
    }
  }
  std::cerr << "\n";
  const double flops_tok = qatwb::model::train_flops_per_token(config, seq);
  std::printf(
      "train_throughput: `qatwb run` of projects/tiny-brown (%s, vocab %ld, batch %ld x "
      "seq %ld), %d rounds x %d steps (first %d untimed), interleaved\n",
      "llama-tiny", static_cast<long>(config.vocab_size), static_cast<long>(batch),
      static_cast<long>(seq), rounds, steps, warmup);
  std::printf(
      "GEMM peak measured here: fp32 %.0f GFLOP/s, bf16 %.0f GFLOP/s; model %.1f "
      "MFLOP/token (training)\n",
      peak_fp32, peak_bf16, flops_tok / 1e6);
  std::printf("%-28s %9s %9s %9s %9s %7s %6s %8s %8s %7s\n", "variant", "tok/s", "min_tok/s",
              "ms/step", "wall_tok/s", "x_wall", "MFU%", "peak_MB", "est_MB", "x_step");
  for (const auto& v : variants) {
    const Sample& s = res[v.name()];
    if (!s.error.empty() || s.step_s.empty()) {
      std::printf("%-28s %s\n", v.name().c_str(), s.error.empty() ? "no data" : s.error.c_str());
      continue;
    }
    const double ms = median(s.step_s) * 1000;
    const double tps = s.tokens_per_step / (ms / 1000);
    const double min_tps = s.tokens_per_step / *std::max_element(s.step_s.begin(), s.step_s.end());
    const double wall = median(s.wall_tps);
    const double mfu = 100.0 * tps * flops_tok / 1e9 / (v.dtype == "bf16" ? peak_bf16 : peak_fp32);
    const bool reference = v.stage == kPytorch;
    qatwb::model::MemoryInputs mi;
    mi.batch = batch;
    mi.seq_len = seq;
    mi.bf16 = v.dtype == "bf16";
    mi.quantized = v.stage != "pretrain";
    const double est = qatwb::model::estimate_training_memory(config, mi).total() / (1 << 20);
    std::string x_step = "-";
    const Sample& b = res[Variant{"pretrain", v.dtype, ""}.name()];
    if (v.stage != "pretrain" && v.omp.empty() && !b.step_s.empty()) {
      char buf[16];
      std::snprintf(buf, sizeof buf, "%.3f", median(s.step_s) / median(b.step_s));
      x_step = buf;
    }
    // The reference has no step events (no wall clock) and no estimate of ours.
    const auto cell = [&](double x, int width, int decimals) {
      char buf[32];
      if (reference)
        std::snprintf(buf, sizeof buf, "%*s", width, "-");
      else
        std::snprintf(buf, sizeof buf, "%*.*f", width, decimals, x);
      return std::string(buf);
    };
    std::printf("%-28s %9.0f %9.0f %9.1f %s %s %6.1f %8.0f %s %7s\n", v.name().c_str(), tps,
                min_tps, ms, cell(wall, 9, 0).c_str(), cell(wall / tps, 7, 3).c_str(), mfu,
                median(s.rss_mb), cell(est, 8, 0).c_str(), x_step.c_str());
  }
  for (const auto& dt : dtypes) {
    const Sample& q = res[Variant{"pretrain", dt, ""}.name()];
    if (q.step_s.empty()) continue;
    for (const char* p : {"", "active"}) {
      const Sample& t = res[Variant{kPytorch, dt, p}.name()];
      if (t.step_s.empty()) continue;
      std::printf(
          "qatwb run pretrain / PyTorch eager (%s, %s): %.3fx the tokens/s (median), %.3fx "
          "(best step of each)\n",
          dt.c_str(), *p ? "OMP_WAIT_POLICY=active" : "libgomp's default wait policy",
          median(t.step_s) / median(q.step_s),
          *std::min_element(t.step_s.begin(), t.step_s.end()) /
              *std::min_element(q.step_s.begin(), q.step_s.end()));
    }
  }
  for (const auto& [dt, v] : inner_ms) {
    if (v.empty()) continue;
    const double ms = median(v);
    const Sample& b = res[Variant{"pretrain", dt, ""}.name()];
    const double run_tps = b.step_s.empty() ? 0 : b.tokens_per_step / median(b.step_s);
    std::printf(
        "inner loop (bench_qat_step none, %s): %.0f tok/s, %.1f ms/step (forward+loss+"
        "backward, no optimizer); qatwb run / inner loop = %.3f\n",
        dt.c_str(), batch * seq / (ms / 1000), ms, run_tps / (batch * seq / (ms / 1000)));
  }
  std::printf(
      "tok/s and ms/step: the run's own step_time_s (median over steps and rounds); "
      "wall_tok/s: this bench's clock between step events (x_wall = wall / tok/s); MFU: "
      "model FLOPs x tok/s over the GEMM peak; peak_MB: the child's max RSS; est_MB: the "
      "estimate `qatwb project check` prints; x_step: ms/step over the pretrain "
      "row; pytorch-eager: bench/pytorch_reference.py, timed by its own clock; its x_step is how "
      "much faster "
      "`qatwb run` trains\n");
  return 0;
}
