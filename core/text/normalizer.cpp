#include "core/text/normalizer.h"

#include <nlohmann/json.hpp>

#include "core/util/error.h"

namespace qatwb::text {

using nlohmann::json;

Regex pattern_from_json(const json& pattern, const std::string& where, const std::string& field) {
  if (pattern.is_object()) {
    auto s = pattern.find("String");
    if (s != pattern.end() && s->is_string())
      return Regex::literal(s->get<std::string>(), where + ": " + field);
    auto r = pattern.find("Regex");
    if (r != pattern.end() && r->is_string())
      return Regex::compile(r->get<std::string>(), where + ": " + field);
  }
  throw Error(where + ": " + field + ": expected {\"String\": ...} or {\"Regex\": ...}");
}

std::string replace_all(const Regex& pattern, std::string_view text, std::string_view content) {
  std::string out;
  out.reserve(text.size() + text.size() / 4);
  size_t copied = 0;
  pattern.for_each_match(text, [&](size_t begin, size_t end) {
    out.append(text.data() + copied, begin - copied);
    out.append(content);
    copied = end;
  });
  out.append(text.data() + copied, text.size() - copied);
  return out;
}

void Normalizer::add_steps(const json& j, const std::string& where, const std::string& field,
                           std::vector<Step>& steps) {
  if (j.is_null()) return;
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string()) {
    throw Error(where + ": " + field + ": expected an object with a \"type\"");
  }
  std::string type = j["type"].get<std::string>();
  if (type == "Sequence") {
    const json& list = j.value("normalizers", json::array());
    for (size_t i = 0; i < list.size(); ++i) {
      add_steps(list[i], where, field + ".normalizers[" + std::to_string(i) + "]", steps);
    }
  } else if (type == "Prepend") {
    if (!j.contains("prepend") || !j["prepend"].is_string()) {
      throw Error(where + ": " + field + ".prepend: expected a string");
    }
    steps.push_back({Step::Kind::kPrepend, j["prepend"].get<std::string>(), nullptr});
  } else if (type == "Replace") {
    if (!j.contains("content") || !j["content"].is_string()) {
      throw Error(where + ": " + field + ".content: expected a string");
    }
    auto regex = std::make_shared<Regex>(
        pattern_from_json(j.value("pattern", json()), where, field + ".pattern"));
    steps.push_back({Step::Kind::kReplace, j["content"].get<std::string>(), std::move(regex)});
  } else {
    throw Error(where + ": " + field + ".type: normalizer \"" + type +
                "\" is not supported (Sequence, Prepend and Replace are)");
  }
}

Normalizer Normalizer::from_json(const json& j, const std::string& where,
                                 const std::string& field) {
  Normalizer n;
  add_steps(j, where, field, n.steps_);
  return n;
}

std::string Normalizer::normalize(std::string_view text) const {
  std::string s(text);
  for (const Step& step : steps_) {
    if (step.kind == Step::Kind::kPrepend) {
      s.insert(0, step.text);  // transformers.js prepends unconditionally
    } else {
      s = replace_all(*step.pattern, s, step.text);
    }
  }
  return s;
}

}  // namespace qatwb::text
