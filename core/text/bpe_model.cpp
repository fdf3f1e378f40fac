#include "core/text/bpe_model.h"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>

#include "core/text/byte_level.h"
#include "core/text/utf8.h"
#include "core/util/error.h"

namespace qatwb::text {

void MergeTable::reserve(size_t n) {
  size_t cap = 16;
  while (cap < n * 2) cap <<= 1;
  keys_.assign(cap, kEmpty);
  values_.assign(cap, Merge{0, 0});
  mask_ = cap - 1;
  size_ = 0;
}

void MergeTable::grow() {
  std::vector<uint64_t> old_keys = std::move(keys_);
  std::vector<Merge> old_values = std::move(values_);
  reserve(std::max<size_t>(16, old_keys.size()));
  for (size_t i = 0; i < old_keys.size(); ++i) {
    if (old_keys[i] == kEmpty) continue;
    insert(int32_t(old_keys[i] >> 32), int32_t(uint32_t(old_keys[i])), old_values[i]);
  }
}

void MergeTable::insert(int32_t left, int32_t right, Merge merge) {
  if (keys_.empty() || (size_ + 1) * 2 > keys_.size()) grow();
  uint64_t key = pack(left, right);
  for (size_t i = slot(key);; i = (i + 1) & mask_) {
    if (keys_[i] == key) {
      values_[i] = merge;  // a repeated merge takes the later rank, as a JS Map does
      return;
    }
    if (keys_[i] == kEmpty) {
      keys_[i] = key;
      values_[i] = merge;
      ++size_;
      return;
    }
  }
}

namespace {

using nlohmann::json;

std::string field_error(const std::string& where, const std::string& field,
                        const std::string& what) {
  return where + ": " + field + ": " + what;
}

}  // namespace

BpeModel BpeModel::from_json(const json& model, bool byte_level, const std::string& where) {
  if (!model.is_object()) throw Error(field_error(where, "model", "expected an object"));
  std::string type = model.value("type", std::string("BPE"));
  if (type != "BPE") {
    throw Error(
        field_error(where, "model.type", "model \"" + type + "\" is not supported (BPE only)"));
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    auto it = model.find(key);
    if (it != model.end() && !it->is_null() &&
        !(it->is_string() && it->get<std::string>().empty())) {
      throw Error(field_error(where, std::string("model.") + key, "is not supported"));
    }
  }
  auto dropout = model.find("dropout");
  if (dropout != model.end() && !dropout->is_null() && dropout->get<double>() != 0.0) {
    throw Error(field_error(where, "model.dropout", "BPE dropout is not supported"));
  }

  BpeModel m;
  m.byte_level_ = byte_level;
  m.byte_fallback_ = model.value("byte_fallback", false);
  m.ignore_merges_ = model.value("ignore_merges", false);

  auto vocab = model.find("vocab");
  if (vocab == model.end() || !vocab->is_object()) {
    throw Error(field_error(where, "model.vocab", "expected an object of token -> id"));
  }
  m.file_to_id_.reserve(vocab->size());
  m.raw_to_id_.reserve(vocab->size());
  int64_t max_id = -1;
  for (auto it = vocab->begin(); it != vocab->end(); ++it) {
    if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0 ||
        it.value().get<int64_t>() > INT32_MAX - 1) {
      throw Error(field_error(where, "model.vocab[\"" + it.key() + "\"]", "bad id"));
    }
    max_id = std::max<int64_t>(max_id, it.value().get<int64_t>());
  }
  // Ids are dense in every real vocabulary; a stray huge id must not size the table.
  const int64_t max_allowed = 2 * static_cast<int64_t>(vocab->size()) + 1024;
  if (max_id > max_allowed)
    throw Error(field_error(where, "model.vocab",
                            "id " + std::to_string(max_id) + " is far beyond the " +
                                std::to_string(vocab->size()) +
                                " tokens (ids must be 0 .. N-1 with few gaps)"));
  m.tokens_.assign(static_cast<size_t>(max_id + 1), std::string());
  std::vector<char> taken(static_cast<size_t>(max_id + 1), 0);
  std::string raw;
  for (auto it = vocab->begin(); it != vocab->end(); ++it) {
    int32_t id = it.value().get<int32_t>();
    if (taken[id])
      throw Error(field_error(where, "model.vocab",
                              "tokens \"" + m.tokens_[id] + "\" and \"" + it.key() +
                                  "\" both have id " + std::to_string(id)));
    taken[id] = 1;
    m.tokens_[id] = it.key();
    m.file_to_id_.emplace(it.key(), id);
    if (!byte_level) {
      m.raw_to_id_.emplace(it.key(), id);
    } else if (byte_level_to_bytes(it.key(), raw)) {
      m.raw_to_id_.emplace(raw, id);
    }
  }

