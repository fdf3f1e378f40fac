// Document readers (jsonl, .zst, .gz, txt, folders), bad input with file:line, and the sampler:
// deterministic by seed, disjoint train/held-out in the right proportion, budgets, manifest.
#include <zlib.h>
#include <zstd.h>

#include <QDir>
#include <QFile>
#include <QSet>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QtTest>
#include <nlohmann/json.hpp>
#include <set>

#include "core/data/compressed_file.h"
#include "core/data/document_reader.h"
#include "core/data/sampler.h"
#include "core/util/error.h"
#include "core/util/sha256.h"
#include "tests/common/error_of.h"
#include "tests/common/test_env.h"

using namespace qatwb::data;

namespace {

void write_bytes(const QString& path, const std::string& bytes) {
  QDir().mkpath(QFileInfo(path).absolutePath());
  QFile f(path);
  QVERIFY2(f.open(QIODevice::WriteOnly), qPrintable(path));
  f.write(bytes.data(), qint64(bytes.size()));
}

std::string read_bytes(const QString& path) {
  QFile f(path);
  if (!f.open(QIODevice::ReadOnly)) return {};
  QByteArray b = f.readAll();
  return std::string(b.constData(), size_t(b.size()));
}

std::string gzip(const std::string& in) {
  z_stream zs{};
  deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, uLong(in.size())) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = uInt(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = uInt(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

std::string zstd(const std::string& in) {
  std::string out(ZSTD_compressBound(in.size()), '\0');
  size_t n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 3);
  out.resize(n);
  return out;
}

std::string doc_text(int i) {
  std::string s = "Document " + std::to_string(i) + ":";
  for (int k = 0; k < 5 + (i * 7) % 40; ++k) s += " word" + std::to_string((i * 31 + k) % 97);
  return s;
}

std::string jsonl_of(int first, int count, const std::string& field = "text") {
  std::string s;
  for (int i = first; i < first + count; ++i)
    s += nlohmann::json{{field, doc_text(i)}, {"id", i}}.dump() + "\n";
  return s;
}

std::vector<std::string> read_all(const std::string& path, ReadOptions o = {}) {
  std::vector<std::string> texts;
  std::vector<SourceFile> files;
  if (!o.warn) o.warn = [](const std::string&) {};
  for (const auto& f : list_source_files(path))
    read_file_documents(
        f, o, [&](Document&& d) { texts.push_back(d.text); }, files);
  return texts;
}

std::vector<std::string> split_texts(const QString& jsonl) {
  std::vector<std::string> out;
  std::string all = read_bytes(jsonl);
  size_t pos = 0;
  while (pos < all.size()) {
    size_t nl = all.find('\n', pos);
    auto j = nlohmann::json::parse(all.substr(pos, nl - pos));
    out.push_back(j.at("text").get<std::string>());
    pos = nl + 1;
  }
  return out;
}

using qatwb::test::error_of;

}  // namespace

class TestSampling : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void jsonl_zst_gz_read_the_same() {
    QTemporaryDir dir;
    const std::string content = jsonl_of(0, 300);
    write_bytes(dir.filePath("a.jsonl"), content);
    write_bytes(dir.filePath("a.jsonl.gz"), gzip(content));
    // Two concatenated gzip members and two zstd frames must read as one stream.
    write_bytes(dir.filePath("two.jsonl.gz"), gzip(jsonl_of(0, 100)) + gzip(jsonl_of(100, 200)));
    write_bytes(dir.filePath("a.jsonl.zst"), zstd(content));
    write_bytes(dir.filePath("two.jsonl.zst"), zstd(jsonl_of(0, 150)) + zstd(jsonl_of(150, 150)));
    auto plain = read_all(dir.filePath("a.jsonl").toStdString());
    QCOMPARE(int(plain.size()), 300);
    QCOMPARE(plain[7], doc_text(7));
    for (const char* name : {"a.jsonl.gz", "two.jsonl.gz", "a.jsonl.zst", "two.jsonl.zst"})
      QVERIFY2(read_all(dir.filePath(name).toStdString()) == plain, name);
    // The manifest hash is over the raw (compressed) bytes.
    std::vector<SourceFile> files;
    read_file_documents(
        dir.filePath("a.jsonl.zst").toStdString(), {}, [](Document&&) {}, files);
    QCOMPARE(files[0].sha256, qatwb::sha256_file(dir.filePath("a.jsonl.zst").toStdString()));
    QCOMPARE(files[0].documents, int64_t(300));
  }

