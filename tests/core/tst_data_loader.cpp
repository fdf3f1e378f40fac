// Token loader: windows of seq_len+1 contiguous tokens, deterministic seeded order with epoch
// reshuffle, exact resume from a saved state, disjoint and covering ranks, sequential mode, and
// validation against the manifest (tokenizer sha256, shard size, shard sha256).
#include <QFile>
#include <QTemporaryDir>
#include <QtTest>
#include <set>

#include "core/data/atomic_file.h"
#include "core/data/token_loader.h"
#include "core/data/token_shards.h"
#include "core/util/error.h"
#include "tests/common/error_of.h"

using namespace qatwb::data;

namespace {

const std::string kTokSha(64, 'a');

// A split whose token i is i, so every window's position in the stream is visible.
void write_counting_split(const QString& dir, int64_t tokens, int64_t shard_tokens,
                          BosPolicy bos = BosPolicy::None, int64_t seq_len = 16) {
  TokenManifest m;
  m.tokenizer_path = "/x/tokenizer.json";
  m.tokenizer_sha256 = kTokSha;
  m.vocab_size = int64_t(1) << 30;
  m.bos_id = 1;
  m.eos_id = 2;
  m.bos = bos;
  m.eos = true;
  m.seq_len = seq_len;
  for (const char* name : {"train", "heldout"}) {
    ShardWriter w(dir.toStdString(), name, shard_tokens);
    std::vector<uint32_t> ids(static_cast<size_t>(tokens));
    for (int64_t i = 0; i < tokens; ++i) ids[size_t(i)] = uint32_t(i);
    // Append in uneven pieces so shard boundaries fall anywhere.
    size_t pos = 0, piece = 7;
    while (pos < ids.size()) {
      size_t take = std::min(piece, ids.size() - pos);
      w.append(ids.data() + pos, take);
      pos += take;
      piece = piece * 3 % 101 + 1;
    }
    SplitShards s;
    s.name = name;
    s.documents = 1;
    s.shards = w.finish();
    s.tokens = w.tokens();
    m.splits.push_back(s);
  }
  write_file_atomically((dir + "/manifest.json").toStdString(), token_manifest_json(m));
}

LoaderOptions opts(int64_t seq_len, int64_t batch, uint64_t seed = 0, int rank = 0, int world = 1) {
  LoaderOptions o;
  o.seq_len = seq_len;
  o.batch_size = batch;
  o.seed = seed;
  o.rank = rank;
  o.world_size = world;
  return o;
}

using qatwb::test::error_of;

}  // namespace

