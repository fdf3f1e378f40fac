// ggml block formats (core/quant/ggml_blocks, ggml_reference): dequantization of hand-crafted
// blocks pinned to closed forms written out here; unpack -> pack is the identity on the bytes;
// and, against llama.cpp itself (libggml-base.so of the pinned npm prebuilt
// @node-llama-cpp/linux-x64, loaded with dlopen): qatwb's reference quantization of random
// tensors equals ggml's quantize_<type> (no importance matrix, what llama-quantize runs) byte for
// byte, and ggml's dequantize_row_<type> of any blocks equals qatwb's bit for bit.
#include <QtTest>

#include <cmath>
#include <cstring>
#include <random>

#include "core/quant/ggml_blocks.h"
#include "core/quant/ggml_reference.h"
#include "core/util/error.h"
#include "tests/engine/ggml_lib.h"

using namespace qatwb::quant;

namespace {

using SizeFn = size_t (*)(int);
using BlckFn = int64_t (*)(int);
using NameFn = const char* (*)(int);

const qatwb::test::GgmlLib& ggml() { return qatwb::test::ggml_lib(); }

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * 4) == 0;
}

std::vector<float> dequant(const GgmlBlocks& b) {
  std::vector<float> out(static_cast<size_t>(b.numel));
  dequantize_ggml_blocks(b, out.data());
  return out;
}

std::vector<float> ggml_dequant(GgmlQuant t, const std::string& bytes, int64_t numel) {
  return ggml().dequantize(t, bytes, numel);
}

// Weights like a trained Llama's: Gaussian with a few outliers and a zero block.
std::vector<float> random_weights(int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> n(0.f, 0.02f);
  std::vector<float> w(static_cast<size_t>(rows * cols));
  for (auto& v : w) v = n(gen);
  for (int k = 0; k < 40; ++k) w[gen() % w.size()] *= 12.f;
  for (int k = 0; k < 256; ++k) w[w.size() - 256 + k] = 0.f;         // an all-zero super-block
  for (int k = 0; k < 256; ++k) w[256 + k] = std::fabs(w[256 + k]);  // a one-signed one
  return w;
}

void put_half(std::string& bytes, size_t at, float v) {
  const uint16_t h = fp32_to_fp16(v);
  std::memcpy(bytes.data() + at, &h, 2);
}

const GgmlQuant kAll[] = {GgmlQuant::Q4_0, GgmlQuant::Q8_0,  GgmlQuant::Q2_K,
                          GgmlQuant::Q3_K, GgmlQuant::Q4_K,  GgmlQuant::Q5_K,
                          GgmlQuant::Q6_K, GgmlQuant::TQ1_0, GgmlQuant::TQ2_0};

}  // namespace