  void corrupt_compressed_files_fail_clearly() {
    QTemporaryDir dir;
    std::string z = zstd(jsonl_of(0, 200));
    write_bytes(dir.filePath("cut.jsonl.zst"), z.substr(0, z.size() / 2));
    std::string e = error_of([&] { read_all(dir.filePath("cut.jsonl.zst").toStdString()); });
    QVERIFY2(e.find("cut.jsonl.zst") != std::string::npos && e.find("zstd") != std::string::npos,
             e.c_str());
    std::string g = gzip(jsonl_of(0, 200));
    write_bytes(dir.filePath("cut.jsonl.gz"), g.substr(0, g.size() - 20));
    e = error_of([&] { read_all(dir.filePath("cut.jsonl.gz").toStdString()); });
    QVERIFY2(e.find("cut.jsonl.gz") != std::string::npos && e.find("gzip") != std::string::npos,
             e.c_str());
    write_bytes(dir.filePath("fake.jsonl.gz"), jsonl_of(0, 3));
    e = error_of([&] { read_all(dir.filePath("fake.jsonl.gz").toStdString()); });
    QVERIFY2(e.find("not a gzip file") != std::string::npos, e.c_str());
  }

  void txt_file_and_paragraph_modes() {
    QTemporaryDir dir;
    write_bytes(dir.filePath("t.txt"),
                "First para line one\r\nline two\n\n  \nSecond para\n\n\nThird");
    auto whole = read_all(dir.filePath("t.txt").toStdString());
    QCOMPARE(int(whole.size()), 1);
    QCOMPARE(whole[0], std::string("First para line one\nline two\n\n  \nSecond para\n\n\nThird"));
    ReadOptions o;
    o.txt_mode = TxtMode::Paragraph;
    auto paras = read_all(dir.filePath("t.txt").toStdString(), o);
    QCOMPARE(int(paras.size()), 3);
    QCOMPARE(paras[0], std::string("First para line one\nline two"));
    QCOMPARE(paras[1], std::string("Second para"));
    QCOMPARE(paras[2], std::string("Third"));
    write_bytes(dir.filePath("t2.txt.zst"), zstd("zstd text\n\nsecond"));
    QCOMPARE(int(read_all(dir.filePath("t2.txt.zst").toStdString(), o).size()), 2);
  }

  void folders_are_read_recursively_in_sorted_order() {
    QTemporaryDir dir;
    write_bytes(dir.filePath("corpus/b.jsonl"), jsonl_of(10, 2));
    write_bytes(dir.filePath("corpus/a.jsonl.gz"), gzip(jsonl_of(0, 2)));
    write_bytes(dir.filePath("corpus/sub/c.txt"), "a text file");
    write_bytes(dir.filePath("corpus/README.md"), "not data");
    write_bytes(dir.filePath("corpus/.hidden/x.jsonl"), jsonl_of(50, 1));
    auto files = list_source_files(dir.filePath("corpus").toStdString());
    QCOMPARE(int(files.size()), 3);
    QVERIFY(files[0].find("a.jsonl.gz") != std::string::npos);
    QVERIFY(files[2].find("sub/c.txt") != std::string::npos);
    auto texts = read_all(dir.filePath("corpus").toStdString());
    QCOMPARE(int(texts.size()), 5);
    QCOMPARE(texts[0], doc_text(0));
    QCOMPARE(texts[4], std::string("a text file"));
    std::string e =
        error_of([&] { list_source_files(dir.filePath("corpus/README.md").toStdString()); });
    QVERIFY2(e.find("unsupported file type") != std::string::npos, e.c_str());
    e = error_of([&] { list_source_files(dir.filePath("nope").toStdString()); });
    QVERIFY2(e.find("no such file") != std::string::npos, e.c_str());
  }