  if (!byte_level) {
    const std::string_view meta = "\xE2\x96\x81";
    bool inner_meta = false;
    for (const std::string& t : m.tokens_) {
      for (size_t at = t.find(meta, 1); at != std::string::npos && !inner_meta;
           at = t.find(meta, at + 1)) {
        inner_meta = !(at >= meta.size() && t.compare(at - meta.size(), meta.size(), meta) == 0);
      }
      if (inner_meta) break;
    }
    m.split_before_metaspace_ = !inner_meta;
  }

  auto unk = model.find("unk_token");
  if (unk != model.end() && unk->is_string()) m.unk_id_ = m.token_to_id(unk->get<std::string>());

  for (int b = 0; b < 256; ++b) {
    std::string byte_token;
    append_utf8(byte_token, byte_to_unicode(static_cast<uint8_t>(b)));
    m.byte_ids_[b] = byte_level ? m.token_to_id(byte_token) : -1;
    char hex[8];
    std::snprintf(hex, sizeof(hex), "<0x%02X>", b);
    m.byte_fallback_ids_[b] = m.token_to_id(hex);
  }

  auto merges = model.find("merges");
  if (merges == model.end() || !merges->is_array()) {
    throw Error(field_error(where, "model.merges", "expected an array"));
  }
  m.merges_.reserve(merges->size());
  std::string left, right;
  for (size_t i = 0; i < merges->size(); ++i) {
    const json& entry = (*merges)[i];
    std::string field = "model.merges[" + std::to_string(i) + "]";
    if (entry.is_string()) {
      const std::string& s = entry.get_ref<const std::string&>();
      size_t space = s.find(' ');
      if (space == std::string::npos)
        throw Error(field_error(where, field, "no space in \"" + s + "\""));
      size_t end = s.find(' ', space + 1);
      left = s.substr(0, space);
      right = s.substr(space + 1, end == std::string::npos ? std::string::npos : end - space - 1);
    } else if (entry.is_array() && entry.size() == 2 && entry[0].is_string() &&
               entry[1].is_string()) {
      left = entry[0].get<std::string>();
      right = entry[1].get<std::string>();
    } else {
      throw Error(field_error(where, field, "expected \"a b\" or [\"a\", \"b\"]"));
    }
    int32_t l = m.token_to_id(left), r = m.token_to_id(right), id = m.token_to_id(left + right);
    if (l < 0 || r < 0 || id < 0) {
      throw Error(field_error(
          where, field,
          "merge \"" + left + " " + right + "\" uses or makes a token missing from model.vocab"));
    }
    m.merges_.insert(l, r, {static_cast<int32_t>(i), id});
  }
  return m;
}

int32_t BpeModel::token_to_id(const std::string& token) const {
  auto it = file_to_id_.find(token);
  return it == file_to_id_.end() ? -1 : it->second;
}

const std::string& BpeModel::id_to_token(int32_t id) const {
  static const std::string empty;
  if (id < 0 || static_cast<size_t>(id) >= tokens_.size()) return empty;
  return tokens_[id];
}

