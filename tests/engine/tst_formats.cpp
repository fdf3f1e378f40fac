// Pins the number formats on hand-computed values: E2M1 (ties, negatives, saturation), E4M3,
// E8M0, MXFP4 and NVFP4 two-level scaling, asymmetric zero points, ParetoQ SEQ and ternary
// levels, scale inits, layout errors, bit packing, and dequantize(quantize(w)) == fake-quant
// forward bit for bit for every format, granularity, bit width, scale mode and dtype.
#include <QtTest>

#include <cmath>

#include "core/quant/fp4.h"
#include "core/quant/int_kernels.h"
#include "core/quant/packing.h"
#include "core/quant/weight_quantizer.h"
#include "core/util/error.h"

using namespace qatwb::quant;

namespace {

torch::Tensor t1(std::vector<float> v) {
  return torch::from_blob(v.data(), {static_cast<int64_t>(v.size())}, torch::kFloat).clone();
}

torch::Tensor codes_of(std::vector<int> v, torch::Dtype d) {
  return torch::from_blob(v.data(), {static_cast<int64_t>(v.size())}, torch::kInt).to(d);
}

// Bitwise equality (distinguishes -0 from +0, unlike torch::equal).
bool same_bits(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  const auto as = a.scalar_type() == torch::kFloat ? torch::kInt : torch::kShort;
  return torch::equal(a.contiguous().view(as), b.contiguous().view(as));
}

QuantScheme int_scheme(double bits, Granularity g, ScaleMode m = ScaleMode::MinMax) {
  QuantScheme s;
  s.bits = bits;
  s.granularity = g;
  s.scale_mode = m;
  return s;
}

}  // namespace

