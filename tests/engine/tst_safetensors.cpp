#include <QTemporaryDir>
#include <QtTest>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/model/safetensors.h"
#include "core/util/error.h"
#include "tests/common/error_of.h"

using qatwb::model::NamedTensors;
using qatwb::model::SafetensorsFile;
using qatwb::model::SafetensorsReader;

namespace {

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A file built byte by byte: 8-byte little-endian length, header text, data.
std::string raw_file(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}

using qatwb::test::error_of;

std::string f32_bytes(std::initializer_list<float> values) {
  std::string out;
  for (float v : values) {
    char b[4];
    std::memcpy(b, &v, 4);  // the test machine is little-endian like the format
    out.append(b, 4);
  }
  return out;
}

bool bit_equal(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  const auto ac = a.contiguous(), bc = b.contiguous();
  return std::memcmp(ac.data_ptr(), bc.data_ptr(), static_cast<size_t>(ac.nbytes())) == 0;
}

}  // namespace

class TestSafetensors : public QObject {
  Q_OBJECT

 private:
  QTemporaryDir dir_;
  std::string path(const char* name) { return (dir_.path() + "/" + name).toStdString(); }

  // Writes `header` + `data`, expects an Error that names the file and contains `needle`.
  void expect_bad(const char* file, const std::string& header, const std::string& data,
                  const std::string& needle) {
    const std::string p = path(file);
    write_bytes(p, raw_file(header, data));
    const std::string msg = error_of([&] { SafetensorsFile::open(p); });
    QVERIFY2(!msg.empty(), header.c_str());
    QVERIFY2(msg.find(p) != std::string::npos, msg.c_str());
    QVERIFY2(msg.find(needle) != std::string::npos, msg.c_str());
  }

 private Q_SLOTS:
  void initTestCase() { QVERIFY(dir_.isValid()); }

