#include "core/data/tokenize_shards.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "core/data/compressed_file.h"
#include "core/data/document_reader.h"
#include "core/text/tokenizer.h"
#include "core/util/error.h"
#include "core/util/progress.h"
#include "core/util/sha256.h"
#include "core/util/strings.h"

namespace qatwb::data {

namespace fs = std::filesystem;

namespace {

struct SplitInput {
  std::string name;
  std::string path;
  std::string expected_sha256;  // from the sample manifest; empty when unknown
};

std::string split_name_for_file(const std::string& path) {
  std::string name = fs::path(strip_compression_suffix(path)).filename().string();
  for (const char* ext : {".jsonl", ".ndjson", ".txt"}) {
    size_t n = std::strlen(ext);
    if (name.size() > n && name.compare(name.size() - n, n, ext) == 0)
      return name.substr(0, name.size() - n);
  }
  return name;
}

// The sample folder's splits, checked against its manifest when it has one.
std::vector<SplitInput> find_inputs(const std::string& input, std::string& manifest_path) {
  std::vector<SplitInput> out;
  if (!fs::is_directory(input)) {
    if (!fs::exists(input)) throw Error(at_location(input, 0, "no such file or folder"));
    out.push_back({split_name_for_file(input), input, {}});
    return out;
  }
  const fs::path dir(input);
  nlohmann::json sample;
  if (fs::exists(dir / "manifest.json")) {
    manifest_path = (dir / "manifest.json").string();
    std::ifstream in(manifest_path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    try {
      sample = nlohmann::json::parse(ss.str());
    } catch (const nlohmann::json::parse_error& e) {
      throw Error(at_location(manifest_path, 0, std::string("invalid JSON: ") + e.what()));
    }
    if (sample.value("format", "") != "qatwb.sample")
      throw Error(at_location(manifest_path, 0,
                              "not a sample manifest (format is not \"qatwb.sample\"); is this "
                              "a token folder? give the folder written by `qatwb sample`"));
  } else if (fs::exists(dir / "train.jsonl")) {
    // A hand-made folder: accepted, but nothing to verify against.
  }
  for (const char* split : {"train", "heldout"}) {
    const fs::path file = dir / (std::string(split) + ".jsonl");
    std::string expected;
    if (sample.is_object()) {
      const auto& s = sample["splits"][split];
      if (s.is_object()) expected = s.value("sha256", "");
    }
    if (!fs::exists(file)) {
      if (std::string(split) == "train")
        throw Error(at_location(file.string(), 0,
                                "missing (expected a folder written by "
                                "`qatwb sample`, or a .jsonl file)"));
      if (!expected.empty())
        throw Error(at_location(file.string(), 0, "listed in the sample manifest but missing"));
      continue;
    }
    out.push_back({split, file.string(), expected});
  }
  return out;
}

// Appends one document's ids to the stream per the BOS/EOS policy.
class StreamPacker {
 public:
  StreamPacker(BosPolicy bos, bool eos, int32_t bos_id, int32_t eos_id, int64_t seq_len)
      : bos_(bos),
        eos_(eos),
        bos_id_(uint32_t(bos_id)),
        eos_id_(uint32_t(eos_id)),
        block_(seq_len + 1) {}

  void add_document(const std::vector<int32_t>& ids, std::vector<uint32_t>& out) {
    if (bos_ == BosPolicy::Document) out.push_back(bos_id_);
    for (int32_t id : ids) push(uint32_t(id), out);
    if (eos_) push(eos_id_, out);
  }

 private:
  void push(uint32_t id, std::vector<uint32_t>& out) {
    if (bos_ == BosPolicy::Window) {
      if (pos_ == 0) {
        out.push_back(bos_id_);
        pos_ = 1;
      }
      out.push_back(id);
      if (++pos_ == block_) pos_ = 0;
    } else {
      out.push_back(id);
    }
  }

  BosPolicy bos_;
  bool eos_;
  uint32_t bos_id_, eos_id_;
  int64_t block_;
  int64_t pos_ = 0;
};

struct PendingDoc {
  std::string text;
  int64_t line;
};

class BatchTokenizer {
 public:
  BatchTokenizer(const text::Tokenizer& tok, int threads) : tok_(tok), threads_(threads) {}

  // Encodes every document of the batch; results in batch order.
  std::vector<std::vector<int32_t>> encode(const std::vector<PendingDoc>& batch,
                                           const std::string& path) const {
    std::vector<std::vector<int32_t>> out(batch.size());
    std::atomic<size_t> next{0};
    std::exception_ptr error;
    std::atomic<bool> failed{false};
    size_t failed_index = 0;
    std::mutex error_mutex;
    auto work = [&]() {
      for (size_t i; !failed.load() && (i = next.fetch_add(1)) < batch.size();) {
        try {
          out[i] = tok_.encode(batch[i].text, false);
        } catch (...) {
          std::lock_guard<std::mutex> lock(error_mutex);
          if (!error || i < failed_index) error = std::current_exception(), failed_index = i;
          failed = true;
        }
      }
    };
    const size_t n = std::min<size_t>(size_t(threads_), batch.size());
    std::vector<std::thread> pool;
    for (size_t t = 1; t < n; ++t) pool.emplace_back(work);
    work();
    for (auto& t : pool) t.join();
    if (error) {
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& e) {
        throw Error(at_location(path, int(batch[failed_index].line),
                                std::string("tokenizer: ") + e.what()));
      }
    }
    return out;
  }

 private:
  const text::Tokenizer& tok_;
  int threads_;
};

}  // namespace

TokenizeResult tokenize_to_shards(const TokenizeOptions& options,
                                  const text::Tokenizer& tokenizer) {
  if (options.seq_len <= 0) throw Error("tokenize: seq_len must be positive");
  if (options.out_dir.empty()) throw Error("tokenize: no output folder given");
  if (options.bos != BosPolicy::None && tokenizer.bos_id() < 0)
    throw Error(at_location(tokenizer.path(), 0, "the tokenizer has no BOS token; use --bos none"));
  if (options.eos && tokenizer.eos_id() < 0)
    throw Error(at_location(tokenizer.path(), 0,
                            "the tokenizer has no EOS token (not in its post-processor, nor in "
                            "tokenizer_config.json or config.json beside it) to separate "
                            "documents; tokenize without one (`qatwb tokenize --no-eos`, or "
                            "`tokenize: {eos_between_documents: false}` in a project)"));

  std::string sample_manifest;
  std::vector<SplitInput> inputs = find_inputs(options.input, sample_manifest);
  const std::string out_dir = absolute_path(options.out_dir);
  if (fs::is_directory(options.input) && absolute_path(options.input) == out_dir)
    throw Error(at_location(out_dir, 0, "the output folder must differ from the sample folder"));
  for (const auto& in : inputs) {
    if (in.expected_sha256.empty()) continue;
    std::string actual = sha256_file(in.path);
    if (actual != in.expected_sha256)
      throw Error(at_location(in.path, 0,
                              "sha256 " + actual +
                                  " does not match the sample "
                                  "manifest (" +
                                  in.expected_sha256 +
                                  "): the sample set is incomplete or was modified"));
  }

  const int threads =
      options.threads > 0 ? options.threads : std::max(1, int(std::thread::hardware_concurrency()));
  TokenManifest m;
  m.tokenizer_path = absolute_path(tokenizer.path());
  m.tokenizer_sha256 = sha256_file(tokenizer.path());
  m.vocab_size = tokenizer.vocab_size();
  m.bos_id = tokenizer.bos_id();
  m.eos_id = tokenizer.eos_id();
  m.bos = options.bos;
  m.eos = options.eos;
  m.seq_len = options.seq_len;
  if (!sample_manifest.empty()) {
    m.source_manifest_path = absolute_path(sample_manifest);
    m.source_manifest_sha256 = sha256_file(sample_manifest);
  }
  if (m.vocab_size <= 0 || m.vocab_size > int64_t(UINT32_MAX))
    throw Error(at_location(tokenizer.path(), 0, "vocabulary size out of range"));

  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) throw Error(at_location(out_dir, 0, "cannot create folder: " + ec.message()));
  const std::string manifest_path = (fs::path(out_dir) / "manifest.json").string();
  // The folder is invalid from here until the new manifest lands.
  invalidate_manifest(manifest_path, "qatwb.tokens");

