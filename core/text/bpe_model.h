// The BPE model of tokenizer.json: vocabulary, ranked merges, byte fallback, ignore_merges.
// With `byte_level` the model works on raw bytes (the ByteLevel pre-tokenizer's alphabet is
// undone once at load time), otherwise on the code points of the normalized text.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace qatwb::text {

// Open-addressing map from a pair of token ids to the merge's rank and resulting id.
class MergeTable {
 public:
  struct Merge {
    int32_t rank;
    int32_t id;
  };
  void reserve(size_t n);
  void insert(int32_t left, int32_t right, Merge merge);
  const Merge* find(int32_t left, int32_t right) const {
    if (keys_.empty()) return nullptr;
    uint64_t key = pack(left, right);
    for (size_t i = slot(key);; i = (i + 1) & mask_) {
      if (keys_[i] == key) return &values_[i];
      if (keys_[i] == kEmpty) return nullptr;
    }
  }
  size_t size() const { return size_; }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  static uint64_t pack(int32_t l, int32_t r) { return (uint64_t(uint32_t(l)) << 32) | uint32_t(r); }
  size_t slot(uint64_t key) const { return (key * 0x9E3779B97F4A7C15ULL >> 17) & mask_; }
  void grow();
  std::vector<uint64_t> keys_;
  std::vector<Merge> values_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

class BpeModel {
 public:
  // `model` is tokenizer.json's "model" object; `where` names the file for errors.
  static BpeModel from_json(const nlohmann::json& model, bool byte_level, const std::string& where);

  // Appends the ids of one pre-tokenized piece (raw bytes when byte_level, else UTF-8 text).
  void encode(std::string_view piece, std::vector<int32_t>& out) const;

  int32_t token_to_id(const std::string& token) const;  // token as written in the file; -1
  const std::string& id_to_token(int32_t id) const;     // "" for ids the vocabulary lacks
  int64_t vocab_size() const { return static_cast<int64_t>(tokens_.size()); }
  bool byte_level() const { return byte_level_; }
  bool byte_fallback() const { return byte_fallback_; }
  int32_t unk_id() const { return unk_id_; }

 private:
  struct Symbol {
    int32_t id;     // -1: not in the vocabulary (left to byte fallback / unk)
    int32_t start;  // byte offset in the piece
    int32_t len;    // bytes; 0 once merged into its left neighbour
    int32_t prev;
    int32_t next;
  };
  void encode_word(std::string_view word, std::vector<int32_t>& out) const;
  void merge_symbols(std::vector<Symbol>& symbols) const;
  void emit_unknown(std::string_view bytes, std::vector<int32_t>& out) const;

  bool byte_level_ = false;
  bool byte_fallback_ = false;
  bool ignore_merges_ = false;
  // No token has "▁" (U+2581) right after another character, so a word splits before each such
  // "▁" without changing the result (SentencePiece-style vocabularies): BPE on whole
  // Metaspace-joined sections stays linear instead of one heap over the whole section.
  bool split_before_metaspace_ = false;
  int32_t unk_id_ = -1;
  std::vector<std::string> tokens_;                      // id -> token as in the file
  std::unordered_map<std::string, int32_t> file_to_id_;  // token as in the file -> id
  std::unordered_map<std::string, int32_t> raw_to_id_;   // model alphabet (bytes or UTF-8) -> id
  int32_t byte_ids_[256];                                // byte_level: id of each single byte
  int32_t byte_fallback_ids_[256];                       // byte_fallback: id of <0xNN>
  MergeTable merges_;
};

}  // namespace qatwb::text