class TestDataLoader : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void windows_are_contiguous_and_epochs_cover_every_window() {
    QTemporaryDir dir;
    write_counting_split(dir.path(), 10007, 1000);
    TokenLoader loader(dir.path().toStdString(), opts(16, 4, 1), kTokSha);
    QCOMPARE(loader.num_tokens(), int64_t(10007));
    const int64_t W = (10007 - 17) / 16 + 1;
    QCOMPARE(loader.num_windows(), W);
    QCOMPARE(loader.windows_per_epoch(), W);
    std::vector<int64_t> epoch0, epoch1;
    while (int64_t(epoch0.size() + epoch1.size()) < 2 * W) {
      auto b = loader.next_batch();
      QCOMPARE(int(b.size()), 4 * 17);
      for (int r = 0; r < 4; ++r) {
        const int64_t* row = b.data() + r * 17;
        QCOMPARE(row[0] % 16, int64_t(0));
        for (int j = 1; j < 17; ++j) QCOMPARE(row[j], row[0] + j);
        (int64_t(epoch0.size()) < W ? epoch0 : epoch1).push_back(row[0] / 16);
      }
    }
    epoch1.resize(size_t(W));
    std::set<int64_t> s0(epoch0.begin(), epoch0.end()), s1(epoch1.begin(), epoch1.end());
    QCOMPARE(int64_t(s0.size()), W);
    QCOMPARE(*s0.rbegin(), W - 1);
    QCOMPARE(s0, s1);
    QVERIFY(epoch0 != epoch1);  // reshuffled each epoch
    std::vector<int64_t> in_order(epoch0);
    std::sort(in_order.begin(), in_order.end());
    QVERIFY(in_order != epoch0);  // actually shuffled
  }

  void order_is_deterministic_by_seed() {
    QTemporaryDir dir;
    write_counting_split(dir.path(), 5000, 700);
    TokenLoader a(dir.path().toStdString(), opts(32, 3, 9), kTokSha);
    TokenLoader b(dir.path().toStdString(), opts(32, 3, 9), kTokSha);
    TokenLoader c(dir.path().toStdString(), opts(32, 3, 10), kTokSha);
    bool differs = false;
    for (int i = 0; i < 200; ++i) {  // several epochs
      auto x = a.next_batch();
      QCOMPARE(x, b.next_batch());
      differs |= x != c.next_batch();
    }
    QVERIFY(differs);
  }

  void resume_from_saved_state_yields_the_same_batches() {
    QTemporaryDir dir;
    write_counting_split(dir.path(), 3000, 500);
    TokenLoader a(dir.path().toStdString(), opts(24, 5, 42, 1, 2), kTokSha);
    // 124 windows -> 62 per rank per epoch; 13 batches of 5 cross the first epoch end.
    for (int i = 0; i < 13; ++i) a.next_batch();
    const std::string saved = a.state().to_json();
    QCOMPARE(a.state().epoch, int64_t(1));
    std::vector<std::vector<int64_t>> expected;
    for (int i = 0; i < 20; ++i) expected.push_back(a.next_batch());

    TokenLoader b(dir.path().toStdString(), opts(24, 5, 42, 1, 2), kTokSha);
    b.restore(LoaderState::from_json(saved));
    QVERIFY(b.state() == LoaderState::from_json(saved));
    for (int i = 0; i < 20; ++i) QCOMPARE(b.next_batch(), expected[size_t(i)]);

    TokenLoader other_seed(dir.path().toStdString(), opts(24, 5, 43, 1, 2), kTokSha);
    std::string e = error_of([&] { other_seed.restore(LoaderState::from_json(saved)); });
    QVERIFY2(e.find("seed 42") != std::string::npos, e.c_str());
    e = error_of([&] { LoaderState::from_json("{\"epoch\": 1}"); });
    QVERIFY2(e.find("data loader state") != std::string::npos, e.c_str());
  }

  void ranks_are_disjoint_and_cover_the_epoch() {
    QTemporaryDir dir;
    write_counting_split(dir.path(), 4000, 900);
    const int world = 3;
    std::vector<std::set<int64_t>> seen(world);
    int64_t per_rank = 0, W = 0;
    for (int r = 0; r < world; ++r) {
      TokenLoader l(dir.path().toStdString(), opts(20, 1, 5, r, world), kTokSha);
      W = l.num_windows();
      per_rank = l.windows_per_epoch();
      QCOMPARE(per_rank, W / world);
      for (int64_t i = 0; i < per_rank; ++i) {
        auto b = l.next_batch();
        QVERIFY(seen[size_t(r)].insert(b[0] / 20).second);
      }
      QCOMPARE(l.state().epoch, int64_t(0));
    }
    std::set<int64_t> all;
    for (const auto& s : seen) {
      QCOMPARE(int64_t(s.size()), per_rank);
      all.insert(s.begin(), s.end());
    }
    QCOMPARE(int64_t(all.size()), per_rank * world);  // disjoint
    // Together they cover the permutation's first per_rank*world entries: all windows but the
    // W % world left over this epoch.
    QCOMPARE(W - int64_t(all.size()), W % world);
  }

  void sequential_mode_reads_windows_in_order_once() {
    QTemporaryDir dir;
    write_counting_split(dir.path(), 1000, 333);
    LoaderOptions o = opts(64, 4);
    o.order = WindowOrder::Sequential;
    o.split = "heldout";
    TokenLoader l(dir.path().toStdString(), o, kTokSha);
    const int64_t W = (1000 - 65) / 64 + 1;  // 15
    std::vector<int64_t> starts;
    for (;;) {
      auto b = l.next_batch();
      if (b.empty()) break;
      QCOMPARE(b.size() % 65, size_t(0));
      for (size_t r = 0; r < b.size() / 65; ++r) starts.push_back(b[r * 65]);
    }
    QCOMPARE(int64_t(starts.size()), W);
    for (int64_t k = 0; k < W; ++k) QCOMPARE(starts[size_t(k)], k * 64);
    std::vector<int64_t> view(10);
    l.read_tokens(330, 10, view.data());  // across a shard boundary
    for (int i = 0; i < 10; ++i) QCOMPARE(view[size_t(i)], int64_t(330 + i));
    // Two ranks interleave and together read every window.
    std::set<int64_t> both;
    for (int r = 0; r < 2; ++r) {
      o.rank = r;
      o.world_size = 2;
      TokenLoader lr(dir.path().toStdString(), o, kTokSha);
      for (auto b = lr.next_batch(); !b.empty(); b = lr.next_batch())
        for (size_t i = 0; i < b.size() / 65; ++i) QVERIFY(both.insert(b[i * 65] / 64).second);
    }
    QCOMPARE(int64_t(both.size()), W);
  }

  void window_bos_policy_uses_blocks_of_seq_len_plus_one() {
    QTemporaryDir dir;
    write_counting_split(dir.path(), 1700, 400, BosPolicy::Window, 16);
    TokenLoader l(dir.path().toStdString(), opts(16, 2), kTokSha);
    QCOMPARE(l.stride(), int64_t(17));
    QCOMPARE(l.num_windows(), int64_t(100));
    auto b = l.next_batch();
    QCOMPARE(b[0] % 17, int64_t(0));
    std::string e = error_of([&] { TokenLoader(dir.path().toStdString(), opts(32, 2), kTokSha); });
    QVERIFY2(e.find("bos = window") != std::string::npos, e.c_str());
  }

  void mismatches_with_the_manifest_are_clear_errors() {
    QTemporaryDir dir;
    write_counting_split(dir.path(), 2000, 800);
    const std::string other(64, 'b');
    std::string e = error_of([&] { TokenLoader(dir.path().toStdString(), opts(16, 1), other); });
    const std::string want = "shard " + dir.filePath("train-00000.bin").toStdString() +
                             " was tokenized with tokenizer sha256 " + kTokSha +
                             " (/x/tokenizer.json) but the run uses " + other;
    QVERIFY2(e.rfind(want, 0) == 0, e.c_str());

    e = error_of([&] {
      LoaderOptions o = opts(16, 1);
      o.split = "validation";
      TokenLoader(dir.path().toStdString(), o, kTokSha);
    });
    QVERIFY2(e.find("no split \"validation\" (has: train, heldout)") != std::string::npos ||
                 e.find("no split \"validation\" (has: heldout, train)") != std::string::npos,
             e.c_str());
    e = error_of([&] { TokenLoader(dir.path().toStdString(), opts(4000, 1), kTokSha); });
    QVERIFY2(e.find("need more data") != std::string::npos, e.c_str());

    // Flip one byte: the size still matches, only the sha256 check sees it.
    {
      QFile f(dir.filePath("train-00001.bin"));
      QVERIFY(f.open(QIODevice::ReadWrite));
      f.seek(10);
      f.write("\x7f", 1);
    }
    TokenLoader unchecked(dir.path().toStdString(), opts(16, 1), kTokSha);
    e = error_of([&] {
      LoaderOptions o = opts(16, 1);
      o.verify_sha256 = true;
      TokenLoader(dir.path().toStdString(), o, kTokSha);
    });
    QVERIFY2(e.find("train-00001.bin: sha256") != std::string::npos, e.c_str());
    // Truncate it: the size check catches it at open.
    QVERIFY(QFile::resize(dir.filePath("train-00001.bin"), 100));
    e = error_of([&] { TokenLoader(dir.path().toStdString(), opts(16, 1), kTokSha); });
    QVERIFY2(e.find("train-00001.bin: shard has 100 bytes but the manifest lists 800 tokens") !=
                 std::string::npos,
             e.c_str());
    QFile::remove(dir.filePath("train-00001.bin"));
    e = error_of([&] { TokenLoader(dir.path().toStdString(), opts(16, 1), kTokSha); });
    QVERIFY2(e.find("train-00001.bin: cannot open shard") != std::string::npos, e.c_str());
  }
};

QTEST_GUILESS_MAIN(TestDataLoader)
#include "tst_data_loader.moc"