  uint64_t total_bytes = 0;
  for (const auto& in : inputs) total_bytes += fs::file_size(in.path, ec);
  Progress progress("tokenize", int64_t(total_bytes), Progress::Unit::Bytes,
                    options.show_progress ? stderr : nullptr);
  uint64_t bytes_before = 0;
  BatchTokenizer encoder(tokenizer, threads);

  for (const auto& in : inputs) {
    SplitShards split;
    split.name = in.name;
    split.source_path = absolute_path(in.path);
    ShardWriter writer(out_dir, in.name, options.max_shard_tokens);
    StreamPacker packer(options.bos, options.eos, m.bos_id, m.eos_id, options.seq_len);
    std::vector<PendingDoc> batch;
    size_t batch_bytes = 0;
    std::vector<uint32_t> stream;
    auto flush = [&]() {
      auto encoded = encoder.encode(batch, in.path);
      stream.clear();
      for (size_t i = 0; i < encoded.size(); ++i) {
        for (int32_t id : encoded[i])
          if (id < 0 || int64_t(id) >= m.vocab_size)
            throw Error(at_location(
                in.path, int(batch[i].line),
                "tokenizer produced id " + std::to_string(id) + " outside the vocabulary"));
        packer.add_document(encoded[i], stream);
      }
      writer.append(stream.data(), stream.size());
      split.documents += int64_t(batch.size());
      batch.clear();
      batch_bytes = 0;
    };
    ReadOptions ro;
    ro.text_field = options.text_field;
    ro.stop_on_bad_line = true;  // a sampled set has no bad lines; anything odd is an error
    ro.progress = [&](uint64_t b) { progress.update(int64_t(bytes_before + b)); };
    std::vector<SourceFile> files;
    read_file_documents(
        in.path, ro,
        [&](Document&& d) {
          batch_bytes += d.text.size();
          batch.push_back({std::move(d.text), d.line});
          if (batch.size() >= 4096 || batch_bytes >= (size_t(8) << 20)) flush();
        },
        files);
    if (!batch.empty()) flush();
    split.source_sha256 = files.back().sha256;
    split.shards = writer.finish();
    split.tokens = writer.tokens();
    m.splits.push_back(std::move(split));
    bytes_before += files.back().size;
    progress.update(int64_t(bytes_before));
  }
  progress.finish();
  sync_directory(out_dir);
  write_file_atomically(manifest_path, token_manifest_json(m));
  return {manifest_path, std::move(m)};
}

}  // namespace qatwb::data
