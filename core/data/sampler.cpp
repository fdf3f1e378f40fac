#include "core/data/sampler.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <unordered_set>

#include "core/data/atomic_file.h"
#include "core/data/seeded_random.h"
#include "core/util/error.h"
#include "core/util/progress.h"
#include "core/util/strings.h"

namespace qatwb::data {

namespace fs = std::filesystem;

namespace {

struct Candidate {
  double key;
  uint64_t heldout_bits;
  int64_t tokens;
  std::string text;
};

// Max-heap on key: the front is the candidate that leaves first.
bool key_less(const Candidate& a, const Candidate& b) { return a.key < b.key; }

class Selection {
 public:
  Selection(int64_t max_documents, int64_t max_tokens)
      : max_documents_(max_documents), max_tokens_(max_tokens) {}

  void offer(Candidate&& c) {
    if (c.key >= cutoff_) return;  // a document with a smaller key was already cut
    tokens_ += c.tokens;
    heap_.push_back(std::move(c));
    std::push_heap(heap_.begin(), heap_.end(), key_less);
    while (!heap_.empty() && over_budget()) {
      std::pop_heap(heap_.begin(), heap_.end(), key_less);
      cutoff_ = std::min(cutoff_, heap_.back().key);
      tokens_ -= heap_.back().tokens;
      heap_.pop_back();
    }
  }

  std::vector<Candidate> take_sorted() {
    std::sort(heap_.begin(), heap_.end(), key_less);
    return std::move(heap_);
  }

 private:
  bool over_budget() const {
    return (max_documents_ > 0 && int64_t(heap_.size()) > max_documents_) ||
           (max_tokens_ > 0 && tokens_ > max_tokens_);
  }