  void bad_lines_are_reported_with_file_and_line() {
    QTemporaryDir dir;
    const QString bad = dir.filePath("bad.jsonl");
    write_bytes(bad,
                "{\"text\": \"ok one\"}\n\n{\"text\": \"broken\n{\"body\": \"x\"}\n"
                "{\"text\": 42}\n[1,2]\n{\"text\": \"ok two\"}\n");
    std::vector<std::string> warnings;
    ReadOptions o;
    o.warn = [&](const std::string& w) { warnings.push_back(w); };
    auto texts = read_all(bad.toStdString(), o);
    QCOMPARE(int(texts.size()), 2);
    QCOMPARE(int(warnings.size()), 4);
    const std::string p = bad.toStdString();
    QVERIFY2(warnings[0].rfind(p + ":3: invalid JSON", 0) == 0, warnings[0].c_str());
    QVERIFY2(warnings[1].rfind(p + ":4: no field \"text\"", 0) == 0, warnings[1].c_str());
    QVERIFY2(warnings[2].rfind(p + ":5: field \"text\" is number", 0) == 0, warnings[2].c_str());
    QVERIFY2(warnings[3].rfind(p + ":6: expected a JSON object", 0) == 0, warnings[3].c_str());
    o.stop_on_bad_line = true;
    std::string e = error_of([&] { read_all(bad.toStdString(), o); });
    QVERIFY2(e.rfind(p + ":3: invalid JSON", 0) == 0, e.c_str());
    // Non-UTF-8 always stops, in both modes, naming the line.
    write_bytes(dir.filePath("latin1.jsonl"), "{\"text\": \"fine\"}\n{\"text\": \"caf\xe9\"}\n");
    o.stop_on_bad_line = false;
    e = error_of([&] { read_all(dir.filePath("latin1.jsonl").toStdString(), o); });
    QVERIFY2(e.find("latin1.jsonl:2: not valid UTF-8") != std::string::npos, e.c_str());
    write_bytes(dir.filePath("latin1.txt"), "line one\nline two\nbad \xc3\x28 here\n");
    e = error_of([&] { read_all(dir.filePath("latin1.txt").toStdString(), o); });
    QVERIFY2(e.find("latin1.txt:3: not valid UTF-8") != std::string::npos, e.c_str());
  }

  void sampling_is_deterministic_and_seed_dependent() {
    QTemporaryDir dir;
    write_bytes(dir.filePath("in/a.jsonl"), jsonl_of(0, 400));
    write_bytes(dir.filePath("in/b.jsonl.zst"), zstd(jsonl_of(400, 200)));
    auto run = [&](const QString& out, uint64_t seed) {
      SampleOptions o;
      o.sources = {{dir.filePath("in").toStdString()}};
      o.out_dir = dir.filePath(out).toStdString();
      o.seed = seed;
      return sample_documents(o);
    };
    run("s1", 7);
    run("s2", 7);
    run("s3", 8);
    for (const char* f : {"/train.jsonl", "/heldout.jsonl"}) {
      QVERIFY(!read_bytes(dir.filePath("s1") + f).empty());
      QCOMPARE(read_bytes(dir.filePath("s1") + f), read_bytes(dir.filePath("s2") + f));
      QVERIFY(read_bytes(dir.filePath("s1") + f) != read_bytes(dir.filePath("s3") + f));
    }
    QCOMPARE(read_bytes(dir.filePath("s1/manifest.json")),
             read_bytes(dir.filePath("s2/manifest.json")));
    // The output is shuffled, not in input order.
    auto train = split_texts(dir.filePath("s1/train.jsonl"));
    QVERIFY(train.size() > 100);
    int in_order = 0;
    for (size_t i = 1; i < train.size(); ++i) in_order += train[i - 1] < train[i];
    QVERIFY(in_order < int(train.size()) * 3 / 4);
    // No temporary files left behind.
    for (const QString& name : QDir(dir.filePath("s1")).entryList(QDir::Files))
      QVERIFY2(!name.contains(".tmp"), qPrintable(name));
  }

