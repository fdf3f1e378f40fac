#include "core/data/document_reader.h"

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "core/data/compressed_file.h"
#include "core/text/utf8.h"
#include "core/util/error.h"
#include "core/util/strings.h"

namespace qatwb::data {

namespace fs = std::filesystem;

namespace {

enum class Format { Jsonl, Txt, Unknown };

Format format_for_path(const std::string& path) {
  std::string base = strip_compression_suffix(path);
  std::transform(base.begin(), base.end(), base.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  if (ends_with(base, ".jsonl") || ends_with(base, ".ndjson")) return Format::Jsonl;
  if (ends_with(base, ".txt")) return Format::Txt;
  return Format::Unknown;
}

bool is_blank(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isspace(c); });
}

void default_warn(const std::string& message) {
  static int printed = 0;
  if (printed < 20) std::cerr << "warning: " << message << "\n";
  if (printed == 20) std::cerr << "warning: (further warnings not shown)\n";
  ++printed;
}

void check_utf8(const std::string& path, int64_t line, const std::string& text) {
  size_t bad = text::find_invalid_utf8(text);
  if (bad == text::kUtf8Valid) return;
  throw Error(at_location(path, int(line),
                          "not valid UTF-8 (invalid byte sequence at byte " + std::to_string(bad) +
                              " of the line); convert the file to UTF-8 (e.g. with iconv)"));
}

const char* json_type_name(const nlohmann::json& j) { return j.type_name(); }

void read_jsonl(CompressedFileReader& reader, const ReadOptions& options,
                const std::function<void(Document&&)>& sink, SourceFile& info, size_t file_index,
                const std::function<void(const std::string&)>& warn) {
  LineReader lines(reader);
  std::string line;
  while (lines.next(line)) {
    const int64_t n = lines.line_number();
    if (options.progress && n % 4096 == 0) options.progress(reader.raw_bytes_read());
    if (is_blank(line)) continue;
    check_utf8(info.path, n, line);
    auto bad_line = [&](const std::string& what) {
      std::string msg = at_location(info.path, int(n), what);
      if (options.stop_on_bad_line)
        throw Error(msg + " (use --on-bad-line skip to skip such lines)");
      ++info.bad_lines;
      warn(msg + "; line skipped");
    };
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::parse_error& e) {
      std::string why = e.what();
      auto p = why.find("parse error");
      bad_line("invalid JSON: " + (p == std::string::npos ? why : why.substr(p)));
      continue;
    }
    if (!j.is_object()) {
      bad_line(std::string("expected a JSON object, got ") + json_type_name(j));
      continue;
    }
    auto it = j.find(options.text_field);
    if (it == j.end()) {
      bad_line("no field \"" + options.text_field + "\"");
      continue;
    }
    if (!it->is_string()) {
      bad_line("field \"" + options.text_field + "\" is " + json_type_name(*it) +
               ", expected a string");
      continue;
    }
    std::string text = it->get<std::string>();
    if (is_blank(text)) {
      ++info.empty;
      continue;
    }
    Document d{std::move(text), file_index, info.documents, n};
    ++info.documents;
    sink(std::move(d));
  }
}

void read_txt(CompressedFileReader& reader, const ReadOptions& options,
              const std::function<void(Document&&)>& sink, SourceFile& info, size_t file_index) {
  LineReader lines(reader);
  std::string line, doc;
  int64_t doc_line = 0;
  auto flush = [&]() {
    if (doc_line == 0) return;
    if (is_blank(doc)) {
      ++info.empty;
    } else {
      Document d{std::move(doc), file_index, info.documents, doc_line};
      ++info.documents;
      sink(std::move(d));
    }
    doc.clear();
    doc_line = 0;
  };
  while (lines.next(line)) {
    const int64_t n = lines.line_number();
    if (options.progress && n % 4096 == 0) options.progress(reader.raw_bytes_read());
    check_utf8(info.path, n, line);
    if (options.txt_mode == TxtMode::Paragraph && is_blank(line)) {
      flush();
      continue;
    }
    if (doc_line == 0) {
      doc_line = n;
    } else {
      doc += '\n';
    }
    doc += line;
  }
  flush();
}

}  // namespace

bool is_supported_source(const std::string& path) {
  return format_for_path(path) != Format::Unknown;
}

std::vector<std::string> list_source_files(const std::string& path) {
  std::error_code ec;
  auto st = fs::status(path, ec);
  if (ec || !fs::exists(st)) throw Error(at_location(path, 0, "no such file or folder"));
  if (!fs::is_directory(st)) {
    if (!is_supported_source(path))
      throw Error(at_location(path, 0,
                              "unsupported file type; expected .jsonl, .ndjson or .txt, "
                              "optionally compressed as .gz or .zst"));
    return {path};
  }
  std::vector<std::string> out;
  fs::recursive_directory_iterator it(path, fs::directory_options::follow_directory_symlink, ec);
  if (ec) throw Error(at_location(path, 0, "cannot list folder: " + ec.message()));
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) throw Error(at_location(path, 0, "cannot list folder: " + ec.message()));
    const std::string name = it->path().filename().string();
    if (!name.empty() && name[0] == '.') {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file() && is_supported_source(it->path().string()))
      out.push_back(it->path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

void read_file_documents(const std::string& path, const ReadOptions& options,
                         const std::function<void(Document&&)>& sink,
                         std::vector<SourceFile>& files) {
  Format format = format_for_path(path);
  if (format == Format::Unknown) throw Error(at_location(path, 0, "unsupported file type"));
  auto warn = options.warn ? options.warn : std::function<void(const std::string&)>(default_warn);
  CompressedFileReader reader(path);
  SourceFile info;
  info.path = path;
  info.size = reader.file_size();
  const size_t file_index = files.size();
  if (format == Format::Jsonl)
    read_jsonl(reader, options, sink, info, file_index, warn);
  else
    read_txt(reader, options, sink, info, file_index);
  info.sha256 = reader.raw_sha256();
  files.push_back(std::move(info));
}

}  // namespace qatwb::data