class TestGgmlBlocks : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  // fp16 conversion against torch's (an independent implementation), every half bit pattern
  // back and forth, and float inputs between them (ties included).
  void fp16_matches_torch() {
    auto all = torch::arange(65536, torch::kInt)
                   .to(torch::kShort)
                   .view(torch::kHalf)
                   .to(torch::kFloat)
                   .contiguous();
    const float* tf = all.data_ptr<float>();
    std::vector<float> xs;
    for (uint32_t h = 0; h < 65536; ++h) {
      if ((h & 0x7c00u) == 0x7c00u && (h & 0x3ffu)) continue;  // NaN payloads
      const float f = fp16_to_fp32(static_cast<uint16_t>(h));
      QVERIFY2(std::memcmp(&f, tf + h, 4) == 0, qPrintable(QString::number(h, 16)));
      QCOMPARE(fp32_to_fp16(f), static_cast<uint16_t>(h));
      xs.push_back(std::nextafter(f, 0.f));
    }
    std::mt19937 gen(7);
    std::uniform_real_distribution<float> e(-30.f, 17.f);
    for (int k = 0; k < 20000; ++k) xs.push_back((gen() & 1 ? -1.f : 1.f) * std::exp2(e(gen)));
    for (uint32_t h = 0; h < 0x7bffu; h += 97) {  // exact ties between two halves
      const float a = fp16_to_fp32(static_cast<uint16_t>(h)),
                  b = fp16_to_fp32(static_cast<uint16_t>(h + 1));
      xs.push_back(a + (b - a) / 2);
    }
    auto ref = torch::from_blob(xs.data(), {static_cast<int64_t>(xs.size())}, torch::kFloat)
                   .to(torch::kHalf)
                   .view(torch::kShort)
                   .contiguous();
    const int16_t* rp = ref.data_ptr<int16_t>();
    for (size_t i = 0; i < xs.size(); ++i)
      QVERIFY2(fp32_to_fp16(xs[i]) == static_cast<uint16_t>(rp[i]),
               qPrintable(QString::number(static_cast<double>(xs[i]), 'g', 9)));
  }

  void sizes_match_ggml() {
    auto size = ggml().fn<SizeFn>("ggml_type_size");
    auto blck = ggml().fn<BlckFn>("ggml_blck_size");
    auto name = ggml().fn<NameFn>("ggml_type_name");
    for (GgmlQuant t : kAll) {
      const auto& s = ggml_quant_spec(t);
      QCOMPARE(QString(name(static_cast<int>(s.ggml_id))).toLower(), QString(s.name));
      QCOMPARE(static_cast<int64_t>(size(static_cast<int>(s.ggml_id))), int64_t{s.block_bytes});
      QCOMPARE(blck(static_cast<int>(s.ggml_id)), int64_t{s.block});
    }
    QCOMPARE(ggml_bits_per_weight(GgmlQuant::Q2_K), 2.625);  // 84 bytes / 256
    QCOMPARE(ggml_bits_per_weight(GgmlQuant::Q4_K), 4.5);
    QCOMPARE(ggml_bits_per_weight(GgmlQuant::Q6_K), 6.5625);
    QCOMPARE(ggml_bits_per_weight(GgmlQuant::TQ1_0), 1.6875);
  }

  // Crafted blocks, each value written out from ggml-common.h's layout by hand.
  void dequantize_closed_forms_data() {
    QTest::addColumn<int>("type");
    for (GgmlQuant t : kAll) QTest::newRow(ggml_quant_spec(t).name) << static_cast<int>(t);
  }
  void dequantize_closed_forms() {
    QFETCH(int, type);
    const auto t = static_cast<GgmlQuant>(type);
    const auto& sp = ggml_quant_spec(t);
    std::string bytes(static_cast<size_t>(sp.block_bytes), '\0');
    auto set = [&](size_t from, size_t n, uint8_t v) { std::memset(bytes.data() + from, v, n); };
    std::vector<float> want(static_cast<size_t>(sp.block));
    switch (t) {
      case GgmlQuant::Q4_0:  // d = 0.5; byte j = (j) | (15 - j) << 4
        put_half(bytes, 0, 0.5f);
        for (int j = 0; j < 16; ++j) bytes[2 + j] = static_cast<char>(j | ((15 - j) << 4));
        for (int j = 0; j < 16; ++j) {
          want[j] = 0.5f * (j - 8);
          want[j + 16] = 0.5f * (7 - j);
        }
        break;
      case GgmlQuant::Q8_0:  // d = 0.25, q_j = j - 16
        put_half(bytes, 0, 0.25f);
        for (int j = 0; j < 32; ++j) bytes[2 + j] = static_cast<char>(j - 16);
        for (int j = 0; j < 32; ++j) want[j] = 0.25f * (j - 16);
        break;
      case GgmlQuant::Q2_K:  // scales 0x21 (s 1, m 2), qs 0xE4 (code k at bits 2k), d .5, dmin .25
        set(0, 16, 0x21);
        set(16, 64, 0xE4);
        put_half(bytes, 80, 0.5f);
        put_half(bytes, 82, 0.25f);
        for (int e = 0; e < 256; ++e) want[e] = 0.5f * ((e % 128) / 32) - 0.25f * 2;
        break;
      case GgmlQuant::Q3_K: {  // every 6-bit scale 33 (s = 1): low nibbles 1, top bits 2
        set(0, 16, 0xFF);      // hmask: high bit set for e % 32 < 16, clear (minus 4) above
        set(16, 16, 0x00);
        set(32, 64, 0xE4);
        set(96, 8, 0x11);
        set(104, 4, 0xAA);
        put_half(bytes, 108, 0.5f);
        for (int e = 0; e < 256; ++e) want[e] = 0.5f * ((e % 128) / 32 - (e % 32 >= 16 ? 4 : 0));
        break;
      }
      case GgmlQuant::Q4_K:
      case GgmlQuant::Q5_K: {  // s = 1, 1, 1, 1, 17, 17, 17, 17; m = 2 x4, 35 x4; d 1, dmin .5
        put_half(bytes, 0, 1.0f);
        put_half(bytes, 2, 0.5f);
        set(4, 4, 0x41);   // s_j | top bits of s_{j+4} (1) << 6
        set(8, 4, 0x82);   // m_j | top bits of m_{j+4} (2) << 6
        set(12, 4, 0x31);  // low nibbles of s_{j+4} (1) and m_{j+4} (3)
        const bool q5 = t == GgmlQuant::Q5_K;
        if (q5) {
          set(16, 16, 0x55);  // qh: +16 on the low-nibble sub-blocks for l < 16
          set(32, 16, 0x00);
        }
        set(q5 ? 48 : 16, 128, 0xA5);  // low nibble 5 (even sub-blocks), high 10 (odd)
        for (int e = 0; e < 256; ++e) {
          const int j = e / 32;
          const int s = j < 4 ? 1 : 17, m = j < 4 ? 2 : 35;
          int q = j % 2 == 0 ? 5 : 10;
          if (q5 && j % 2 == 0 && e % 32 < 16) q += 16;
          want[e] = 1.0f * s * q - 0.5f * m;
        }
        break;
      }
      case GgmlQuant::Q6_K: {  // ql 0x21, qh 0x1B: codes 17, 1, -14, -30 by 32s; s_j = j - 8
        set(0, 128, 0x21);
        set(128, 64, 0x1B);
        for (int j = 0; j < 16; ++j) bytes[192 + j] = static_cast<char>(j - 8);
        put_half(bytes, 208, 0.125f);
        const int codes[4] = {17, 1, -14, -30};
        for (int e = 0; e < 256; ++e) want[e] = 0.125f * (e / 16 - 8) * codes[(e % 128) / 32];
        break;
      }
      case GgmlQuant::TQ1_0: {  // trits (2,1,0,1,2) = 194 -> ceil(194*256/243) = 205;
        set(0, 48, 205);        // (1,2,0,1)*3 = 138 -> 146
        set(48, 4, 146);
        put_half(bytes, 52, 0.5f);
        const int five[5] = {1, 0, -1, 0, 1}, four[4] = {0, 1, -1, 0};
        for (int e = 0; e < 256; ++e)
          want[e] = 0.5f * (e < 160   ? five[e / 32]
                            : e < 240 ? five[(e - 160) / 16]
                                      : four[(e - 240) / 4]);
        break;
      }
      case GgmlQuant::TQ2_0: {  // 0x92: trits 2, 0, 1, 2 at bits 0, 2, 4, 6
        set(0, 64, 0x92);
        put_half(bytes, 64, 0.5f);
        const int codes[4] = {1, -1, 0, 1};
        for (int e = 0; e < 256; ++e) want[e] = 0.5f * codes[(e % 128) / 32];
        break;
      }
    }
    const GgmlBlocks b = unpack_ggml_blocks(t, bytes.data(), bytes.size(), sp.block, "crafted");
    const auto got = dequant(b);
    for (int e = 0; e < sp.block; ++e)
      QVERIFY2(got[e] == want[e],
               qPrintable(QString("element %1: %2, want %3").arg(e).arg(got[e]).arg(want[e])));
    QVERIFY(same_bits(ggml_dequant(t, bytes, sp.block), got));
    QCOMPARE(pack_ggml_blocks(b, "crafted"), bytes);
  }

  // Any valid block bytes: unpack then pack gives them back, and qatwb's dequantization equals
  // ggml's bit for bit (random bytes exercise every bit of the layout).
  void random_bytes_round_trip_data() { dequantize_closed_forms_data(); }
  void random_bytes_round_trip() {
    QFETCH(int, type);
    const auto t = static_cast<GgmlQuant>(type);
    const auto& sp = ggml_quant_spec(t);
    const int64_t blocks = 64, numel = blocks * sp.block;
    std::mt19937 gen(static_cast<uint32_t>(type) + 11);
    std::uniform_real_distribution<float> u(-0.05f, 0.05f);
    if (sp.qmax == 1) {  // ternary: not every byte is a valid code, go via codes
      GgmlBlocks b = make_ggml_blocks(t, numel, "random");
      for (auto& q : b.codes) q = static_cast<int8_t>(static_cast<int>(gen() % 3) - 1);
      for (auto& d : b.d) d = fp32_to_fp16(u(gen));
      const std::string bytes = pack_ggml_blocks(b, "random");
      const auto back = unpack_ggml_blocks(t, bytes.data(), bytes.size(), numel, "random");
      QVERIFY(back.codes == b.codes && back.d == b.d);
      QVERIFY(same_bits(ggml_dequant(t, bytes, numel), dequant(b)));
      return;
    }
    std::string bytes(static_cast<size_t>(blocks * sp.block_bytes), '\0');
    for (auto& c : bytes) c = static_cast<char>(gen());
    // Finite fp16 scales at their offsets.
    const std::vector<int> half_at = t == GgmlQuant::Q2_K    ? std::vector<int>{80, 82}
                                     : t == GgmlQuant::Q3_K  ? std::vector<int>{108}
                                     : t == GgmlQuant::Q6_K  ? std::vector<int>{208}
                                     : t == GgmlQuant::TQ2_0 ? std::vector<int>{64}
                                     : t == GgmlQuant::Q4_K || t == GgmlQuant::Q5_K
                                         ? std::vector<int>{0, 2}
                                         : std::vector<int>{0};
    for (int64_t i = 0; i < blocks; ++i)
      for (int at : half_at) put_half(bytes, static_cast<size_t>(i * sp.block_bytes + at), u(gen));
    const GgmlBlocks b = unpack_ggml_blocks(t, bytes.data(), bytes.size(), numel, "random");
    QCOMPARE(pack_ggml_blocks(b, "random"), bytes);
    QVERIFY(same_bits(ggml_dequant(t, bytes, numel), dequant(b)));
  }

  // llama-quantize's reference quantization (no imatrix) of random weights, byte for byte.
  void reference_quantizer_equals_llama_cpp_data() { dequantize_closed_forms_data(); }
  void reference_quantizer_equals_llama_cpp() {
    QFETCH(int, type);
    const auto t = static_cast<GgmlQuant>(type);
    const auto& sp = ggml_quant_spec(t);
    const int64_t rows = 24, cols = 1024;
    for (uint32_t seed : {1u, 2u, 3u}) {
      const auto w = random_weights(rows, cols, seed + 100 * static_cast<uint32_t>(type));
      const std::string want = ggml().quantize(t, w.data(), rows, cols);
      const GgmlBlocks b = ggml_reference_quantize(t, w.data(), rows * cols, "w");
      const std::string got = pack_ggml_blocks(b, "w");
      if (got != want) {
        size_t k = 0;
        while (got[k] == want[k]) ++k;
        QFAIL(qPrintable(QString("%1 seed %2: first differing byte %3 (block %4, offset %5)")
                             .arg(sp.name)
                             .arg(seed)
                             .arg(k)
                             .arg(k / sp.block_bytes)
                             .arg(k % sp.block_bytes)));
      }
      // The reconstruction is close to w: within one step of the block's grid.
      const auto y = dequant(b);
      double err = 0, ref = 0;
      for (size_t k = 0; k < w.size(); ++k)
        err += (y[k] - w[k]) * (y[k] - w[k]), ref += w[k] * w[k];
      QVERIFY2(err < ref, qPrintable(QString::number(err / ref)));
    }
  }

  void errors_name_the_tensor() {
    bool threw = false;
    try {
      make_ggml_blocks(GgmlQuant::Q4_K, 300, "model.layers.0.mlp.up_proj");
    } catch (const qatwb::Error& e) {
      threw = QString(e.what()).contains("model.layers.0.mlp.up_proj") &&
              QString(e.what()).contains("256");
    }
    QVERIFY(threw);
    GgmlBlocks b = make_ggml_blocks(GgmlQuant::Q2_K, 256, "w");
    b.codes[5] = 4;
    QVERIFY_THROWS_EXCEPTION(qatwb::Error, pack_ggml_blocks(b, "w"));
    b.codes[5] = 0;
    b.mins[3] = 16;
    QVERIFY_THROWS_EXCEPTION(qatwb::Error, pack_ggml_blocks(b, "w"));
    QVERIFY_THROWS_EXCEPTION(qatwb::Error, unpack_ggml_blocks(GgmlQuant::Q2_K, "abc", 3, 256, "w"));
  }
};

QTEST_APPLESS_MAIN(TestGgmlBlocks)
#include "tst_ggml_blocks.moc"