class TestFormats : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void e2m1_grid_ties_and_negatives() {
    auto x = t1({0.f, 0.25f, 0.26f, 0.74f, 0.75f, 1.25f, 1.3f, 1.75f, 2.5f, 2.6f, 3.5f, 5.f, 5.1f,
                 7.f, -0.25f, -0.3f, -1.75f, -100.f, -0.f});
    auto expect =
        codes_of({0, 0, 1, 1, 2, 2, 3, 4, 4, 5, 6, 6, 7, 7, 8, 9, 12, 15, 0}, torch::kUInt8);
    auto c = e2m1_encode(x);
    QVERIFY2(torch::equal(c, expect),
             qPrintable(QString::fromStdString(torch::str(c.to(torch::kInt)))));
    auto v = e2m1_decode(c);
    QVERIFY(
        torch::equal(v, t1({0, 0, .5, .5, 1, 1, 1.5, 2, 2, 3, 4, 4, 6, 6, -0., -.5, -2, -6, 0})));
    QVERIFY(std::signbit(v[14].item<float>()));  // -0.25 -> -0 (code 8)
    auto all = torch::arange(16).to(torch::kUInt8);
    QVERIFY(torch::equal(e2m1_encode(e2m1_decode(all)).masked_fill(all == 8, 8), all));
  }

  void e4m3_rounding_and_bits() {
    auto x = t1({448.f, 500.f, 1.f, 1.0625f, 1.1875f, std::ldexp(1.f, -9), std::ldexp(1.f, -10),
                 3 * std::ldexp(1.f, -10), std::ldexp(1.f, -6), 240.f, 250.f, 17.f, 0.f, -2.f});
    auto r = e4m3_round(x);
    auto expect = t1({448.f, 448.f, 1.f, 1.f, 1.25f, std::ldexp(1.f, -9), 0.f, std::ldexp(1.f, -8),
                      std::ldexp(1.f, -6), 240.f, 256.f, 16.f, 0.f, -2.f});
    QVERIFY2(torch::equal(r, expect), qPrintable(QString::fromStdString(torch::str(r))));
    auto bits = e4m3_encode(t1({448.f, 1.f, std::ldexp(1.f, -9), std::ldexp(1.f, -6), -2.f,
                                7 * std::ldexp(1.f, -9), 0.f}));
    QVERIFY(
        torch::equal(bits, codes_of({0x7E, 0x38, 0x01, 0x08, 0xC0, 0x07, 0x00}, torch::kUInt8)));
    // Every finite code round-trips (0x7F / 0xFF are NaN, 0x80 is -0).
    std::vector<int> all;
    for (int b = 0; b < 256; ++b)
      if (b != 0x7F && b != 0xFF && b != 0x80) all.push_back(b);
    auto codes = codes_of(all, torch::kUInt8);
    auto vals = e4m3_decode(codes);
    QVERIFY(torch::equal(e4m3_round(vals), vals));
    QVERIFY(torch::equal(e4m3_encode(vals), codes));
    QCOMPARE(vals.abs().max().item<float>(), 448.f);
  }

  void e8m0_block_exponents() {
    auto amax = t1({6.f, 6.01f, 3.f, 0.f, 7.f, 1e30f, 1e-45f});
    auto e = mx_exponent(amax);
    QVERIFY2(torch::equal(e, codes_of({0, 1, -1, -127, 1, 98, -127}, torch::kInt)),
             qPrintable(QString::fromStdString(torch::str(e))));
    auto scale = torch::ldexp(torch::ones({7}), e);
    QVERIFY(
        torch::equal(e8m0_encode(scale), codes_of({127, 128, 126, 0, 128, 225, 0}, torch::kUInt8)));
    QVERIFY(torch::equal(e8m0_decode(e8m0_encode(scale)), scale));
  }

  void mxfp4_hand_block() {
    std::vector<float> v(32, 0.f);
    v[0] = 6.5f;   // amax: e = ceil(log2(6.5/6)) = 1, scale 2
    v[1] = 1.0f;   // 0.5 -> 0.5 -> 1
    v[2] = -0.6f;  // -0.3 -> -0.5 -> -1
    v[3] = 0.2f;   // 0.1 -> 0
    v[4] = 2.6f;   // 1.3 -> 1.5 -> 3
    auto w = t1(v).view({1, 32});
    QuantScheme s;
    s.format = Format::MxFp4;
    QuantizedTensor q = quantize(w, s, "model.layers.0.mlp.down_proj");
    QCOMPARE(q.scales.item<float>(), 2.f);
    QCOMPARE(e8m0_encode(q.scales).item<int>(), 128);
    auto c = q.codes.view({-1}).slice(0, 0, 6).to(torch::kInt);
    QVERIFY2(torch::equal(c, codes_of({5, 1, 9, 0, 3, 0}, torch::kInt)),
             qPrintable(QString::fromStdString(torch::str(c))));
    auto d = dequantize(q).view({-1}).slice(0, 0, 6);
    QVERIFY(torch::equal(d, t1({6.f, 1.f, -1.f, 0.f, 3.f, 0.f})));
  }

  void nvfp4_two_level_scaling() {
    std::vector<float> v(32, 0.f);
    v[0] = 2688.f;  // tensor amax: scale_2 = 2688/(6*448) = 1; block 0 scale 448
    v[1] = 1000.f;  // 1000/448 = 2.23 -> 2 -> 896
    v[2] = -300.f;  // -0.67 -> -0.5 -> -224
    v[16] = 10.f;   // block 1: 10/6 = 1.667 -> E4M3 1.625; 10/1.625 = 6.15 -> 6 (saturates)
    v[17] = 1.f;    // 0.615 -> 0.5 -> 0.8125
    auto w = t1(v).view({1, 32});
    QuantScheme s;
    s.format = Format::NvFp4;
    WeightQuantizer wq(s, "model.layers.0.mlp.up_proj", w);
    QuantizedTensor q = wq.quantize(w);
    QCOMPARE(q.scale_2.item<float>(), 1.f);
    QVERIFY(torch::equal(q.scales.view({-1}), t1({448.f, 1.625f})));
    QVERIFY(torch::equal(e4m3_encode(q.scales.view({-1})), codes_of({0x7E, 0x3D}, torch::kUInt8)));
    auto d = dequantize(q).view({-1});
    QCOMPARE(d[0].item<float>(), 2688.f);
    QCOMPARE(d[1].item<float>(), 896.f);
    QCOMPARE(d[2].item<float>(), -224.f);
    QCOMPARE(d[16].item<float>(), 9.75f);
    QCOMPARE(d[17].item<float>(), 0.8125f);
    // Clipped STE: 10/1.625 > 6 gets no gradient, the rest passes.
    auto wl = w.clone().requires_grad_(true);
    wq.forward(wl).sum().backward();
    QCOMPARE(wl.grad().view({-1})[16].item<float>(), 0.f);
    QCOMPARE(wl.grad().view({-1})[17].item<float>(), 1.f);
    QCOMPARE(wl.grad().view({-1})[0].item<float>(), 1.f);
    // A scaled copy uses a non-trivial tensor scale: s2 = amax/2688 in fp32.
    auto w2 = w * 0.01f;
    QuantizedTensor q2 = quantize(w2, s);
    QCOMPARE(q2.scale_2.item<float>(), (w2.abs().max() / 2688.0).item<float>());
    QVERIFY(same_bits(dequantize(q2), WeightQuantizer(s, "m", w2).forward(w2)));
  }

  void asymmetric_zero_points() {
    auto w = torch::tensor({-1.f, 0.f, 1.f, 2.f, 0.5f, 1.f, 2.f, 3.5f}).view({2, 4});
    auto s = int_scheme(2, Granularity::PerChannel);
    s.symmetric = false;
    QuantizedTensor q = quantize(w, s, "m");
    QVERIFY(torch::equal(q.zeros.view({-1}), torch::tensor({1, 0}, torch::kInt)));
    QVERIFY(torch::allclose(q.scales.view({-1}), t1({1.f, 3.5f / 3})));
    QVERIFY(torch::equal(q.codes.to(torch::kInt).view({-1}),
                         torch::tensor({0, 1, 2, 3, 0, 1, 2, 3}, torch::kInt)));
    QVERIFY(q.codes.scalar_type() == torch::kUInt8);
    QVERIFY(torch::equal(dequantize(q)[0], t1({-1.f, 0.f, 1.f, 2.f})));
    // 4-bit row: s = 1.2/15 = 0.08, z = round(0.3/0.08) = 4, codes round(v) + z.
    auto w4 = t1({-0.3f, 0.22f, 0.9f, -0.1f}).view({1, 4});
    auto s4 = int_scheme(4, Granularity::PerChannel);
    s4.symmetric = false;
    QuantizedTensor q4 = quantize(w4, s4, "m");
    QCOMPARE(q4.zeros.item<int>(), 4);
    QVERIFY(std::fabs(q4.scales.item<float>() - 0.08f) < 1e-7);
    QVERIFY(torch::equal(q4.codes.to(torch::kInt).view({-1}),
                         torch::tensor({0, 7, 15, 3}, torch::kInt)));
    QVERIFY(
        torch::allclose(dequantize(q4).view({-1}), t1({-0.32f, 0.24f, 0.88f, -0.08f}), 1e-6, 1e-6));
  }

  void seq_and_ternary_levels() {
    auto w = t1({1.f, 0.6f, 0.2f, -0.3f, -0.8f, -1.f}).view({1, 6});
    auto s = int_scheme(2, Granularity::PerChannel, ScaleMode::Frozen);
    s.surrogate = Surrogate::ParetoQ;  // SEQ, init s = max|w| = 1
    QuantizedTensor q = quantize(w, s, "m");
    QCOMPARE(q.scales.item<float>(), 1.f);
    QVERIFY(torch::equal(q.codes.to(torch::kInt).view({-1}),
                         torch::tensor({1, 1, 0, -1, -2, -2}, torch::kInt)));
    QVERIFY(torch::equal(dequantize(q).view({-1}), t1({.75f, .75f, .25f, -.25f, -.75f, -.75f})));
    auto wt = t1({1.f, 0.4f, 0.3f, -0.2f, -0.35f, -1.f}).view({1, 6});
    s.bits = 1.58;
    QuantizedTensor qt = quantize(wt, s, "m");
    QVERIFY(torch::equal(qt.codes.to(torch::kInt).view({-1}),
                         torch::tensor({1, 1, 0, 0, -1, -1}, torch::kInt)));
    const float l = static_cast<float>(2.0 / 3.0);
    QVERIFY(torch::equal(dequantize(qt).view({-1}), t1({l, l, 0.f, 0.f, -l, -l})));
    // Binary: sign * mean|w|.
    s.bits = 1;
    s.surrogate = Surrogate::Ste;
    QuantizedTensor qb = quantize(wt, s, "m");
    const float mean = wt.abs().mean().item<float>();
    QVERIFY(std::fabs(qb.scales.item<float>() - mean) < 1e-7);
    QVERIFY(torch::equal(qb.codes.to(torch::kInt).view({-1}),
                         torch::tensor({1, 1, 1, -1, -1, -1}, torch::kInt)));
  }

  void scale_inits() {
    torch::manual_seed(7);
    auto w = torch::randn({8, 64});
    auto amax = w.abs().amax(1, true), mean = w.abs().mean(1, true);
    auto scale_of = [&](double bits, ScaleInit init, Surrogate sur = Surrogate::Ste) {
      auto s = int_scheme(bits, Granularity::PerChannel, ScaleMode::Learned);
      s.scale_init = init;
      s.surrogate = sur;
      return WeightQuantizer(s, "m", w).state().at(0).second;
    };
    QVERIFY(torch::allclose(scale_of(4, ScaleInit::Auto), amax / 7));
    QVERIFY(torch::allclose(scale_of(8, ScaleInit::Auto), amax / 127));
    QVERIFY(torch::allclose(scale_of(2, ScaleInit::Auto), amax / 2));  // level -2 reachable
    QVERIFY(torch::allclose(scale_of(2, ScaleInit::MaxOverQp), amax));
    QVERIFY(torch::allclose(scale_of(3, ScaleInit::MaxAbs), amax));
    QVERIFY(torch::allclose(scale_of(3, ScaleInit::MeanAbs), mean));
    QVERIFY(torch::allclose(scale_of(2, ScaleInit::Auto, Surrogate::ParetoQ), amax));
    QVERIFY(torch::allclose(scale_of(1, ScaleInit::Auto), mean));
    // Each name says what it gives: max|w|/Qp, max|w|/|Qn|, LSQ's 2 mean|w|/sqrt(Qp), and the
    // StableQAT preset (its train.py: max|w| at W2, max|w|/Qp at 3-4 bits, SEQ max|w|, 1-bit
    // mean|w|).
    QVERIFY(torch::allclose(scale_of(4, ScaleInit::MaxOverQp), amax / 7));
    QVERIFY(torch::allclose(scale_of(2, ScaleInit::MaxOverQn), amax / 2));
    QVERIFY(torch::allclose(scale_of(4, ScaleInit::MaxOverQn), amax / 8));
    QVERIFY(torch::allclose(scale_of(4, ScaleInit::Lsq), mean * 2 / std::sqrt(7.0)));
    QVERIFY(torch::allclose(scale_of(2, ScaleInit::Lsq), mean * 2));
    QVERIFY(torch::allclose(scale_of(2, ScaleInit::StableQat), amax));
    QVERIFY(torch::allclose(scale_of(3, ScaleInit::StableQat), amax / 3));
    QVERIFY(torch::allclose(scale_of(4, ScaleInit::StableQat), amax / 7));
    QVERIFY(torch::allclose(scale_of(1, ScaleInit::StableQat), mean));
    QVERIFY(torch::allclose(scale_of(1.58, ScaleInit::StableQat, Surrogate::ParetoQ), amax));
    // scale: minmax is s = max|w|/Qp every forward, whatever scale_init says (at W2: max|w|).
    for (ScaleInit init : {ScaleInit::Auto, ScaleInit::MeanAbs}) {
      auto mm = [&](double bits) {
        auto s = int_scheme(bits, Granularity::PerChannel, ScaleMode::MinMax);
        s.scale_init = init;
        return WeightQuantizer(s, "m", w).current_scale(w);
      };
      QVERIFY(torch::allclose(mm(2), amax));
      QVERIFY(torch::allclose(mm(4), amax / 7));
    }
    // MSE search never does worse than Auto, per row, and does better somewhere.
    for (double bits : {2.0, 3.0}) {
      auto err = [&](ScaleInit init) {
        auto s = int_scheme(bits, Granularity::PerChannel, ScaleMode::Frozen);
        s.scale_init = init;
        WeightQuantizer wq(s, "m", w);
        return (dequantize(wq.quantize(w)) - w).pow(2).sum(1);
      };
      auto a = err(ScaleInit::Auto), m = err(ScaleInit::MseSearch);
      QVERIFY((m <= a + 1e-6).all().item<bool>());
      QVERIFY((m < a - 1e-6).any().item<bool>());
    }
    // Clamp s >= 1e-5 for an all-zero row.
    auto z = torch::zeros({2, 8});
    auto s = int_scheme(4, Granularity::PerChannel, ScaleMode::Learned);
    QCOMPARE(WeightQuantizer(s, "m", z).state().at(0).second.min().item<float>(), 1e-5f);
  }

  void layout_errors_name_the_module() {
    auto s = int_scheme(4, Granularity::PerGroup);
    s.group_size = 128;
    try {
      WeightQuantizer(s, "model.layers.2.mlp.gate_proj", torch::randn({4, 100}));
      QFAIL("no error");
    } catch (const qatwb::Error& e) {
      const QString m = e.what();
      QVERIFY2(m.contains("model.layers.2.mlp.gate_proj") && m.contains("100") && m.contains("128"),
               qPrintable(m));
    }
    QuantScheme nv;
    nv.format = Format::NvFp4;
    QVERIFY_THROWS_EXCEPTION(qatwb::Error, WeightQuantizer(nv, "m", torch::randn({4, 24})));
    auto bad = int_scheme(5.5, Granularity::PerChannel);
    QVERIFY_THROWS_EXCEPTION(qatwb::Error, WeightQuantizer(bad, "m", torch::randn({4, 8})));
    auto asym_seq = int_scheme(1.58, Granularity::PerChannel);
    asym_seq.symmetric = false;
    QVERIFY_THROWS_EXCEPTION(qatwb::Error, WeightQuantizer(asym_seq, "m", torch::randn({4, 8})));
    auto chan = int_scheme(4, Granularity::PerChannel);
    QVERIFY_THROWS_EXCEPTION(qatwb::Error, WeightQuantizer(chan, "m", torch::randn({4, 8, 2})));
  }

  void dequantize_equals_fake_forward_bit_for_bit() {
    torch::manual_seed(8);
    int checked = 0;
    for (bool fused : {true, false}) {
      set_fused_kernels_enabled(fused);
      for (auto dtype : {torch::kFloat, torch::kBFloat16}) {
        auto w = (torch::randn({16, 128}) * 0.02).to(dtype);
        w[3][5] = 0;  // exact zeros and a dominant outlier
        w[4][7] = 0.5;
        std::vector<QuantScheme> schemes;
        for (double bits : {1.0, 1.58, 2.0, 3.0, 4.0, 8.0})
          for (auto gran : {Granularity::PerTensor, Granularity::PerChannel, Granularity::PerGroup})
            for (auto mode : {ScaleMode::MinMax, ScaleMode::Learned, ScaleMode::Frozen})
              for (bool sym : {true, false}) {
                if (!sym && (bits < 2)) continue;
                auto s = int_scheme(bits, gran, mode);
                s.group_size = 32;
                s.symmetric = sym;
                schemes.push_back(s);
                if (bits == 2 && sym) {
                  s.surrogate = Surrogate::ParetoQ;
                  schemes.push_back(s);
                }
                if (bits == 3 && mode == ScaleMode::Frozen) {
                  s.scale_init = ScaleInit::MseSearch;
                  schemes.push_back(s);
                }
              }
        for (auto f : {Format::MxFp4, Format::NvFp4}) {
          QuantScheme s;
          s.format = f;
          schemes.push_back(s);
        }
        for (const auto& s : schemes) {
          WeightQuantizer wq(s, "m", w);
          torch::Tensor fake;
          {
            torch::NoGradGuard g;
            fake = wq.forward(w);
          }
          auto wl = w.clone().requires_grad_(true);
          auto fake_grad = wq.forward(wl);  // the autograd path returns the same values
          const QuantizedTensor q = wq.quantize(w);
          auto deq = dequantize(q);
          const QString what = QString("format %1 bits %2 %3 %4 sym %5 dtype %6 fused %7")
                                   .arg(to_string(s.format))
                                   .arg(s.bits)
                                   .arg(to_string(s.granularity))
                                   .arg(to_string(s.scale_mode))
                                   .arg(s.symmetric)
                                   .arg(dtype == torch::kFloat ? "f32" : "bf16")
                                   .arg(fused);
          QVERIFY2(same_bits(deq, fake), qPrintable(what));
          QVERIFY2(same_bits(fake_grad.detach(), fake), qPrintable(what));
          QVERIFY2(q.codes.sizes() == w.sizes(), qPrintable(what));
          QVERIFY2((deq.to(torch::kFloat) - w.to(torch::kFloat)).abs().max().item<float>() < 0.6,
                   qPrintable(what));
          ++checked;
        }
      }
    }
    set_fused_kernels_enabled(true);
    QVERIFY(checked > 200);
  }

  void nibble_packing() {
    auto c = torch::tensor({1, 2, 15, 0, 7, 8}, torch::kUInt8).view({2, 3});
    QVERIFY_THROWS_EXCEPTION(qatwb::Error, pack_nibbles(c));  // odd last dim
    auto even = torch::tensor({1, 2, 15, 0, 7, 8, 3, 12}, torch::kUInt8).view({2, 4});
    auto p = pack_nibbles(even);
    QVERIFY(torch::equal(p, torch::tensor({0x21, 0x0F, 0x87, 0xC3}, torch::kUInt8).view({2, 2})));
    QVERIFY(torch::equal(unpack_nibbles(p), even));
    QVERIFY_THROWS_EXCEPTION(qatwb::Error, pack_nibbles(torch::tensor({16, 0}, torch::kUInt8)));
  }

  void int_word_packing() {
    auto c4 = torch::arange(8, torch::kInt).view({1, 8});
    QCOMPARE(pack_int_words(c4, 4).item<int>(), 0x76543210);
    auto c2 = torch::tensor({1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3}, torch::kInt);
    QCOMPARE(pack_int_words(c2, 2).item<int>(), static_cast<int>(0xC0000039u));
    // 3-bit: a dense bitstream; element 10 straddles words 0 and 1.
    auto c3 = torch::zeros({32}, torch::kInt);
    c3[10] = 7;
    auto w3 = pack_int_words(c3, 3);
    QCOMPARE(w3.size(0), int64_t{3});
    QCOMPARE(static_cast<uint32_t>(w3[0].item<int>()), 0xC0000000u);
    QCOMPARE(w3[1].item<int>(), 1);
    QCOMPARE(w3[2].item<int>(), 0);
    torch::manual_seed(9);
    for (int bits = 1; bits <= 8; ++bits) {
      auto codes = torch::randint(0, 1 << bits, {3, 37}, torch::kInt);
      auto words = pack_int_words(codes, bits);
      QCOMPARE(words.size(1), int64_t{(37 * bits + 31) / 32});
      QVERIFY(torch::equal(unpack_int_words(words, bits, 37), codes));
    }
    QVERIFY_THROWS_EXCEPTION(qatwb::Error, pack_int_words(torch::tensor({4}, torch::kInt), 2));
    QVERIFY_THROWS_EXCEPTION(qatwb::Error, pack_int_words(torch::tensor({-1}, torch::kInt), 2));
    QVERIFY_THROWS_EXCEPTION(qatwb::Error, unpack_int_words(torch::zeros({1}, torch::kInt), 4, 9));
  }
};

QTEST_GUILESS_MAIN(TestFormats)
#include "tst_formats.moc"
