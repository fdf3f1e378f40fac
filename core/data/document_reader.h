// Reads text documents from local files: .jsonl (one JSON object a line, text in a configurable
// field), .txt (one document per file, or one per blank-line-separated paragraph), each
// optionally compressed (.gz, .zst), and folders of those (recursively, in sorted path order).
// Every problem is reported as path:line. A bad JSON line, a missing or non-string text field
// is skipped with a warning or stops the read, per ReadOptions::stop_on_bad_line; text that is
// not valid UTF-8 always stops (an encoding problem is never local to one line).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace qatwb::data {

enum class TxtMode { File, Paragraph };

struct ReadOptions {
  std::string text_field = "text";  // jsonl
  TxtMode txt_mode = TxtMode::File;
  bool stop_on_bad_line = false;
  // Receives each warning ("path:line: ..."); default prints the first 20 to stderr.
  std::function<void(const std::string&)> warn;
  // Called every few thousand lines with the raw bytes of the current file read so far.
  std::function<void(uint64_t)> progress;
};

// One input file, as the manifest records it.
struct SourceFile {
  std::string path;
  uint64_t size = 0;
  std::string sha256;     // of the raw (possibly compressed) bytes
  int64_t documents = 0;  // non-empty documents read
  int64_t bad_lines = 0;  // skipped with a warning
  int64_t empty = 0;      // empty or whitespace-only texts (skipped silently)
};

struct Document {
  std::string text;
  size_t file_index = 0;  // into the SourceFile list
  int64_t index = 0;      // 0-based document number within its file
  int64_t line = 0;       // 1-based first line
};

// The supported files under `path` (the file itself, or a folder's files in sorted order).
// Throws qatwb::Error when `path` does not exist or is a file of an unsupported type.
std::vector<std::string> list_source_files(const std::string& path);

// True for names this reader understands (.jsonl, .ndjson, .txt, each optionally .gz/.zst).
bool is_supported_source(const std::string& path);

// Reads one file, calling `sink` for every non-empty document; appends its SourceFile to
// `files` (sha256 and counts filled in when the file is done).
void read_file_documents(const std::string& path, const ReadOptions& options,
                         const std::function<void(Document&&)>& sink,
                         std::vector<SourceFile>& files);

}  // namespace qatwb::data
