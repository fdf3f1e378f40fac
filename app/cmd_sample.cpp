// qatwb sample: draw a reproducible train / held-out document sample from local text files.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "app/command.h"
#include "core/data/sampler.h"

namespace {

struct SampleArgs {
  std::vector<std::string> inputs;
  std::string text_field = "text";
  uint64_t seed = 0;
  int64_t max_docs = 0;
  int64_t max_tokens = 0;
  double heldout = 0.1;
  std::string on_bad_line = "skip";
  std::string txt_mode = "file";
  bool no_dedupe = false;
  std::string out;
  bool json = false;
};

int run_sample(const SampleArgs& a) {
  qatwb::data::SampleOptions o;
  for (const auto& in : a.inputs) o.sources.push_back({in, a.text_field, 1.0});
  o.out_dir = a.out;
  o.seed = a.seed;
  o.max_documents = a.max_docs;
  o.max_tokens = a.max_tokens;
  o.heldout_fraction = a.heldout;
  o.stop_on_bad_line = a.on_bad_line == "stop";
  o.dedupe = !a.no_dedupe;
  o.txt_mode =
      a.txt_mode == "paragraph" ? qatwb::data::TxtMode::Paragraph : qatwb::data::TxtMode::File;
  o.show_progress = isatty(fileno(stderr)) == 1;
  qatwb::data::SampleResult r = qatwb::data::sample_documents(o);
  if (a.json) {
    nlohmann::json j = {{"manifest", r.manifest_path},
                        {"files_read", r.files.size()},
                        {"documents_read", r.documents_read},
                        {"duplicates_dropped", r.duplicates},
                        {"bad_lines_skipped", r.bad_lines},
                        {"train",
                         {{"path", r.train.path},
                          {"documents", r.train.documents},
                          {"approx_tokens", r.train.approx_tokens},
                          {"sha256", r.train.sha256}}},
                        {"heldout",
                         {{"path", r.heldout.path},
                          {"documents", r.heldout.documents},
                          {"approx_tokens", r.heldout.approx_tokens},
                          {"sha256", r.heldout.sha256}}}};
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::cout << "read " << r.documents_read << " documents from " << r.files.size() << " file(s)";
  if (r.duplicates) std::cout << ", dropped " << r.duplicates << " duplicate(s)";
  if (r.bad_lines) std::cout << ", skipped " << r.bad_lines << " bad line(s)";
  std::cout << "\ntrain:   " << r.train.documents << " documents, ~" << r.train.approx_tokens
            << " tokens -> " << r.train.path << "\nheldout: " << r.heldout.documents
            << " documents, ~" << r.heldout.approx_tokens << " tokens -> " << r.heldout.path
            << "\nmanifest: " << r.manifest_path << "\n";
  return 0;
}

const qatwb::cli::CommandRegistration kSample(
    "sample", "Draw a reproducible train/held-out document sample from .jsonl/.txt files",
    [](CLI::App& sub) -> std::function<int()> {
      auto a = std::make_shared<SampleArgs>();
      sub.add_option("--input", a->inputs,
                     "Input file or folder (.jsonl, .ndjson, .txt; optionally .gz/.zst); repeat "
                     "for several")
          ->required();
      sub.add_option("--text-field", a->text_field, "JSON field holding the text (jsonl)")
          ->capture_default_str();
      sub.add_option("--seed", a->seed, "Seed of the shuffle and of the held-out draw")
          ->capture_default_str();
      sub.add_option("--max-docs", a->max_docs, "At most this many documents (0: all)")
          ->check(CLI::NonNegativeNumber);
      sub.add_option("--max-tokens", a->max_tokens,
                     "At most about this many tokens, estimated as UTF-8 bytes / 4 (0: all)")
          ->check(CLI::NonNegativeNumber);
      sub.add_option("--heldout", a->heldout, "Fraction of documents held out for evaluation")
          ->check(CLI::Range(0.0, 0.99))
          ->capture_default_str();
      sub.add_option("--on-bad-line", a->on_bad_line,
                     "Invalid JSON / missing text field: skip with a warning, or stop")
          ->check(CLI::IsMember({"skip", "stop"}))
          ->capture_default_str();
      sub.add_option("--txt-mode", a->txt_mode,
                     ".txt files: one document per file, or per blank-line-separated paragraph")
          ->check(CLI::IsMember({"file", "paragraph"}))
          ->capture_default_str();
      sub.add_flag("--no-dedupe", a->no_dedupe, "Keep byte-identical duplicate documents");
      sub.add_option("--out", a->out, "Output folder (train.jsonl, heldout.jsonl, manifest.json)")
          ->required();
      sub.add_flag("--json", a->json, "Print the result as JSON");
      return [a]() { return run_sample(*a); };
    });

}  // namespace
