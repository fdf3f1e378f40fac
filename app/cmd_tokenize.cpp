// qatwb tokenize: turn a sampled set into uint32 token shards with a manifest.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "app/command.h"
#include "core/data/tokenize_shards.h"
#include "core/text/tokenizer.h"

namespace {

struct TokenizeArgs {
  std::string tokenizer;
  std::string input;
  std::string out;
  std::string text_field = "text";
  int64_t seq_len = 2048;
  std::string bos = "document";
  bool no_eos = false;
  int threads = 0;
  int64_t shard_tokens = int64_t(1) << 28;
  bool json = false;
};

int run_tokenize(const TokenizeArgs& a) {
  qatwb::text::Tokenizer tok = qatwb::text::Tokenizer::from_file(a.tokenizer);
  qatwb::data::TokenizeOptions o;
  o.input = a.input;
  o.out_dir = a.out;
  o.text_field = a.text_field;
  o.seq_len = a.seq_len;
  o.bos = qatwb::parse_enum_or_throw<qatwb::data::BosPolicy>(a.bos, "BOS policy");
  o.eos = !a.no_eos;
  o.threads = a.threads;
  o.max_shard_tokens = a.shard_tokens;
  o.show_progress = isatty(fileno(stderr)) == 1;
  qatwb::data::TokenizeResult r = qatwb::data::tokenize_to_shards(o, tok);
  if (a.json) {
    nlohmann::json splits = nlohmann::json::object();
    for (const auto& s : r.manifest.splits)
      splits[s.name] = {
          {"documents", s.documents}, {"tokens", s.tokens}, {"shards", s.shards.size()}};
    std::cout << nlohmann::json{{"manifest", r.manifest_path},
                                {"tokenizer_sha256", r.manifest.tokenizer_sha256},
                                {"splits", splits}}
                     .dump(2)
              << "\n";
    return 0;
  }
  for (const auto& s : r.manifest.splits)
    std::cout << s.name << ": " << s.documents << " documents, " << s.tokens << " tokens in "
              << s.shards.size() << " shard(s)\n";
  std::cout << "manifest: " << r.manifest_path << "\n";
  return 0;
}

const qatwb::cli::CommandRegistration kTokenize(
    "tokenize", "Tokenize a sampled set into uint32 token shards with a manifest",
    [](CLI::App& sub) -> std::function<int()> {
      auto a = std::make_shared<TokenizeArgs>();
      sub.add_option("--tokenizer", a->tokenizer, "HF tokenizer.json")
          ->required()
          ->check(CLI::ExistingFile);
      sub.add_option("--input", a->input,
                     "Folder written by `qatwb sample` (train.jsonl, heldout.jsonl) or one .jsonl")
          ->required();
      sub.add_option("--out", a->out, "Output folder (<split>-00000.bin ..., manifest.json)")
          ->required();
      sub.add_option("--text-field", a->text_field, "JSON field holding the text")
          ->capture_default_str();
      sub.add_option("--seq-len", a->seq_len, "Training window length (recorded in the manifest)")
          ->check(CLI::PositiveNumber)
          ->capture_default_str();
      sub.add_option("--bos", a->bos,
                     "BOS placement: " + qatwb::cli::choices_help<qatwb::data::BosPolicy>())
          ->check(CLI::IsMember(qatwb::enum_names<qatwb::data::BosPolicy>()))
          ->capture_default_str();
      sub.add_flag("--no-eos", a->no_eos, "Do not put EOS after each document");
      sub.add_option("--threads", a->threads, "Tokenizer threads (0: all cores)")
          ->check(CLI::NonNegativeNumber);
      sub.add_option("--shard-tokens", a->shard_tokens, "Tokens per shard file at most")
          ->check(CLI::PositiveNumber)
          ->capture_default_str();
      sub.add_flag("--json", a->json, "Print the result as JSON");
      return [a]() { return run_tokenize(*a); };
    });

}  // namespace
