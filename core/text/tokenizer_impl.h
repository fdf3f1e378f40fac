// Private: the parts of a loaded Tokenizer (tokenizer.cpp encodes/decodes, tokenizer_load.cpp
// builds it from tokenizer.json).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/text/added_tokens.h"
#include "core/text/bpe_model.h"
#include "core/text/normalizer.h"
#include "core/text/pretokenizer.h"
#include "core/text/token_decoder.h"
#include "core/text/tokenizer.h"

namespace qatwb::text {

// What the post-processor adds around one sequence when add_special_tokens is set
// (TemplateProcessing's "single", Bert/Roberta's cls/sep; nothing for ByteLevel).
struct SpecialTokenTemplate {
  std::vector<int32_t> prefix;
  std::vector<int32_t> suffix;
};

struct TokenizerData {
  std::string path;
  AddedTokenSplitter added;
  Normalizer normalizer;
  PreTokenizer pre_tokenizer;
  BpeModel model;
  SpecialTokenTemplate post;
  TokenDecoder decoder;
  int32_t bos_id = -1;
  int32_t eos_id = -1;
  int64_t vocab_size = 0;
};

struct Tokenizer::Impl : TokenizerData {};

}  // namespace qatwb::text