  void heldout_is_disjoint_and_follows_the_fraction() {
    QTemporaryDir dir;
    write_bytes(dir.filePath("a.jsonl"), jsonl_of(0, 1000));
    for (double f : {0.1, 0.3}) {
      SampleOptions o;
      o.sources = {{dir.filePath("a.jsonl").toStdString()}};
      o.out_dir = dir.filePath("out").toStdString();
      o.heldout_fraction = f;
      o.seed = 3;
      SampleResult r = sample_documents(o);
      auto train = split_texts(dir.filePath("out/train.jsonl"));
      auto held = split_texts(dir.filePath("out/heldout.jsonl"));
      QCOMPARE(int64_t(train.size()), r.train.documents);
      QCOMPARE(int64_t(held.size()), r.heldout.documents);
      QCOMPARE(int(train.size() + held.size()), 1000);
      const double expected = 1000 * f;  // binomial: sd < 15
      QVERIFY2(std::abs(double(held.size()) - expected) < 50,
               qPrintable(QString("held out %1 for fraction %2").arg(held.size()).arg(f)));
      QVERIFY(train.size() > held.size());  // not inverted
      std::set<std::string> t(train.begin(), train.end());
      std::set<std::string> all = t;
      for (const auto& h : held) {
        QVERIFY(!t.count(h));
        all.insert(h);
      }
      QCOMPARE(int(all.size()), 1000);
    }
  }

  void budgets_are_respected_and_heldout_is_stable_across_budgets() {
    QTemporaryDir dir;
    write_bytes(dir.filePath("a.jsonl"), jsonl_of(0, 1000));
    auto run = [&](int64_t docs, int64_t tokens, const QString& out) {
      SampleOptions o;
      o.sources = {{dir.filePath("a.jsonl").toStdString()}};
      o.out_dir = dir.filePath(out).toStdString();
      o.seed = 11;
      o.max_documents = docs;
      o.max_tokens = tokens;
      return sample_documents(o);
    };
    SampleResult small = run(50, 0, "small");
    QCOMPARE(small.train.documents + small.heldout.documents, int64_t(50));
    SampleResult big = run(400, 0, "big");
    QCOMPARE(big.train.documents + big.heldout.documents, int64_t(400));
    // The small sample is a prefix of the big one, and held-out never becomes train.
    auto small_train = split_texts(dir.filePath("small/train.jsonl"));
    auto small_held = split_texts(dir.filePath("small/heldout.jsonl"));
    auto big_train = split_texts(dir.filePath("big/train.jsonl"));
    auto big_held = split_texts(dir.filePath("big/heldout.jsonl"));
    std::set<std::string> bt(big_train.begin(), big_train.end());
    std::set<std::string> bh(big_held.begin(), big_held.end());
    for (const auto& s : small_train) QVERIFY(bt.count(s));
    for (const auto& s : small_held) QVERIFY(bh.count(s));
    QVERIFY(std::equal(small_train.begin(), small_train.end(), big_train.begin()));

    SampleResult tok = run(0, 5000, "tok");
    const int64_t total = tok.train.approx_tokens + tok.heldout.approx_tokens;
    QVERIFY2(total <= 5000 && total > 4800, qPrintable(QString::number(total)));
    int64_t counted = 0;
    for (const auto& s : split_texts(dir.filePath("tok/train.jsonl")))
      counted += approx_token_count(s.size());
    QCOMPARE(counted, tok.train.approx_tokens);
  }

