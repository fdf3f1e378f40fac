#include "core/text/pretokenizer.h"

#include <nlohmann/json.hpp>

#include "core/text/normalizer.h"
#include "core/util/error.h"

namespace qatwb::text {

using nlohmann::json;

namespace {

// The ByteLevel pre-tokenizer's own split (GPT-2), used when "use_regex" is true.
constexpr const char* kGpt2Pattern =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

// Isolated split: gaps and matches alternate, empty strings dropped (transformers.js's
// regexSplit).
void split_isolated(const Regex& regex, std::string_view piece,
                    std::vector<std::string_view>& out) {
  size_t prev = 0;
  regex.for_each_match(piece, [&](size_t begin, size_t end) {
    if (begin > prev) out.push_back(piece.substr(prev, begin - prev));
    if (end > begin) out.push_back(piece.substr(begin, end - begin));
    prev = end;
  });
  if (prev < piece.size()) out.push_back(piece.substr(prev));
}

}  // namespace

void PreTokenizer::add_steps(const json& j, const std::string& where, const std::string& field,
                             std::vector<Step>& steps) {
  if (j.is_null()) return;
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string()) {
    throw Error(where + ": " + field + ": expected an object with a \"type\"");
  }
  std::string type = j["type"].get<std::string>();
  if (!steps.empty() && steps.back().kind == Step::Kind::kByteLevel) {
    throw Error(where + ": " + field + ": pre-tokenizer \"" + type +
                "\" after ByteLevel is not supported");
  }
  if (type == "Sequence") {
    const json& list = j.value("pretokenizers", json::array());
    for (size_t i = 0; i < list.size(); ++i) {
      add_steps(list[i], where, field + ".pretokenizers[" + std::to_string(i) + "]", steps);
    }
  } else if (type == "Split") {
    Step step(Step::Kind::kSplit);
    step.regex = std::make_shared<Regex>(
        pattern_from_json(j.value("pattern", json()), where, field + ".pattern"));
    step.invert = j.value("invert", false);
    std::string behavior = j.value("behavior", std::string("Isolated"));
    // transformers.js implements Removed and treats every other behavior as Isolated.
    step.removed = behavior == "Removed";
    steps.push_back(std::move(step));
  } else if (type == "ByteLevel") {
    Step step(Step::Kind::kByteLevel);
    step.add_prefix_space = j.value("add_prefix_space", true);
    if (j.value("use_regex", true)) {
      step.regex = std::make_shared<Regex>(Regex::compile(kGpt2Pattern, where + ": " + field));
    }
    steps.push_back(std::move(step));
  } else if (type == "Metaspace") {
    Step step(Step::Kind::kMetaspace);
    step.replacement = j.value("replacement", std::string("\xE2\x96\x81"));
    std::string scheme = j.value("prepend_scheme", std::string("always"));
    step.add_prefix_space = j.value("add_prefix_space", scheme != "never");
    step.prepend_first_only = scheme == "first";
    steps.push_back(std::move(step));
  } else {
    throw Error(where + ": " + field + ".type: pre-tokenizer \"" + type +
                "\" is not supported (Sequence, Split, ByteLevel and Metaspace are)");
  }
}

PreTokenizer PreTokenizer::from_json(const json& j, const std::string& where,
                                     const std::string& field) {
  PreTokenizer p;
  add_steps(j, where, field, p.steps_);
  p.byte_level_ = !p.steps_.empty() && p.steps_.back().kind == Step::Kind::kByteLevel;
  return p;
}

void PreTokenizer::apply(const Step& step, std::string_view piece, size_t section_index,
                         std::vector<std::string_view>& out, std::deque<std::string>& arena) {
  switch (step.kind) {
    case Step::Kind::kSplit:
      if (step.invert) {
        step.regex->for_each_match(piece, [&](size_t begin, size_t end) {
          out.push_back(piece.substr(begin, end - begin));
        });
      } else if (step.removed) {
        size_t prev = 0;
        step.regex->for_each_match(piece, [&](size_t begin, size_t end) {
          if (begin > prev) out.push_back(piece.substr(prev, begin - prev));
          prev = end;
        });
        if (prev < piece.size()) out.push_back(piece.substr(prev));
      } else {
        split_isolated(*step.regex, piece, out);
      }
      return;
    case Step::Kind::kByteLevel: {
      std::string_view text = piece;
      if (step.add_prefix_space && (piece.empty() || piece[0] != ' ')) {
        arena.push_back(" " + std::string(piece));
        text = arena.back();
      }
      if (step.regex) {
        step.regex->for_each_match(text, [&](size_t begin, size_t end) {
          if (end > begin) out.push_back(text.substr(begin, end - begin));
        });
      } else {
        out.push_back(text);
      }
      return;
    }
    case Step::Kind::kMetaspace: {
      std::string s;
      s.reserve(piece.size() + 8);
      for (char c : piece) {
        if (c == ' ') {
          s += step.replacement;
        } else {
          s += c;
        }
      }
      bool starts = s.compare(0, step.replacement.size(), step.replacement) == 0;
      if (step.add_prefix_space && !starts && (!step.prepend_first_only || section_index == 0)) {
        s.insert(0, step.replacement);
      }
      arena.push_back(std::move(s));
      out.push_back(arena.back());
      return;
    }
  }
}

void PreTokenizer::split(std::string_view section, size_t section_index,
                         std::vector<std::string_view>& pieces,
                         std::deque<std::string>& arena) const {
  pieces.clear();
  pieces.push_back(section);
  thread_local std::vector<std::string_view> next;
  for (const Step& step : steps_) {
    next.clear();
    for (std::string_view piece : pieces) apply(step, piece, section_index, next, arena);
    pieces.swap(next);
  }
}

}  // namespace qatwb::text
