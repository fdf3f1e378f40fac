// qatwb eval --model DIR --text FILE --seq-len L [--protocol wikitext|llamacpp]: perplexity of
// any HF folder by the WikiText-2 protocol or llama-perplexity's.
#include <filesystem>
#include <fstream>
#include <iostream>

#include "app/command.h"
#include "core/eval/perplexity.h"
#include "core/model/hf_checkpoint.h"
#include "core/text/tokenizer.h"
#include "core/train/threads.h"
#include "core/util/error.h"

namespace {

struct EvalArgs {
  std::string model_dir, text_path, tokenizer, device = "cpu", protocol = "wikitext";
  int64_t seq_len = 2048, max_windows = 0, batch = 4;
  int threads = 0;
  bool bf16 = false;
};

// --model must be an HF folder; a GGUF file (or any other file) is named as such instead of
// failing on "<file>/tokenizer.json".
void check_model_folder(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    if (!fs::exists(fs::path(path) / "config.json", ec))
      throw qatwb::Error(path + ": no config.json (--model takes an HF model folder)");
    return;
  }
  if (!fs::exists(path, ec)) throw qatwb::Error(path + ": no such model folder");
  char magic[4] = {0, 0, 0, 0};
  std::ifstream(path, std::ios::binary).read(magic, 4);
  if (std::string(magic, 4) == "GGUF")
    throw qatwb::Error(path +
                       ": a GGUF file; qatwb eval reads HF folders (config.json + safetensors). "
                       "Evaluate the folder it was exported from, or the GGUF with llama.cpp's "
                       "llama-perplexity");
  throw qatwb::Error(path + ": a file, not a model folder (--model takes an HF folder)");
}

qatwb::cli::CommandRegistration reg(
    "eval", "Perplexity of an HF Llama folder on a text file (WikiText-2 protocol)",
    [](CLI::App& sub) {
      auto a = std::make_shared<EvalArgs>();
      sub.add_option("--model", a->model_dir, "HF model folder (config.json + safetensors)")
          ->required();
      sub.add_option("--text", a->text_path, "UTF-8 text file, tokenized once as a whole")
          ->required()
          ->check(CLI::ExistingFile);
      sub.add_option("--seq-len", a->seq_len, "Window length in tokens (default 2048)");
      sub.add_option("--protocol", a->protocol,
                     "wikitext (default: every window scores tokens 2..L) or llamacpp "
                     "(llama-perplexity's: BOS first, the second half of each chunk scored)")
          ->check(CLI::IsMember({"wikitext", "llamacpp"}));
      sub.add_option("--max-windows", a->max_windows, "Evaluate at most N windows (0: all)");
      sub.add_option("--tokenizer", a->tokenizer,
                     "tokenizer.json (default: <model>/tokenizer.json)");
      sub.add_option("--device", a->device, "cpu, cuda or cuda:N");
      sub.add_option("--batch", a->batch, "Windows per forward pass");
      sub.add_option("--threads", a->threads, "Intra-op threads (default: all cores)");
      sub.add_flag("--bf16", a->bf16, "bf16 autocast");
      sub.footer(
          "Prints one JSON line: {\"ppl\", \"nll\", \"tokens\", \"windows\", \"seq_len\", "
          "\"protocol\"}.");
      return [a]() {
        qatwb::configure_threads(a->threads);
        check_model_folder(a->model_dir);
        const std::string tok_path =
            a->tokenizer.empty() ? a->model_dir + "/tokenizer.json" : a->tokenizer;
        auto tok = qatwb::text::Tokenizer::from_file(tok_path);
        std::ifstream in(a->text_path, std::ios::binary);
        std::string text(std::istreambuf_iterator<char>(in), {});
        std::vector<int32_t> ids;
        try {
          ids = tok.encode(text, true, false);
        } catch (const qatwb::Error& e) {
          throw qatwb::Error(a->text_path + ": " + e.what());
        }
        auto model = qatwb::model::load_hf(a->model_dir, torch::Device(a->device));
        qatwb::eval::PerplexityOptions o;
        o.seq_len = a->seq_len;
        if (a->protocol == "llamacpp") {
          o.protocol = qatwb::eval::PerplexityProtocol::LlamaCpp;
          o.bos_id = tok.bos_id();
        }
        o.max_windows = a->max_windows;
        o.batch_size = a->batch;
        o.bf16 = a->bf16;
        const auto r = qatwb::eval::perplexity(model, ids, o);
        nlohmann::json j = {{"ppl", r.ppl},          {"nll", r.mean_nll},
                            {"tokens", r.tokens},    {"windows", r.windows},
                            {"seq_len", a->seq_len}, {"protocol", a->protocol},
                            {"model", a->model_dir}, {"text", a->text_path}};
        std::cout << j.dump() << std::endl;
        return 0;
      };
    });

}  // namespace