void BpeModel::encode(std::string_view piece, std::vector<int32_t>& out) const {
  if (piece.empty()) return;
  if (ignore_merges_) {
    auto it = raw_to_id_.find(std::string(piece));
    if (it != raw_to_id_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  if (!split_before_metaspace_) return encode_word(piece, out);
  const std::string_view meta = "\xE2\x96\x81";
  size_t start = 0;
  for (size_t at = piece.find(meta, 1); at != std::string_view::npos;
       at = piece.find(meta, at + 1)) {
    if (at >= meta.size() && piece.compare(at - meta.size(), meta.size(), meta) == 0) continue;
    encode_word(piece.substr(start, at - start), out);
    start = at;
  }
  encode_word(piece.substr(start), out);
}

void BpeModel::encode_word(std::string_view piece, std::vector<int32_t>& out) const {
  thread_local std::vector<Symbol> symbols;
  symbols.clear();
  if (byte_level_) {
    for (size_t i = 0; i < piece.size(); ++i) {
      int32_t n = static_cast<int32_t>(symbols.size());
      symbols.push_back(
          {byte_ids_[static_cast<unsigned char>(piece[i])], int32_t(i), 1, n - 1, n + 1});
    }
  } else {
    std::string ch;
    for (size_t i = 0; i < piece.size();) {
      size_t len = utf8_length(static_cast<unsigned char>(piece[i]));
      ch.assign(piece.data() + i, len);
      auto it = raw_to_id_.find(ch);
      int32_t n = static_cast<int32_t>(symbols.size());
      symbols.push_back(
          {it == raw_to_id_.end() ? -1 : it->second, int32_t(i), int32_t(len), n - 1, n + 1});
      i += len;
    }
  }
  symbols.back().next = -1;
  merge_symbols(symbols);
  for (int32_t i = 0; i != -1; i = symbols[i].next) {
    const Symbol& s = symbols[i];
    if (s.id >= 0) {
      out.push_back(s.id);
    } else {
      emit_unknown(piece.substr(s.start, s.len), out);
    }
  }
}

// Repeatedly merges the adjacent pair of lowest rank, the leftmost among equal ranks (the order
// of transformers.js's "rank + position / length" priority and of the Rust tokenizers).
void BpeModel::merge_symbols(std::vector<Symbol>& symbols) const {
  if (symbols.size() < 2) return;
  struct Candidate {
    int32_t rank, pos, left, right;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  thread_local std::vector<Candidate> heap;  // a min-heap through std::greater
  heap.clear();
  const std::greater<Candidate> order;
  auto consider = [&](int32_t pos) {
    int32_t next = symbols[pos].next;
    if (next < 0 || symbols[pos].id < 0 || symbols[next].id < 0) return;
    if (const MergeTable::Merge* m = merges_.find(symbols[pos].id, symbols[next].id)) {
      heap.push_back({m->rank, pos, symbols[pos].id, symbols[next].id});
      std::push_heap(heap.begin(), heap.end(), order);
    }
  };
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(symbols.size()); ++i) consider(i);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), order);
    Candidate c = heap.back();
    heap.pop_back();
    Symbol& left = symbols[c.pos];
    if (left.len == 0 || left.id != c.left || left.next < 0) continue;
    Symbol& right = symbols[left.next];
    if (right.id != c.right) continue;
    left.id = merges_.find(c.left, c.right)->id;
    left.len += right.len;
    right.len = 0;
    left.next = right.next;
    if (left.next >= 0) symbols[left.next].prev = c.pos;
    if (left.prev >= 0) consider(left.prev);
    consider(c.pos);
  }
}

void BpeModel::emit_unknown(std::string_view bytes, std::vector<int32_t>& out) const {
  if (byte_fallback_) {
    bool all = true;
    for (char b : bytes) all = all && byte_fallback_ids_[static_cast<unsigned char>(b)] >= 0;
    if (all) {
      for (char b : bytes) out.push_back(byte_fallback_ids_[static_cast<unsigned char>(b)]);
      return;
    }
  }
  if (unk_id_ < 0) {
    throw Error("BPE: no token for \"" + std::string(bytes) +
                "\" and the model has no unk_token or byte fallback");
  }
  out.push_back(unk_id_);
}

}  // namespace qatwb::text
