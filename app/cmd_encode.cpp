// qatwb encode / decode: run a HF tokenizer.json over stdin.
//   qatwb encode --tokenizer PATH [--add-special] [--replace-invalid]  < text  > [ids]
//   qatwb decode --tokenizer PATH [--skip-special]                     < [ids] > text
#include <iostream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "app/command.h"
#include "core/text/tokenizer.h"
#include "core/util/error.h"

namespace {

std::string read_stdin() {
  return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
}

struct EncodeOptions {
  std::string tokenizer;
  bool add_special = false;
  bool replace_invalid = false;
};

struct DecodeOptions {
  std::string tokenizer;
  bool skip_special = false;
};

int run_encode(const EncodeOptions& o) {
  auto tok = qatwb::text::Tokenizer::from_file(o.tokenizer);
  std::string text = read_stdin();
  std::vector<int32_t> ids;
  try {
    ids = tok.encode(text, o.add_special, o.replace_invalid);
  } catch (const qatwb::Error& e) {
    throw qatwb::Error(std::string("stdin: ") + e.what() +
                       (o.replace_invalid ? "" : " (--replace-invalid substitutes U+FFFD)"));
  }
  std::string out = "[";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(ids[i]);
  }
  out += "]\n";
  std::cout << out << std::flush;
  return 0;
}

std::vector<int32_t> parse_ids(const std::string& input) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(input);
  } catch (const nlohmann::json::exception& e) {
    throw qatwb::Error(std::string("stdin: expected a JSON array of token ids: ") + e.what());
  }
  if (!j.is_array()) throw qatwb::Error("stdin: expected a JSON array of token ids");
  std::vector<int32_t> ids;
  ids.reserve(j.size());
  for (size_t i = 0; i < j.size(); ++i) {
    const auto& v = j[i];
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > INT32_MAX) {
      throw qatwb::Error("stdin: element " + std::to_string(i) + " (" + v.dump() +
                         ") is not a non-negative integer token id");
    }
    ids.push_back(static_cast<int32_t>(v.get<int64_t>()));
  }
  return ids;
}

int run_decode(const DecodeOptions& o) {
  auto tok = qatwb::text::Tokenizer::from_file(o.tokenizer);
  std::vector<int32_t> ids = parse_ids(read_stdin());
  std::string text = tok.decode(ids, o.skip_special);
  std::cout << text << std::flush;
  return 0;
}

qatwb::cli::CommandRegistration encode_command(
    "encode", "Tokenize UTF-8 text read from stdin; print the token ids as one JSON array",
    [](CLI::App& sub) -> std::function<int()> {
      auto o = std::make_shared<EncodeOptions>();
      sub.add_option("--tokenizer", o->tokenizer, "HF tokenizer.json")->required();
      sub.add_flag("--add-special", o->add_special,
                   "Apply the post-processor (e.g. prepend BOS for Llama-2)");
      sub.add_flag("--replace-invalid", o->replace_invalid,
                   "Replace invalid UTF-8 by U+FFFD (as a JS TextDecoder) instead of failing");
      return [o] { return run_encode(*o); };
    });

qatwb::cli::CommandRegistration decode_command(
    "decode", "Read a JSON array of token ids from stdin; print the decoded text",
    [](CLI::App& sub) -> std::function<int()> {
      auto o = std::make_shared<DecodeOptions>();
      sub.add_option("--tokenizer", o->tokenizer, "HF tokenizer.json")->required();
      sub.add_flag("--skip-special", o->skip_special, "Leave out special tokens (BOS, EOS, ...)");
      return [o] { return run_decode(*o); };
    });

}  // namespace
