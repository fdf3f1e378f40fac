#include "core/data/token_shards.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "core/data/sampler.h"
#include "core/util/error.h"

namespace qatwb::data {

namespace fs = std::filesystem;

namespace {
const EnumRow<BosPolicy> kBosPolicies[] = {
    {BosPolicy::None, "none", "no BOS; windows start every seq_len tokens"},
    {BosPolicy::Document, "document", "BOS before every document"},
    {BosPolicy::Window, "window",
     "BOS at the start of every window of seq_len+1 tokens (documents flow across windows)"}};
}  // namespace

EnumRows<BosPolicy> enum_rows(BosPolicy) { return kBosPolicies; }

int64_t TokenManifest::window_stride(int64_t len) const {
  return bos == BosPolicy::Window ? len + 1 : len;
}

const SplitShards* TokenManifest::find_split(const std::string& name) const {
  for (const auto& s : splits)
    if (s.name == name) return &s;
  return nullptr;
}

std::string shard_file_name(const std::string& split, int index) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "-%05d.bin", index);
  return split + buf;
}

std::string token_manifest_json(const TokenManifest& m) {
  nlohmann::json splits = nlohmann::json::object();
  for (const auto& s : m.splits) {
    nlohmann::json shards = nlohmann::json::array();
    for (const auto& sh : s.shards)
      shards.push_back({{"file", sh.file},
                        {"tokens", sh.tokens},
                        {"bytes", sh.tokens * 4},
                        {"sha256", sh.sha256}});
    splits[s.name] = {{"documents", s.documents},
                      {"tokens", s.tokens},
                      {"source", {{"path", s.source_path}, {"sha256", s.source_sha256}}},
                      {"shards", shards}};
  }
  nlohmann::json j = {
      {"format", "qatwb.tokens"},
      {"v", 1},
      {"qatwb_version", kToolVersion},
      {"dtype", "uint32le"},
      {"tokenizer",
       {{"path", m.tokenizer_path},
        {"sha256", m.tokenizer_sha256},
        {"vocab_size", m.vocab_size},
        {"bos_id", m.bos_id},
        {"eos_id", m.eos_id}}},
      {"bos", enum_name(m.bos)},
      {"eos", m.eos},
      {"seq_len", m.seq_len},
      {"source_manifest", {{"path", m.source_manifest_path}, {"sha256", m.source_manifest_sha256}}},
      {"splits", splits}};
  return j.dump(2) + "\n";
}

namespace {

template <typename T>
T field(const nlohmann::json& j, const char* name, const std::string& path,
        const std::string& where) {
  auto it = j.find(name);
  if (it == j.end()) throw Error(at_location(path, 0, "missing field " + where + name));
  try {
    return it->get<T>();
  } catch (const nlohmann::json::exception&) {
    throw Error(at_location(path, 0, "field " + where + name + " has the wrong type"));
  }
}

}  // namespace

