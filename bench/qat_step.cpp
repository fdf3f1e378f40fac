// QAT step cost: ms/step, tokens/s and peak memory of one training step (forward, loss,
// backward, ModelQuantizer end_step) on a small Llama, for no quantization and each surrogate
// at 2 and 4 bits, in fp32 and under bf16 autocast. Every (round, variant) runs in its own
// child process (this program re-executed with --child), variants interleaved over rounds, so
// peak RSS is per variant and drift affects every variant alike. Ratios are to "none" of the
// same run. Targets: STE/StableQAT <= 1.05x, DSQ <= 1.15x, peak memory <= 1.2x.
#include <CLI/CLI.hpp>

#include <unistd.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "core/eval/causal_lm_loss.h"
#include "core/model/fused_layers.h"
#include "core/model/llama.h"
#include "core/model/llama_config.h"
#include "core/quant/model_quantizer.h"
#include "core/train/autocast.h"
#include "core/train/threads.h"
#include "core/util/allocator.h"
#include "core/util/openmp_env.h"

namespace {

using qatwb::quant::QuantScheme;
using qatwb::quant::ScaleMode;
using qatwb::quant::Surrogate;

struct Variant {
  std::string name;
  bool quantize = false;
  Surrogate surrogate = Surrogate::Ste;
  ScaleMode scale_mode = ScaleMode::Learned;
  double bits = 4;
  bool bf16 = false;
  bool unfused_layers = false;  // RMSNorm and SwiGLU as LibTorch expressions (fused_layers.h)
};

std::vector<Variant> variants() {
  std::vector<Variant> v = {{"none", false}};
  v.push_back({"none-unfused", false, Surrogate::Ste, ScaleMode::Learned, 4, false, true});
  for (double bits : {4.0, 2.0}) {
    const std::string b = bits == 4 ? "-w4" : "-w2";
    v.push_back({"ste" + b, true, Surrogate::Ste, ScaleMode::Frozen, bits});
    v.push_back({"lsq" + b, true, Surrogate::Lsq, ScaleMode::Learned, bits});
    v.push_back({"stableqat" + b, true, Surrogate::StableQat, ScaleMode::Learned, bits});
    v.push_back({"dsq" + b, true, Surrogate::Dsq, ScaleMode::Learned, bits});
  }
  v.push_back({"none-bf16", false, Surrogate::Ste, ScaleMode::Learned, 4, true});
  v.push_back({"stableqat-w4-bf16", true, Surrogate::StableQat, ScaleMode::Learned, 4, true});
  v.push_back({"dsq-w4-bf16", true, Surrogate::Dsq, ScaleMode::Learned, 4, true});
  return v;
}

struct Options {
  std::string preset = "llama-tiny";
  int64_t vocab = 4096;
  int rounds = 3;
  int steps = 2;
  int64_t batch = 4;
  int64_t seq = 128;
  int threads = 0;
  std::string only;
};

int64_t status_kb(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const std::string key = std::string(field) + ":";
  while (std::getline(in, line))
    if (line.rfind(key, 0) == 0) return std::stoll(line.substr(key.size()));
  return -1;
}

// Child: build the model, run 1 warm-up + `steps` timed steps, print one RESULT line.
int run_child(const Options& o, const std::string& name) {
  const auto all = variants();
  auto it = std::find_if(all.begin(), all.end(), [&](const Variant& v) { return v.name == name; });
  if (it == all.end()) {
    std::cerr << "unknown variant " << name << "\n";
    return 2;
  }
  const Variant v = *it;
  qatwb::keep_large_allocations_mapped();
  qatwb::configure_threads(o.threads);
  qatwb::model::set_fused_layers_enabled(!v.unfused_layers);
  torch::manual_seed(0);
  qatwb::model::Llama model(qatwb::model::preset(o.preset, o.vocab));
  std::shared_ptr<qatwb::quant::ModelQuantizer> quant;
  if (v.quantize) {
    QuantScheme s;
    s.bits = v.bits;
    s.surrogate = v.surrogate;
    s.scale_mode = v.scale_mode;
    s.granularity = qatwb::quant::Granularity::PerChannel;
    quant = std::make_shared<qatwb::quant::ModelQuantizer>(s, model->quantizable_weights());
    model->set_weight_hook(quant);
  }
  const int64_t vocab = model->config().vocab_size;
  auto ids = torch::randint(0, vocab, {o.batch, o.seq + 1}, torch::kLong);
  const int64_t base_kb = status_kb("VmRSS");
  std::vector<double> ms;
  for (int step = 0; step <= o.steps; ++step) {
    const auto t0 = std::chrono::steady_clock::now();
    model->zero_grad(/*set_to_none=*/true);  // as the trainer does
    if (quant) {
      for (auto& p : quant->parameters())
        if (p.grad().defined()) p.mutable_grad() = torch::Tensor();
      quant->begin_step();
    }
    torch::Tensor loss;
    {
      qatwb::train::AutocastGuard autocast(v.bf16, torch::kCPU);
      // The trainer's own loss (fused lm_head + cross-entropy), so this inner loop measures
      // what `qatwb run` runs (bench/train_throughput compares the two).
      loss = qatwb::eval::causal_lm_loss_sum(model, ids, 1.0 / static_cast<double>(o.batch * o.seq))
                 .nll_sum;
    }
    loss.backward();
    if (quant) quant->end_step();
    const double dt =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (step > 0) ms.push_back(dt);
    if (!std::isfinite(loss.item<double>())) {
      std::cerr << "non-finite loss\n";
      return 3;
    }
  }
  std::cout << "RESULT";
  for (double m : ms) std::cout << " " << m;
  std::cout << " | " << status_kb("VmHWM") << " " << base_kb << std::endl;
  return 0;
}

struct Collected {
  std::vector<double> ms;
  int64_t peak_kb = 0, base_kb = 0;
  std::string error;
};

std::string self_exe() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return "bench_qat_step";
  buf[n] = 0;
  return buf;
}

