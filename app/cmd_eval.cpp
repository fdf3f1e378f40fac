// qatwb eval --model DIR --text FILE --seq-len L: WikiText-2-protocol perplexity of any HF folder.
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
  std::string model_dir, text_path, tokenizer, device = "cpu";
  int64_t seq_len = 2048, max_windows = 0, batch = 4;
  int threads = 0;
  bool bf16 = false;
};

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
      sub.add_option("--max-windows", a->max_windows, "Evaluate at most N windows (0: all)");
      sub.add_option("--tokenizer", a->tokenizer, "tokenizer.json (default: <model>/tokenizer.json)");
      sub.add_option("--device", a->device, "cpu, cuda or cuda:N");
      sub.add_option("--batch", a->batch, "Windows per forward pass");
      sub.add_option("--threads", a->threads, "Intra-op threads (default: all cores)");
      sub.add_flag("--bf16", a->bf16, "bf16 autocast");
      sub.footer("Prints one JSON line: {\"ppl\", \"nll\", \"tokens\", \"windows\", \"seq_len\"}.");
      return [a]() {
        qatwb::configure_threads(a->threads);
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
        o.max_windows = a->max_windows;
        o.batch_size = a->batch;
        o.bf16 = a->bf16;
        const auto r = qatwb::eval::perplexity(model, ids, o);
        nlohmann::json j = {{"ppl", r.ppl},         {"nll", r.mean_nll}, {"tokens", r.tokens},
                            {"windows", r.windows}, {"seq_len", a->seq_len},
                            {"model", a->model_dir}, {"text", a->text_path}};
        std::cout << j.dump() << std::endl;
        return 0;
      };
    });

}  // namespace