  void round_trip_is_bit_exact() {
    torch::manual_seed(1);
    NamedTensors tensors = {
        {"f32", torch::randn({3, 5})},
        {"bf16", torch::randn({7}).to(torch::kBFloat16)},
        {"f16", torch::randn({2, 2, 3}).to(torch::kFloat16)},
        {"f64", torch::randn({4}, torch::kFloat64)},
        {"i8", torch::randint(-128, 127, {9}, torch::kInt8)},
        {"u8", torch::randint(0, 255, {5}, torch::kUInt8)},
        {"i32", torch::randint(-1000, 1000, {6}, torch::kInt32)},
        {"i64", torch::randint(-1000, 1000, {2, 3}, torch::kInt64)},
        {"scalar", torch::tensor(3.5f).reshape({})},
        {"empty", torch::zeros({0, 4})},
        {"strided", torch::randn({4, 6}).t()},  // non-contiguous input
    };
    const std::string p = path("rt.safetensors");
    qatwb::model::save_safetensors(p, tensors);
    auto f = SafetensorsFile::open(p);
    QCOMPARE(f->entries().size(), tensors.size());
    for (size_t i = 0; i < tensors.size(); ++i) {
      const auto& [name, t] = tensors[i];
      QCOMPARE(f->entries()[i].name, name);  // data order = given order
      const auto loaded = f->tensor(name);
      QVERIFY2(bit_equal(loaded, t), name.c_str());
    }
    QCOMPARE(f->entries()[1].dtype, std::string("BF16"));
    QCOMPARE(f->entries()[2].dtype, std::string("F16"));
    // No temporary file is left behind.
    int files = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir_.path().toStdString()))
      if (e.path().filename().string().find("rt.safetensors") != std::string::npos) ++files;
    QCOMPARE(files, 1);
  }

  void float_dtype_conversion() {
    const auto t = torch::randn({8});
    const std::string p = path("conv.safetensors");
    qatwb::model::save_safetensors(p, {{"w", t}, {"ids", torch::arange(4)}}, {}, torch::kBFloat16);
    auto f = SafetensorsFile::open(p);
    QCOMPARE(f->find("w")->dtype, std::string("BF16"));
    QCOMPARE(f->find("ids")->dtype, std::string("I64"));  // integers are never converted
    QVERIFY(bit_equal(f->tensor("w"), t.to(torch::kBFloat16)));
  }

  void metadata_round_trip_and_padding() {
    const std::string p = path("meta.safetensors");
    const std::map<std::string, std::string> meta = {{"format", "pt"}, {"note", "x\"y\n"}};
    for (int extra = 0; extra < 9; ++extra) {
      // Names of varying length exercise every padding remainder.
      const std::string name = "t" + std::string(static_cast<size_t>(extra), 'a');
      qatwb::model::save_safetensors(p, {{name, torch::ones({3})}}, meta);
      const std::string bytes = read_bytes(p);
      uint64_t n = 0;
      for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(bytes[i]);
      QCOMPARE(n % 8, uint64_t(0));
      const std::string header = bytes.substr(8, n);
      const auto close = header.find_last_of('}');
      for (size_t i = close + 1; i < header.size(); ++i) QCOMPARE(header[i], ' ');
      QCOMPARE(bytes.size(), 8 + n + 12);
      auto f = SafetensorsFile::open(p);
      QVERIFY(f->metadata() == meta);
    }
  }

  void hand_written_file_loads() {
    // Odd header length: the F32 data is misaligned in memory and must be copied correctly.
    const std::string header =
        R"({"b":{"dtype":"I8","shape":[3],"data_offsets":[8,11]},)"
        R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"__metadata__":{"k":"v"}})";
    std::string data = f32_bytes({1.0f, -2.5f});
    data += std::string("\x01\xff\x7f", 3);
    for (const std::string& h : {header, header + "   "}) {
      const std::string p = path("hand.safetensors");
      write_bytes(p, raw_file(h, data));
      auto f = SafetensorsFile::open(p);
      QCOMPARE(f->entries()[0].name, std::string("a"));
      const auto a = f->tensor("a");
      QCOMPARE(a.scalar_type(), torch::kFloat32);
      QCOMPARE(a[0].item<float>(), 1.0f);
      QCOMPARE(a[1].item<float>(), -2.5f);
      const auto b = f->tensor("b");
      QCOMPARE(b.scalar_type(), torch::kInt8);
      QCOMPARE(b[1].item<int>(), -1);
      QCOMPARE(b[2].item<int>(), 127);
      QCOMPARE(f->metadata().at("k"), std::string("v"));
    }
  }

  void mapped_tensor_outlives_file_object_and_writes_stay_private() {
    const std::string p = path("map.safetensors");
    qatwb::model::save_safetensors(p, {{"w", torch::arange(16, torch::kFloat32)}});
    const std::string before = read_bytes(p);
    torch::Tensor t;
    {
      auto f = SafetensorsFile::open(p);
      t = f->tensor("w");
    }
    QCOMPARE(t[5].item<float>(), 5.0f);
    t.add_(1);
    QCOMPARE(t[5].item<float>(), 6.0f);
    QVERIFY(read_bytes(p) == before);
  }

  void truncated_files_fail_with_file_name() {
    const std::string good = path("good.safetensors");
    qatwb::model::save_safetensors(
        good, {{"first", torch::randn({4, 4})}, {"second", torch::randn({8})}});
    const std::string bytes = read_bytes(good);
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(bytes[i]);
    const std::string p = path("cut.safetensors");
    const std::vector<size_t> cuts = {0,         3,     7,          8,          20,
                                      8 + n - 1, 8 + n, 8 + n + 10, 8 + n + 64, bytes.size() - 1};
    for (size_t cut : cuts) {
      write_bytes(p, bytes.substr(0, cut));
      const std::string msg = error_of([&] { SafetensorsFile::open(p)->tensor("second"); });
      QVERIFY2(!msg.empty(), std::to_string(cut).c_str());
      QVERIFY2(msg.find(p) != std::string::npos, msg.c_str());
      if (cut > 8 + n) QVERIFY2(msg.find("tensor '") != std::string::npos, msg.c_str());
    }
  }

  void corrupt_headers_fail() {
    const std::string d8 = f32_bytes({1, 2});
    expect_bad("c1.safetensors", "{\"a\": {\"dtype\": ", d8, "corrupt header JSON");
    expect_bad("c2.safetensors", "[1, 2]", "", "not a JSON object");
    expect_bad("c3.safetensors", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}})", d8,
               "tensor 'a'");
    expect_bad("c4.safetensors", R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", d8,
               "shape and dtype F32 need 12 bytes");
    expect_bad("c5.safetensors", R"({"a":{"dtype":"F8_X","shape":[2],"data_offsets":[0,8]}})", d8,
               "unsupported dtype 'F8_X'");
    expect_bad("c6.safetensors",
               R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
               R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
               d8, "overlap");
    expect_bad("c7.safetensors", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", d8,
               "gap");
    expect_bad("c8.safetensors", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", d8,
               "trailing");
    expect_bad("c9.safetensors", R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", d8,
               "tensor 'a'");
    expect_bad("c10.safetensors", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", d8,
               "tensor 'a'");
    expect_bad("c11.safetensors", R"({"a":{"dtype":"F32","shape":[2]}})", d8, "data_offsets");
    expect_bad("c12.safetensors", R"({"__metadata__":{"k":1}})", "", "__metadata__");
    expect_bad("c13.safetensors",
               R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", d8,
               "tensor 'a'");
    // Header length larger than the file.
    const std::string p = path("c14.safetensors");
    std::string bytes = raw_file("{}", "");
    bytes[0] = static_cast<char>(0xff);
    bytes[3] = static_cast<char>(0x7f);
    write_bytes(p, bytes);
    const std::string msg = error_of([&] { SafetensorsFile::open(p); });
    QVERIFY2(msg.find("header length") != std::string::npos, msg.c_str());
    // A missing file.
    QVERIFY(!error_of([&] { SafetensorsFile::open(path("nope.safetensors")); }).empty());
  }

  void writer_rejects_bad_input() {
    const std::string p = path("bad_write.safetensors");
    QVERIFY(error_of([&] {
              qatwb::model::save_safetensors(p, {{"a", torch::ones({1})}, {"a", torch::ones({1})}});
            }).find("duplicate") != std::string::npos);
    QVERIFY(!std::filesystem::exists(p));
    QVERIFY(error_of([&] {
              qatwb::model::save_safetensors(p, {{"c", torch::ones({1}, torch::kComplexFloat)}});
            }).find("tensor 'c'") != std::string::npos);
  }

  void sharded_round_trip() {
    torch::manual_seed(3);
    NamedTensors tensors;
    for (int i = 0; i < 7; ++i)
      tensors.emplace_back("layer." + std::to_string(i) + ".weight", torch::randn({16, 16}));
    tensors.emplace_back("big", torch::randn({40, 40}));  // larger than a shard on its own
    const std::string d = (dir_.path() + "/sharded").toStdString();
    const auto files = qatwb::model::save_safetensors_sharded(d, tensors, 2500, {{"k", "v"}});
    QVERIFY(files.size() > 3);
    QCOMPARE(files.back(), std::string("model.safetensors.index.json"));
    QCOMPARE(files.front(), std::string("model-00001-of-0000") + std::to_string(files.size() - 1) +
                                ".safetensors");
    const auto index = nlohmann::json::parse(read_bytes(d + "/model.safetensors.index.json"));
    QCOMPARE(index["metadata"]["total_size"].get<int64_t>(), int64_t(7 * 16 * 16 * 4 + 1600 * 4));
    const auto reader = SafetensorsReader::open(d);
    QCOMPARE(reader.files().size(), files.size() - 1);
    const auto names = reader.names();
    QCOMPARE(names.size(), tensors.size());
    for (size_t i = 0; i < tensors.size(); ++i) {
      QCOMPARE(names[i], tensors[i].first);
      QVERIFY(bit_equal(reader.tensor(tensors[i].first), tensors[i].second));
    }
    QCOMPARE(reader.metadata().at("k"), std::string("v"));
    // A shard listed in the index but missing: error names the file.
    std::filesystem::remove(d + "/" + files[1]);
    const std::string msg = error_of([&] { SafetensorsReader::open(d); });
    QVERIFY2(msg.find(files[1]) != std::string::npos, msg.c_str());
  }

  void single_shard_writes_plain_file() {
    const std::string d = (dir_.path() + "/single").toStdString();
    const auto files =
        qatwb::model::save_safetensors_sharded(d, {{"a", torch::ones({4})}}, 1 << 20);
    QCOMPARE(files.size(), size_t(1));
    QCOMPARE(files[0], std::string("model.safetensors"));
    QVERIFY(SafetensorsReader::open(d).contains("a"));
  }
};

QTEST_GUILESS_MAIN(TestSafetensors)
#include "tst_safetensors.moc"