  void weights_bias_the_draw_and_duplicates_are_dropped() {
    QTemporaryDir dir;
    write_bytes(dir.filePath("a.jsonl"), jsonl_of(0, 1000));
    write_bytes(dir.filePath("b.jsonl"), jsonl_of(1000, 1000));
    SampleOptions o;
    o.sources = {{dir.filePath("a.jsonl").toStdString(), "text", 3.0},
                 {dir.filePath("b.jsonl").toStdString(), "text", 1.0}};
    o.out_dir = dir.filePath("w").toStdString();
    o.max_documents = 400;
    o.heldout_fraction = 0.0;
    sample_documents(o);
    int from_a = 0;
    std::set<std::string> a_texts;
    for (int i = 0; i < 1000; ++i) a_texts.insert(doc_text(i));
    for (const auto& t : split_texts(dir.filePath("w/train.jsonl"))) from_a += a_texts.count(t);
    QVERIFY2(from_a > 260 && from_a < 340, qPrintable(QString::number(from_a)));  // ~300

    write_bytes(dir.filePath("dup.jsonl"), jsonl_of(0, 20) + jsonl_of(0, 20));
    o.sources = {{dir.filePath("dup.jsonl").toStdString()}};
    o.max_documents = 0;
    o.heldout_fraction = 0.2;
    SampleResult r = sample_documents(o);
    QCOMPARE(r.documents_read, int64_t(40));
    QCOMPARE(r.duplicates, int64_t(20));
    QCOMPARE(r.train.documents + r.heldout.documents, int64_t(20));
  }

  void manifest_records_sources_and_outputs() {
    QTemporaryDir dir;
    write_bytes(dir.filePath("in/a.jsonl.gz"), gzip(jsonl_of(0, 120)));
    write_bytes(dir.filePath("in/b.txt"), "plain text document");
    SampleOptions o;
    o.sources = {{dir.filePath("in").toStdString()}};
    o.out_dir = dir.filePath("out").toStdString();
    o.seed = 5;
    o.heldout_fraction = 0.25;
    SampleResult r = sample_documents(o);
    auto m = nlohmann::json::parse(read_bytes(dir.filePath("out/manifest.json")));
    QCOMPARE(m.at("seed").get<int>(), 5);
    QCOMPARE(m.at("heldout_fraction").get<double>(), 0.25);
    QCOMPARE(m.at("qatwb_version").get<std::string>(), std::string(kToolVersion));
    QCOMPARE(int(m.at("sources").size()), 2);
    for (const auto& s : m.at("sources")) {
      const std::string path = s.at("path").get<std::string>();
      QCOMPARE(s.at("sha256").get<std::string>(), qatwb::sha256_file(path));
      QCOMPARE(s.at("size").get<uint64_t>(),
               uint64_t(QFileInfo(QString::fromStdString(path)).size()));
    }
    for (const char* split : {"train", "heldout"}) {
      const auto& s = m.at("splits").at(split);
      const QString file = dir.filePath("out/" + QString::fromStdString(s.at("file")));
      QCOMPARE(s.at("sha256").get<std::string>(), qatwb::sha256_file(file.toStdString()));
      QCOMPARE(s.at("documents").get<int64_t>(), int64_t(split_texts(file).size()));
      QCOMPARE(s.at("bytes").get<int64_t>(), int64_t(QFileInfo(file).size()));
    }
    QCOMPARE(m.at("splits").at("train").at("documents").get<int64_t>() +
                 m.at("splits").at("heldout").at("documents").get<int64_t>(),
             int64_t(121));
  }

  // scripts/fixtures_to_jsonl.mjs turns the npm corpora into jsonl the sampler reads.
  void fixture_script_output_samples() {
    const QString node = QStandardPaths::findExecutable("node");
    if (node.isEmpty()) QSKIP("node is not installed");
    QTemporaryDir dir;
    auto r = qatwb::test::run_process(
        node, {qatwb::test::source_dir() + "/scripts/fixtures_to_jsonl.mjs", "--npm",
               qatwb::test::npm_dir(), "--out", dir.path()});
    QVERIFY2(r.exit_code == 0, r.err.constData());
    auto brown = split_texts(dir.filePath("brown.jsonl"));
    QCOMPARE(int(brown.size()), 500);
    QVERIFY2(brown[0].rfind("The Fulton County Grand Jury said Friday an investigation of "
                            "Atlanta's recent primary election produced \"no evidence\" that",
                            0) == 0,
             brown[0].substr(0, 200).c_str());
    for (const auto& t : brown) {
      QVERIFY(t.find("/at ") == std::string::npos && t.find("``") == std::string::npos);
      QVERIFY(t.find(" ,") == std::string::npos && t.find(" .") == std::string::npos);
    }
    auto nlp = split_texts(dir.filePath("nlp.jsonl"));
    QVERIFY(nlp.size() > 1000);
    for (const auto& t : nlp) QVERIFY(t.size() < 8000);
    SampleOptions o;
    o.sources = {{dir.path().toStdString()}};
    o.out_dir = dir.filePath("sample").toStdString();
    o.max_documents = 200;
    SampleResult s = sample_documents(o);
    QCOMPARE(s.train.documents + s.heldout.documents, int64_t(200));
    QCOMPARE(int(s.files.size()), 2);
  }