void run_one(const Options& o, const std::string& name, Collected& c) {
  std::ostringstream cmd;
  cmd << "'" << self_exe() << "' --child " << name << " --preset " << o.preset << " --vocab "
      << o.vocab << " --steps " << o.steps << " --batch " << o.batch << " --seq " << o.seq
      << " --threads " << o.threads << " 2>&1";
  FILE* p = popen(cmd.str().c_str(), "r");
  if (!p) {
    c.error = "could not start child";
    return;
  }
  std::string out;
  char buf[4096];
  while (fgets(buf, sizeof(buf), p)) out += buf;
  const int rc = pclose(p);
  const auto pos = out.find("RESULT");
  if (rc != 0 || pos == std::string::npos) {
    std::string last = out.substr(0, 300);
    std::replace(last.begin(), last.end(), '\n', ' ');
    c.error = "failed: " + last;
    return;
  }
  std::istringstream in(out.substr(pos + 6));
  std::string tok;
  while (in >> tok && tok != "|") c.ms.push_back(std::stod(tok));
  int64_t peak = 0, base = 0;
  in >> peak >> base;
  c.peak_kb = std::max(c.peak_kb, peak);
  c.base_kb = c.base_kb ? std::min(c.base_kb, base) : base;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace

int main(int argc, char** argv) {
  qatwb::ensure_openmp_wait_policy(argv);  // the same process setup as `qatwb run`
  CLI::App app{
      "QAT step cost per surrogate: ms/step, tokens/s, peak RSS, ratios to no quantization"};
  Options o;
  std::string child;
  app.add_option("--preset", o.preset, "model preset (llama-micro, llama-tiny, llama-small, ...)");
  app.add_option("--vocab", o.vocab, "vocabulary size (<= 0: the preset's)");
  app.add_option("--rounds", o.rounds, "rounds; every variant runs once per round, interleaved");
  app.add_option("--steps", o.steps, "timed steps per variant and round (after 1 warm-up)");
  app.add_option("--batch", o.batch, "sequences per step");
  app.add_option("--seq", o.seq, "tokens per sequence");
  app.add_option("--threads", o.threads, "intra-op threads (0: all cores, as `qatwb run`)");
  app.add_option("--only", o.only, "comma-separated variant names (default: all)");
  app.add_option("--child", child, "internal: run one variant and print its RESULT line");
  CLI11_PARSE(app, argc, argv);
  if (!child.empty()) {
    try {
      return run_child(o, child);
    } catch (const std::exception& e) {
      std::cerr << "error: " << e.what() << "\n";
      return 1;
    }
  }
  std::vector<Variant> vs;
  for (const auto& v : variants())
    if (o.only.empty() || ("," + o.only + ",").find("," + v.name + ",") != std::string::npos)
      vs.push_back(v);
  if (vs.empty() || vs.front().name != "none") vs.insert(vs.begin(), variants().front());
  std::cout << "qat_step: preset " << o.preset << ", vocab " << o.vocab << ", batch " << o.batch
            << " x seq " << o.seq << ", " << o.rounds << " rounds x " << o.steps
            << " steps, one child process per variant and round\n";
  std::map<std::string, Collected> res;
  for (int r = 0; r < o.rounds; ++r) {
    for (const auto& v : vs) {
      run_one(o, v.name, res[v.name]);
      std::cerr << "." << std::flush;
    }
  }
  std::cerr << "\n";
  const Collected& base = res["none"];
  const Collected& base_bf16 = res["none-bf16"];
  if (!base.error.empty() || base.ms.empty()) {
    std::cout << "baseline failed: " << base.error << "\n";
    return 1;
  }
  std::printf("%-18s %9s %9s %9s %7s %9s %7s %9s %7s  %s\n", "variant", "median_ms", "min_ms",
              "tok/s", "x_time", "peak_MB", "x_peak", "step_MB", "x_step", "target");
  for (const auto& v : vs) {
    const Collected& c = res[v.name];
    if (!c.error.empty() || c.ms.empty()) {
      std::printf("%-18s %s\n", v.name.c_str(), c.error.empty() ? "no data" : c.error.c_str());
      continue;
    }
    // bf16 variants compare against bf16 "none" when it ran, else against fp32 "none".
    const Collected& b =
        (v.bf16 && base_bf16.error.empty() && !base_bf16.ms.empty()) ? base_bf16 : base;
    const double med = median(c.ms), mn = *std::min_element(c.ms.begin(), c.ms.end());
    const double x_time = med / median(b.ms);
    const double peak = c.peak_kb / 1024.0, step = (c.peak_kb - c.base_kb) / 1024.0;
    const double x_peak = static_cast<double>(c.peak_kb) / b.peak_kb;
    const double x_step = step / ((b.peak_kb - b.base_kb) / 1024.0);
    std::string target = "-";
    if (v.quantize) {
      const double limit = v.surrogate == Surrogate::Dsq ? 1.15 : 1.05;
      const bool has_target = v.surrogate != Surrogate::Lsq;
      const bool ok_time = x_time <= limit, ok_mem = x_peak <= 1.2;
      target = has_target ? std::string(ok_time ? "time ok" : "time MISS") +
                                "(<=" + std::to_string(limit).substr(0, 4) + "x)"
                          : std::string("-");
      target += ok_mem ? ", mem ok" : ", mem MISS";
    }
    std::printf("%-18s %9.1f %9.1f %9.0f %7.3f %9.1f %7.3f %9.1f %7.3f  %s\n", v.name.c_str(), med,
                mn, o.batch * o.seq / (med / 1000.0), x_time, peak, x_peak, step, x_step,
                target.c_str());
  }
  std::cout << "x_time: median ms/step over all rounds relative to 'none' (bf16 rows: to "
               "'none-bf16'); peak_MB: the child's VmHWM; step_MB: VmHWM minus RSS after building "
               "the model (training-step memory)\n";
  return 0;
}
