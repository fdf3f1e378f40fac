// The tokenizer.ggml.* metadata llama.cpp reads, carried over from an HF tokenizer.json:
//  - byte-level BPE (Llama-3, GPT-2 family): model "gpt2", the byte-level token strings, merges
//    ("a b"), and the pre-tokenizer name ("llama-bpe" for Llama-3's split regex, "gpt-2" for
//    GPT-2's, "default" otherwise, said in the log);
//  - SentencePiece-style BPE (Llama-2, Mistral: Metaspace / byte_fallback): model "llama", the
//    "▁" token strings, scores -id (merge priority follows the vocabulary order), <0xXX> byte
//    tokens typed BYTE, add_space_prefix from the Prepend normalizer / Metaspace.
// Token types: 1 normal, 2 unknown, 3 control (special added tokens), 4 user-defined (other
// added tokens), 5 unused (padding up to the model's vocab_size), 6 byte.
#pragma once
#include <string>
#include <vector>

#include "core/export/gguf_format.h"

namespace qatwb::exporter {

struct GgufVocab {
  std::string model;  // "gpt2" or "llama"
  std::string pre;    // tokenizer.ggml.pre
  std::vector<std::string> tokens;
  std::vector<double> scores;  // llama only
  std::vector<double> types;
  std::vector<std::string> merges;  // gpt2 only
  int64_t bos = -1, eos = -1, unk = -1, pad = -1;
  bool add_bos = false, add_eos = false, add_space_prefix = false;
  std::vector<std::string> notes;  // what the log should say
};

// Reads tokenizer.json; pads to `model_vocab` tokens (unused "[PAD<id>]") when the model's
// embedding is larger. Throws qatwb::Error naming the file when it is not a BPE tokenizer or
// holds more tokens than the model.
GgufVocab gguf_vocab_from_tokenizer_json(const std::string& path, int64_t model_vocab);

// Appends the tokenizer.ggml.* entries.
void append_vocab_metadata(const GgufVocab& vocab, GgufMetadata& metadata);

}  // namespace qatwb::exporter