  // The CLI, as a real child process.
  void cli_samples_and_reports_bad_input() {
    QTemporaryDir dir;
    const QString good = dir.filePath("good.jsonl");
    write_bytes(good, jsonl_of(0, 50, "body"));
    auto r = qatwb::test::run_qatwb({"sample", "--input", good, "--text-field", "body", "--seed",
                                     "1", "--max-docs", "30", "--heldout", "0.2", "--out",
                                     dir.filePath("out"), "--json"});
    QVERIFY2(r.exit_code == 0, r.err.constData());
    auto j = nlohmann::json::parse(r.out.toStdString());
    QCOMPARE(j.at("train").at("documents").get<int>() + j.at("heldout").at("documents").get<int>(),
             30);
    QVERIFY(QFile::exists(dir.filePath("out/manifest.json")));

    const QString bad = dir.filePath("bad.jsonl");
    write_bytes(bad, jsonl_of(0, 2) + "{not json}\n" + jsonl_of(2, 2));
    r = qatwb::test::run_qatwb({"sample", "--input", bad, "--out", dir.filePath("o2")});
    QVERIFY2(r.exit_code == 0, r.err.constData());
    QVERIFY2(r.err.contains((bad + ":3: invalid JSON").toUtf8()), r.err.constData());
    r = qatwb::test::run_qatwb(
        {"sample", "--input", bad, "--on-bad-line", "stop", "--out", dir.filePath("o3")});
    QVERIFY(r.exit_code != 0);
    QVERIFY2(r.err.contains((bad + ":3: invalid JSON").toUtf8()), r.err.constData());
    QVERIFY(!QFile::exists(dir.filePath("o3/manifest.json")));

    const QString nofield = dir.filePath("nofield.jsonl");
    write_bytes(nofield, jsonl_of(0, 1) + "{\"content\": \"x\"}\n");
    r = qatwb::test::run_qatwb(
        {"sample", "--input", nofield, "--on-bad-line", "stop", "--out", dir.filePath("o4")});
    QVERIFY(r.exit_code != 0);
    QVERIFY2(r.err.contains((nofield + ":2: no field \"text\"").toUtf8()), r.err.constData());

    const QString latin = dir.filePath("latin1.jsonl");
    write_bytes(latin, jsonl_of(0, 3) + "{\"text\": \"na\xefve\"}\n");
    r = qatwb::test::run_qatwb({"sample", "--input", latin, "--out", dir.filePath("o5")});
    QVERIFY(r.exit_code != 0);
    QVERIFY2(r.err.contains((latin + ":4: not valid UTF-8").toUtf8()), r.err.constData());

    const QString empty = dir.filePath("empty.jsonl");
    write_bytes(empty, "\n{\"text\": \"   \"}\n{\"id\": 3}\n");
    r = qatwb::test::run_qatwb({"sample", "--input", empty, "--out", dir.filePath("o6")});
    QVERIFY(r.exit_code != 0);
    QVERIFY2(r.err.contains("empty dataset"), r.err.constData());
    QVERIFY(!QFile::exists(dir.filePath("o6/manifest.json")));

    r = qatwb::test::run_qatwb(
        {"sample", "--input", dir.filePath("missing.jsonl"), "--out", dir.filePath("o7")});
    QVERIFY(r.exit_code != 0);
    QVERIFY2(r.err.contains("missing.jsonl: no such file"), r.err.constData());
  }
};

QTEST_GUILESS_MAIN(TestSampling)
#include "tst_sampling.moc"
