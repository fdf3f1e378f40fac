// Draws a reproducible sample of documents from local sources and splits it into train and
// held-out sets that share no document. Used by `qatwb sample` and directly by `qatwb run`.
//
// How documents are drawn: every document gets a key from (seed, source, file, position): with
// u uniform in (0,1), key = -ln(u) / weight (weighted sampling without replacement,
// Efraimidis-Spirakis; plain uniform shuffling when all weights are equal). The sample is the
// longest run of documents in ascending key order that stays within both budgets (documents,
// approximate tokens), found in one streaming pass. Both output files list their documents in
// key order, i.e. shuffled.
// Held-out: a second, independent hash per document puts it in held-out with probability
// `heldout_fraction` (at least one document each side when the sample has two or more). The
// assignment of a document never depends on the budgets, so with one seed a document that is
// held out in a small sample is never trained on in a larger one.
// Duplicates: documents whose text is byte-identical to an earlier one are dropped, so the same
// text can never appear in both splits.
// Token budget: approximate, ceil(UTF-8 bytes / 4) per document (about right for Llama BPE
// vocabularies on English text); documents are not cut.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/data/document_reader.h"
#include "core/util/version.h"

namespace qatwb::data {

inline constexpr const char* kToolVersion = kVersion;  // written into manifests

struct SampleSource {
  std::string path;  // file or folder
  std::string text_field = "text";
  double weight = 1.0;
};

struct SampleOptions {
  std::vector<SampleSource> sources;
  std::string out_dir;
  uint64_t seed = 0;
  int64_t max_documents = 0;  // 0: no limit
  int64_t max_tokens = 0;     // 0: no limit; approximate (bytes / 4)
  double heldout_fraction = 0.1;
  bool stop_on_bad_line = false;
  bool dedupe = true;
  TxtMode txt_mode = TxtMode::File;
  std::function<void(const std::string&)> warn;  // default: first 20 to stderr
  bool show_progress = false;                    // progress bar on stderr
};

struct SplitFile {
  std::string path;  // absolute
  int64_t documents = 0;
  uint64_t text_bytes = 0;  // UTF-8 bytes of the texts
  int64_t approx_tokens = 0;
  uint64_t file_bytes = 0;
  std::string sha256;  // of the written .jsonl
};

struct SampleResult {
  std::string manifest_path;
  std::vector<SourceFile> files;
  int64_t documents_read = 0;  // non-empty documents in all sources
  int64_t duplicates = 0;
  int64_t bad_lines = 0;
  int64_t empty = 0;
  SplitFile train, heldout;
};

// ceil(bytes / 4)
int64_t approx_token_count(uint64_t utf8_bytes);

// Reads, samples and writes out_dir/{train.jsonl, heldout.jsonl, manifest.json}. The set is
// replaced atomically: the old manifest is removed first, each file is renamed into place after
// fsync, and the new manifest (which lists every file's sha256) is written last. Throws
// qatwb::Error (file:line where it applies) on bad input, and when no document is left.
SampleResult sample_documents(const SampleOptions& options);

}  // namespace qatwb::data