TokenManifest read_token_manifest(const std::string& path_in) {
  std::string path = path_in;
  if (fs::is_directory(path)) path = (fs::path(path) / "manifest.json").string();
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw Error(at_location(path, 0, "cannot open token manifest (was `qatwb tokenize` run?)"));
  std::stringstream ss;
  ss << in.rdbuf();
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(ss.str());
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(at_location(path, 0, std::string("invalid JSON: ") + e.what()));
  }
  if (!j.is_object() || j.value("format", "") != "qatwb.tokens")
    throw Error(at_location(path, 0, "not a token manifest (format is not \"qatwb.tokens\")"));
  if (j.value("dtype", "") != "uint32le")
    throw Error(at_location(path, 0, "unsupported dtype (expected \"uint32le\")"));
  TokenManifest m;
  const auto& tok = field<nlohmann::json>(j, "tokenizer", path, "");
  m.tokenizer_path = field<std::string>(tok, "path", path, "tokenizer.");
  m.tokenizer_sha256 = field<std::string>(tok, "sha256", path, "tokenizer.");
  m.vocab_size = field<int64_t>(tok, "vocab_size", path, "tokenizer.");
  m.bos_id = field<int32_t>(tok, "bos_id", path, "tokenizer.");
  m.eos_id = field<int32_t>(tok, "eos_id", path, "tokenizer.");
  try {
    m.bos = parse_enum_or_throw<BosPolicy>(field<std::string>(j, "bos", path, ""), "BOS policy");
  } catch (const Error& e) {
    throw Error(at_location(path, 0, std::string("field bos: ") + e.what()));
  }
  m.eos = field<bool>(j, "eos", path, "");
  m.seq_len = field<int64_t>(j, "seq_len", path, "");
  if (auto it = j.find("source_manifest"); it != j.end() && it->is_object()) {
    m.source_manifest_path = it->value("path", "");
    m.source_manifest_sha256 = it->value("sha256", "");
  }
  const auto& splits = field<nlohmann::json>(j, "splits", path, "");
  if (!splits.is_object()) throw Error(at_location(path, 0, "field splits must be an object"));
  for (auto it = splits.begin(); it != splits.end(); ++it) {
    const std::string where = "splits." + it.key() + ".";
    SplitShards s;
    s.name = it.key();
    s.documents = field<int64_t>(*it, "documents", path, where);
    s.tokens = field<int64_t>(*it, "tokens", path, where);
    if (auto src = it->find("source"); src != it->end() && src->is_object()) {
      s.source_path = src->value("path", "");
      s.source_sha256 = src->value("sha256", "");
    }
    int64_t sum = 0;
    for (const auto& sh : field<nlohmann::json>(*it, "shards", path, where)) {
      ShardInfo info;
      info.file = field<std::string>(sh, "file", path, where + "shards[].");
      info.tokens = field<int64_t>(sh, "tokens", path, where + "shards[].");
      info.sha256 = field<std::string>(sh, "sha256", path, where + "shards[].");
      if (info.file.find('/') != std::string::npos || info.tokens < 0)
        throw Error(at_location(path, 0, "bad shard entry " + info.file + " in " + where));
      sum += info.tokens;
      s.shards.push_back(std::move(info));
    }
    if (sum != s.tokens)
      throw Error(at_location(path, 0,
                              where + "tokens is " + std::to_string(s.tokens) +
                                  " but its shards hold " + std::to_string(sum)));
    m.splits.push_back(std::move(s));
  }
  return m;
}

ShardWriter::ShardWriter(std::string dir, std::string split, int64_t max_shard_tokens)
    : dir_(std::move(dir)), split_(std::move(split)), max_shard_tokens_(max_shard_tokens) {
  if (max_shard_tokens_ <= 0) throw Error("shard size must be positive");
}

ShardWriter::~ShardWriter() = default;

void ShardWriter::open_next() {
  std::string name = shard_file_name(split_, int(files_.size()));
  files_.push_back(std::make_unique<AtomicFile>((fs::path(dir_) / name).string()));
  shards_.push_back({name, 0, {}});
  in_current_ = 0;
}

void ShardWriter::append(const uint32_t* ids, size_t count) {
  while (count > 0) {
    if (files_.empty() || in_current_ == max_shard_tokens_) open_next();
    size_t take = size_t(std::min<int64_t>(int64_t(count), max_shard_tokens_ - in_current_));
    if constexpr (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__) {
      files_.back()->write(ids, take * 4);
    } else {
      le_buffer_.resize(take);
      for (size_t i = 0; i < take; ++i) le_buffer_[i] = __builtin_bswap32(ids[i]);
      files_.back()->write(le_buffer_.data(), take * 4);
    }
    ids += take;
    count -= take;
    in_current_ += int64_t(take);
    shards_.back().tokens += int64_t(take);
    total_ += int64_t(take);
  }
}

std::vector<ShardInfo> ShardWriter::finish() {
  for (size_t i = 0; i < files_.size(); ++i) shards_[i].sha256 = files_[i]->close();
  for (auto& f : files_) f->commit();
  // Remove shards of an earlier, longer run of the same split.
  std::set<std::string> keep;
  for (const auto& s : shards_) keep.insert(s.file);
  auto is_shard_name = [&](const std::string& name) {
    const std::string prefix = split_ + "-";
    if (name.size() != prefix.size() + 9 || name.compare(0, prefix.size(), prefix) != 0 ||
        name.compare(name.size() - 4, 4, ".bin") != 0)
      return false;
    for (size_t i = prefix.size(); i < prefix.size() + 5; ++i)
      if (!std::isdigit(static_cast<unsigned char>(name[i]))) return false;
    return true;
  };
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    const std::string name = entry.path().filename().string();
    if (is_shard_name(name) && !keep.count(name)) fs::remove(entry.path(), ec);
  }
  files_.clear();
  return shards_;
}

}  // namespace qatwb::data
