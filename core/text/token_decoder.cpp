#include "core/text/token_decoder.h"

#include <nlohmann/json.hpp>

#include "core/text/byte_level.h"
#include "core/text/normalizer.h"
#include "core/text/utf8.h"
#include "core/util/error.h"

namespace qatwb::text {

using nlohmann::json;

namespace {

// "<0xNN>" -> NN, else -1.
int byte_fallback_value(const std::string& token) {
  if (token.size() != 6 || token.compare(0, 3, "<0x") != 0 || token[5] != '>') return -1;
  auto hex = [](char c) {
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                  : -1;
  };
  int hi = hex(token[3]), lo = hex(token[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

}  // namespace

void TokenDecoder::add_steps(const json& j, const std::string& where, const std::string& field,
                             std::vector<Step>& steps) {
  if (j.is_null()) return;
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string()) {
    throw Error(where + ": " + field + ": expected an object with a \"type\"");
  }
  std::string type = j["type"].get<std::string>();
  if (type == "Sequence") {
    const json& list = j.value("decoders", json::array());
    for (size_t i = 0; i < list.size(); ++i) {
      add_steps(list[i], where, field + ".decoders[" + std::to_string(i) + "]", steps);
    }
  } else if (type == "ByteLevel") {
    steps.push_back(Step(Step::Kind::kByteLevel));
  } else if (type == "Replace") {
    Step step(Step::Kind::kReplace);
    step.pattern = std::make_shared<Regex>(
        pattern_from_json(j.value("pattern", json()), where, field + ".pattern"));
    step.content = j.value("content", std::string());
    steps.push_back(std::move(step));
  } else if (type == "ByteFallback") {
    steps.push_back(Step(Step::Kind::kByteFallback));
  } else if (type == "Fuse") {
    steps.push_back(Step(Step::Kind::kFuse));
  } else if (type == "Strip") {
    Step step(Step::Kind::kStrip);
    step.content = j.value("content", std::string(" "));
    step.start = j.value("start", size_t{0});
    step.stop = j.value("stop", size_t{0});
    steps.push_back(std::move(step));
  } else if (type == "Metaspace") {
    Step step(Step::Kind::kMetaspace);
    step.content = j.value("replacement", std::string("\xE2\x96\x81"));
    step.add_prefix_space =
        j.value("add_prefix_space", j.value("prepend_scheme", std::string("always")) != "never");
    steps.push_back(std::move(step));
  } else {
    throw Error(where + ": " + field + ".type: decoder \"" + type + "\" is not supported");
  }
}

TokenDecoder TokenDecoder::from_json(const json& j, const std::string& where,
                                     const std::string& field) {
  TokenDecoder d;
  add_steps(j, where, field, d.steps_);
  return d;
}

void TokenDecoder::apply(const Step& step, std::vector<std::string>& tokens,
                         const IsAdded& is_added) {
  std::vector<std::string> out;
  switch (step.kind) {
    case Step::Kind::kByteLevel: {
      std::string bytes, raw;
      auto flush = [&] {
        if (!bytes.empty()) out.push_back(replace_invalid_utf8(bytes));
        bytes.clear();
      };
      for (std::string& t : tokens) {
        if (is_added(t) || !byte_level_to_bytes(t, raw)) {
          flush();
          out.push_back(std::move(t));
        } else {
          bytes += raw;
        }
      }
      flush();
      break;
    }
    case Step::Kind::kReplace:
      for (std::string& t : tokens) out.push_back(replace_all(*step.pattern, t, step.content));
      break;
    case Step::Kind::kByteFallback: {
      std::string bytes;
      for (std::string& t : tokens) {
        int b = byte_fallback_value(t);
        if (b >= 0) {
          bytes += static_cast<char>(b);
          continue;
        }
        if (!bytes.empty()) out.push_back(replace_invalid_utf8(bytes));
        bytes.clear();
        out.push_back(std::move(t));
      }
      if (!bytes.empty()) out.push_back(replace_invalid_utf8(bytes));
      break;
    }
    case Step::Kind::kFuse: {
      std::string all;
      for (const std::string& t : tokens) all += t;
      out.push_back(std::move(all));
      break;
    }
    case Step::Kind::kStrip:
      for (std::string& t : tokens) {
        size_t n = step.content.size();
        size_t begin = 0, end = t.size();
        for (size_t i = 0; i < step.start && n > 0 && t.compare(begin, n, step.content) == 0; ++i) {
          begin += n;
        }
        for (size_t i = 0;
             i < step.stop && n > 0 && end >= begin + n && t.compare(end - n, n, step.content) == 0;
             ++i) {
          end -= n;
        }
        out.push_back(t.substr(begin, end - begin));
      }
      break;
    case Step::Kind::kMetaspace:
      for (size_t i = 0; i < tokens.size(); ++i) {
        std::string s;
        for (size_t p = 0; p < tokens[i].size();) {
          if (tokens[i].compare(p, step.content.size(), step.content) == 0 &&
              !step.content.empty()) {
            s += ' ';
            p += step.content.size();
          } else {
            s += tokens[i][p++];
          }
        }
        if (step.add_prefix_space && i == 0 && !s.empty() && s[0] == ' ') s.erase(0, 1);
        out.push_back(std::move(s));
      }
      break;
  }
  tokens.swap(out);
}

std::string TokenDecoder::decode(std::vector<std::string> tokens, const IsAdded& is_added) const {
  if (steps_.empty()) {
    std::string joined;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i) joined += ' ';
      joined += tokens[i];
    }
    return joined;
  }
  for (const Step& step : steps_) apply(step, tokens, is_added);
  std::string text;
  for (const std::string& t : tokens) text += t;
  return text;
}

}  // namespace qatwb::text