  int64_t max_documents_, max_tokens_;
  int64_t tokens_ = 0;
  double cutoff_ = HUGE_VAL;
  std::vector<Candidate> heap_;
};

void write_split(const std::vector<const Candidate*>& docs, SplitFile& split) {
  AtomicFile out(split.path);
  std::string line;
  for (const Candidate* c : docs) {
    nlohmann::json j = {{"text", c->text}};
    line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
    line += '\n';
    out.write(line);
    ++split.documents;
    split.text_bytes += c->text.size();
    split.approx_tokens += c->tokens;
  }
  split.sha256 = out.close();
  split.file_bytes = out.bytes();
  out.commit();
}

nlohmann::json split_json(const SplitFile& s) {
  return {{"file", fs::path(s.path).filename().string()},
          {"documents", s.documents},
          {"text_bytes", s.text_bytes},
          {"approx_tokens", s.approx_tokens},
          {"bytes", s.file_bytes},
          {"sha256", s.sha256}};
}

void check_sample_options(const SampleOptions& options) {
  if (options.sources.empty()) throw Error("sample: no input given");
  if (options.out_dir.empty()) throw Error("sample: no output folder given");
  if (!(options.heldout_fraction >= 0.0 && options.heldout_fraction < 1.0))
    throw Error("sample: heldout fraction must be in [0, 1), got " +
                std::to_string(options.heldout_fraction));
  if (options.max_documents < 0 || options.max_tokens < 0)
    throw Error("sample: budgets must be >= 0 (0 means no limit)");
  for (const auto& s : options.sources)
    if (!(s.weight > 0.0) || !std::isfinite(s.weight))
      throw Error(at_location(s.path, 0, "source weight must be a positive number"));
}

// Every file of every source, listed first so that a typo in the last --input fails before
// minutes of reading; `total_bytes` gets their sizes' sum (for the progress bar).
std::vector<std::vector<std::string>> list_sample_files(const SampleOptions& options,
                                                        uint64_t& total_bytes) {
  std::vector<std::vector<std::string>> source_files;
  total_bytes = 0;
  for (const auto& s : options.sources) {
    source_files.push_back(list_source_files(s.path));
    if (source_files.back().empty())
      throw Error(at_location(s.path, 0,
                              "folder holds no .jsonl, .ndjson or .txt files "
                              "(optionally .gz or .zst)"));
    for (const auto& f : source_files.back()) {
      std::error_code ec;
      total_bytes += fs::file_size(f, ec);
    }
  }
  return source_files;
}

// One streaming pass over every file: each document gets its key and held-out coin, and the
// selection keeps those within the budgets. Counts go into `result`; returns the sample in key
// order. Throws when nothing is left.
std::vector<Candidate> draw_sample(const SampleOptions& options,
                                   const std::vector<std::vector<std::string>>& source_files,
                                   uint64_t total_bytes, SampleResult& result) {
  Selection selection(options.max_documents, options.max_tokens);
  std::unordered_set<uint64_t> seen;
  const uint64_t seed = options.seed;
  Progress progress("sample", int64_t(total_bytes), Progress::Unit::Bytes,
                    options.show_progress ? stderr : nullptr);
  uint64_t bytes_before = 0;

  for (size_t si = 0; si < options.sources.size(); ++si) {
    const SampleSource& source = options.sources[si];
    ReadOptions ro;
    ro.text_field = source.text_field;
    ro.txt_mode = options.txt_mode;
    ro.stop_on_bad_line = options.stop_on_bad_line;
    ro.warn = options.warn;
    ro.progress = [&](uint64_t b) { progress.update(int64_t(bytes_before + b)); };
    for (size_t fi = 0; fi < source_files[si].size(); ++fi) {
      const uint64_t file_seed = hash_combine(hash_combine(seed, si), fi);
      auto sink = [&](Document&& d) {
        ++result.documents_read;
        if (options.dedupe && !seen.insert(hash_bytes(d.text, 0x6475706cULL)).second) {
          ++result.duplicates;
          return;
        }
        const uint64_t bits = hash_combine(file_seed, uint64_t(d.index));
        Candidate c;
        c.key = -std::log(unit_open(bits)) / source.weight;
        c.heldout_bits = mix64(bits ^ 0x68656c646f7574ULL);
        c.tokens = approx_token_count(d.text.size());
        c.text = std::move(d.text);
        selection.offer(std::move(c));
      };
      read_file_documents(source_files[si][fi], ro, sink, result.files);
      SourceFile& f = result.files.back();
      f.path = absolute_path(f.path);
      result.bad_lines += f.bad_lines;
      result.empty += f.empty;
      bytes_before += f.size;
      progress.update(int64_t(bytes_before));
    }
  }
  progress.finish();

  std::vector<Candidate> chosen = selection.take_sorted();
  if (chosen.empty()) {
    std::string why = result.documents_read == 0
                          ? "no documents in the input (" + std::to_string(result.files.size()) +
                                " file(s) read, " + std::to_string(result.bad_lines) +
                                " bad line(s) skipped, " + std::to_string(result.empty) +
                                " empty text(s))"
                          : "the token budget is smaller than every document drawn";
    throw Error("sample: empty dataset: " + why);
  }
  return chosen;
}

// Held-out by an independent per-document coin with probability `f`; with f > 0 and two or more
// documents both sides keep at least one (the document whose coin was closest to f moves).
std::vector<char> choose_heldout(const std::vector<Candidate>& chosen, double f) {
  std::vector<char> is_heldout(chosen.size(), 0);
  size_t n_heldout = 0;
  for (size_t i = 0; i < chosen.size(); ++i) {
    is_heldout[i] = unit_open(chosen[i].heldout_bits) < f;
    n_heldout += is_heldout[i];
  }
  if (f > 0 && chosen.size() >= 2) {
    auto closest = [&](bool from_heldout) {
      size_t best = chosen.size();
      double best_d = HUGE_VAL;
      for (size_t i = 0; i < chosen.size(); ++i) {
        if (bool(is_heldout[i]) != from_heldout) continue;
        double d = std::fabs(unit_open(chosen[i].heldout_bits) - f);
        if (d < best_d) best_d = d, best = i;
      }
      return best;
    };
    if (n_heldout == 0) is_heldout[closest(false)] = 1, ++n_heldout;
    if (n_heldout == chosen.size()) is_heldout[closest(true)] = 0, --n_heldout;
  }
  return is_heldout;
}

// manifest.json: the options, every input file with its checksum, the counts and both splits.
nlohmann::json sample_manifest(const SampleOptions& options, const SampleResult& result) {
  nlohmann::json sources = nlohmann::json::array();
  for (const auto& file : result.files)
    sources.push_back({{"path", file.path},
                       {"size", file.size},
                       {"sha256", file.sha256},
                       {"documents", file.documents},
                       {"bad_lines_skipped", file.bad_lines},
                       {"empty_skipped", file.empty}});
  nlohmann::json inputs = nlohmann::json::array();
  for (const auto& s : options.sources)
    inputs.push_back(
        {{"path", absolute_path(s.path)}, {"text_field", s.text_field}, {"weight", s.weight}});
  return {
      {"format", "qatwb.sample"},
      {"v", 1},
      {"qatwb_version", kToolVersion},
      {"seed", options.seed},
      {"max_documents", options.max_documents},
      {"max_tokens", options.max_tokens},
      {"token_estimate", "ceil(utf8_bytes/4)"},
      {"heldout_fraction", options.heldout_fraction},
      {"dedupe", options.dedupe},
      {"txt_mode", options.txt_mode == TxtMode::File ? "file" : "paragraph"},
      {"on_bad_line", options.stop_on_bad_line ? "stop" : "skip"},
      {"inputs", inputs},
      {"sources", sources},
      {"documents_read", result.documents_read},
      {"duplicates_dropped", result.duplicates},
      {"bad_lines_skipped", result.bad_lines},
      {"empty_skipped", result.empty},
      {"splits", {{"train", split_json(result.train)}, {"heldout", split_json(result.heldout)}}}};
}

}  // namespace

int64_t approx_token_count(uint64_t utf8_bytes) { return int64_t((utf8_bytes + 3) / 4); }

SampleResult sample_documents(const SampleOptions& options) {
  check_sample_options(options);
  check_manifest_format((fs::path(options.out_dir) / "manifest.json").string(), "qatwb.sample");
  uint64_t total_bytes = 0;
  const auto source_files = list_sample_files(options, total_bytes);

  SampleResult result;
  std::vector<Candidate> chosen = draw_sample(options, source_files, total_bytes, result);
  const std::vector<char> is_heldout = choose_heldout(chosen, options.heldout_fraction);
  std::vector<const Candidate*> train, heldout;
  for (size_t i = 0; i < chosen.size(); ++i)
    (is_heldout[i] ? heldout : train).push_back(&chosen[i]);
  if (train.empty()) throw Error("sample: empty dataset: no document left for training");

  const std::string out_dir = absolute_path(options.out_dir);
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) throw Error(at_location(out_dir, 0, "cannot create folder: " + ec.message()));
  const std::string manifest_path = (fs::path(out_dir) / "manifest.json").string();
  // The set is invalid from here until the new manifest lands.
  invalidate_manifest(manifest_path, "qatwb.sample");
  result.train.path = (fs::path(out_dir) / "train.jsonl").string();
  result.heldout.path = (fs::path(out_dir) / "heldout.jsonl").string();
  write_split(train, result.train);
  write_split(heldout, result.heldout);
  sync_directory(out_dir);
  write_file_atomically(manifest_path, sample_manifest(options, result).dump(2) + "\n");
  result.manifest_path = manifest_path;
  return result;
}

}  // namespace qatwb::data
