// Pins every surrogate formula of docs/QAT_METHODS.md: StableQAT's G (values, A = 0 == STE bit for
// bit, amplitude limit, M > 0 against the literal sum), LSQ's scale gradient on a hand-made
// tensor, DSQ's weight and alpha gradients against finite differences, DSQ's chain-rule scale
// gradient against its closed form, EWGS in the paper's normalised units, ParetoQ SEQ and binary
// scale gradients, PACT (unsigned and signed), INT8 per token, the fused CPU kernels against the
// torch path, and the vectorised bf16 kernels against the scalar c10::BFloat16 ones bit for bit.
#include <QtTest>

#include <cmath>

#include "core/quant/activation_quant.h"
#include "core/quant/int_fake_quant.h"
#include "core/quant/surrogate.h"
#include "core/quant/weight_quantizer.h"
#include "core/util/error.h"

using namespace qatwb::quant;

namespace {

torch::Tensor t1(std::vector<float> v) {
  return torch::from_blob(v.data(), {static_cast<int64_t>(v.size())}, torch::kFloat).clone();
}

QuantScheme scheme(double bits, Surrogate s, Granularity g = Granularity::PerTensor) {
  QuantScheme q;
  q.bits = bits;
  q.surrogate = s;
  q.granularity = g;
  q.scale_mode = ScaleMode::Learned;
  return q;
}

struct Grads {
  torch::Tensor out, gw, gs, galpha;
};

// Fake-quantizes w with scale `s` (loaded into a learned-scale quantizer) and backpropagates g.
Grads run(const QuantScheme& sch, const torch::Tensor& w_in, const torch::Tensor& s,
          const torch::Tensor& g) {
  WeightQuantizer wq(sch, "model.layers.0.mlp.up_proj", w_in);
  wq.load_state("weight_scale", s);
  auto w = w_in.clone().requires_grad_(true);
  auto out = wq.forward(w);
  (out.to(torch::kFloat) * g).sum().backward();
  Grads r;
  r.out = out.detach();
  r.gw = w.grad();
  for (auto& [name, t] : wq.state()) {
    if (name == "weight_scale") r.gs = t.grad();
    if (name == "dsq_alpha") r.galpha = t.grad();
  }
  return r;
}

bool near(double a, double b, double tol) { return std::fabs(a - b) <= tol; }

bool same_bits(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.defined() != b.defined()) return false;
  if (!a.defined()) return true;
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  const auto size = a.element_size();
  const auto as = size == 4 ? torch::kInt : size == 2 ? torch::kShort : torch::kChar;
  return torch::equal(a.contiguous().view(as), b.contiguous().view(as));
}

}  // namespace

class TestSurrogates : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void stableqat_closed_form_values() {
    // r = 0 -> (1 - c)/(1 + c) with c = sqrt2*pi*0.21; |r| = 0.5 -> 1; |r| = 0.25 -> 0.205.
    QVERIFY(near(stableqat_g(0.0, 0.21, 0), 0.0347, 5e-5));
    QVERIFY(near(stableqat_g(3.0, 0.21, 0), 0.0347, 5e-5));
    QVERIFY(near(stableqat_g(0.5, 0.21, 0), 1.0, 1e-12));
    QVERIFY(near(stableqat_g(-1.5, 0.21, 0), 1.0, 1e-12));
    QVERIFY(near(stableqat_g(0.25, 0.21, 0), 0.2050, 5e-4));
    QVERIFY(near(stableqat_g(1.4, 0.21, 0), 0.552, 1e-3));
  }

  void stableqat_kernel_gradient_matches_closed_form() {
    // Per-tensor s = 0.5, 4-bit: v = w/s = {0, 0.5(tie->0), 0.25, -1.75, 2.4, 6.6, -9 (out)}.
    auto w = t1({0.f, 0.25f, 0.125f, -0.875f, 1.2f, 3.3f, -4.5f});
    auto g = t1({1.f, 1.f, 1.f, 1.f, 1.f, 1.f, 1.f});
    auto r = run(scheme(4, Surrogate::StableQat), w, torch::full({1}, 0.5f), g);
    auto gw = r.gw.accessor<float, 1>();
    const double c = std::sqrt(2.0) * M_PI * 0.21;
    const double expect[] = {(1 - c) / (1 + c),
                             1.0,
                             (1 - c * std::cos(M_PI * 0.25)) / (1 + c * std::cos(M_PI * 0.25)),
                             (1 - c * std::cos(M_PI * 0.25)) / (1 + c * std::cos(M_PI * 0.25)),
                             (1 - c * std::cos(M_PI * 0.4)) / (1 + c * std::cos(M_PI * 0.4)),
                             (1 - c * std::cos(M_PI * 0.4)) / (1 + c * std::cos(M_PI * 0.4)),
                             0.0};
    for (int i = 0; i < 7; ++i)
      QVERIFY2(near(gw[i], expect[i], 2e-6),
               qPrintable(QString("element %1: %2 vs %3").arg(i).arg(gw[i]).arg(expect[i])));
    QVERIFY(near(gw[0], 0.0347, 5e-5));
  }

  void stableqat_amplitude_zero_is_ste_bit_for_bit() {
    torch::manual_seed(1);
    auto w = torch::randn({16, 64});
    auto g = torch::randn({16, 64});
    auto s = torch::full({16, 1}, 0.3f);
    auto ste = scheme(3, Surrogate::Ste, Granularity::PerChannel);
    auto sq = scheme(3, Surrogate::StableQat, Granularity::PerChannel);
    sq.params.amplitude = 0.0;
    for (bool fused : {true, false}) {
      set_fused_kernels_enabled(fused);
      auto a = run(ste, w, s, g), b = run(sq, w, s, g);
      QVERIFY(torch::equal(a.out, b.out));
      QVERIFY(torch::equal(a.gw, b.gw));
      QVERIFY(torch::equal(a.gs, b.gs));
      // Clipped STE: exactly g inside the range, 0 outside.
      auto v = w / 0.3;
      auto inside = (v >= -4).logical_and(v <= 3);
      QVERIFY(torch::equal(a.gw, torch::where(inside, g, torch::zeros_like(g))));
    }
    set_fused_kernels_enabled(true);
  }

  // The surrogate table's format rules (core/quant/scheme.h, what the project parser and the
  // wizard apply) are the engine's: surrogate_impl accepts a surrogate on a format exactly when
  // surrogate_allowed says so (4 bits, frozen scales so that AdaRound's own rule holds on INT).
  void surrogate_table_matches_the_engine() {
    for (Format f : {Format::Int, Format::MxFp4, Format::NvFp4, Format::Gguf})
      for (const auto& row : qatwb::enum_rows_of<Surrogate>()) {
        auto sch = scheme(4, row.value);
        sch.format = f;
        sch.scale_mode = ScaleMode::Frozen;
        bool engine = true;
        try {
          surrogate_impl(sch, "x");
        } catch (const qatwb::Error&) {
          engine = false;
        }
        QVERIFY2(engine == surrogate_allowed(row.value, f),
                 qPrintable(QString("%1 on %2").arg(row.name, to_string(f))));
      }
  }

  void stableqat_rejects_large_amplitude() {
    auto sch = scheme(2, Surrogate::StableQat);
    sch.params.amplitude = 0.2251;
    QVERIFY_THROWS_EXCEPTION(qatwb::Error, surrogate_impl(sch, "x"));
    sch.params.amplitude = 0.3;
    try {
      WeightQuantizer wq(sch, "model.layers.1.self_attn.k_proj", torch::randn({4, 8}));
      QFAIL("amplitude 0.3 accepted");
    } catch (const qatwb::Error& e) {
      QVERIFY(QString(e.what()).contains("model.layers.1.self_attn.k_proj"));
      QVERIFY(QString(e.what()).contains("amplitude"));
    }
    sch.params.amplitude = 0.225;
    surrogate_impl(sch, "x");  // just below 1/(sqrt2*pi) = 0.22508
    QVERIFY(kStableQatMaxAmplitude < 0.2251 && kStableQatMaxAmplitude > 0.2250);
  }

  void stableqat_higher_order_matches_direct_sum() {
    torch::manual_seed(2);
    auto w = torch::rand({4096}) * 14 - 7;  // v in [-7, 7], 4-bit grid [-8, 7], s = 1
    auto g = torch::ones({4096});
    for (int order : {1, 2, 3}) {
      auto sch = scheme(4, Surrogate::StableQat);
      sch.params.amplitude = 0.1;
      sch.params.fourier_order = order;
      for (bool fused : {true, false}) {
        set_fused_kernels_enabled(fused);
        auto r = run(sch, w, torch::ones({1}), g);
        auto wa = w.accessor<float, 1>();
        auto ga = r.gw.accessor<float, 1>();
        double worst = 0;
        for (int i = 0; i < 4096; ++i)
          worst = std::max(worst, std::fabs(ga[i] - stableqat_g(wa[i], 0.1, order)));
        QVERIFY2(
            worst < 2e-5,
            qPrintable(QString("order %1 fused %2: max err %3").arg(order).arg(fused).arg(worst)));
      }
    }
    set_fused_kernels_enabled(true);
  }

  void lsq_scale_gradient_hand_made() {
    // 2-bit per-channel (Qn = -2, Qp = 1), s = [0.5, 0.25], gamma = 1/sqrt(8 * 1).
    auto w = torch::tensor({0.3f, -0.6f, 1.2f, -2.0f, 0.1f, 0.2f, -0.45f, 0.0f}).view({2, 4});
    auto g = torch::tensor({1.f, 2.f, 3.f, 4.f, -1.f, 1.f, 2.f, 5.f}).view({2, 4});
    auto s = torch::tensor({0.5f, 0.25f}).view({2, 1});
    auto r = run(scheme(2, Surrogate::Lsq, Granularity::PerChannel), w, s, g);
    // Row 0: v = {0.6, -1.2, 2.4, -4}: d = {1-0.6, -1+1.2, Qp=1, Qn=-2}.
    // Row 1: v = {0.4, 0.8, -1.8, 0}: d = {0-0.4, 1-0.8, -2+1.8, 0}.
    const double gamma = 1.0 / std::sqrt(8.0);
    const double row0 = 1 * 0.4 + 2 * 0.2 + 3 * 1.0 + 4 * -2.0;
    const double row1 = -1 * -0.4 + 1 * 0.2 + 2 * -0.2 + 5 * 0.0;
    QVERIFY(near(r.gs[0][0].item<double>(), gamma * row0, 1e-5));
    QVERIFY(near(r.gs[1][0].item<double>(), gamma * row1, 1e-5));
    QVERIFY(torch::allclose(
        r.out, torch::tensor({0.5f, -0.5f, 0.5f, -1.0f, 0.f, 0.25f, -0.5f, 0.f}).view({2, 4})));
    QVERIFY(
        torch::equal(r.gw, torch::tensor({1.f, 2.f, 0.f, 0.f, -1.f, 1.f, 2.f, 5.f}).view({2, 4})));
    // A user-given gradient scale replaces gamma.
    auto sch = scheme(2, Surrogate::Lsq, Granularity::PerChannel);
    sch.params.lsq_grad_scale = 1.0;
    auto r1 = run(sch, w, s, g);
    QVERIFY(near(r1.gs[0][0].item<double>(), row0, 1e-5));
  }

  void lsq_gamma_uses_whole_matrix_per_group() {
    auto sch = scheme(4, Surrogate::Ste, Granularity::PerGroup);
    sch.group_size = 4;
    auto w = torch::full({2, 8}, 0.3f);
    auto g = torch::ones({2, 8});
    auto r = run(sch, w, torch::full({2, 2}, 0.25f), g);  // v = 1.2 -> d = -0.2 per element
    const double expect = 4 * -0.2 / std::sqrt(16.0 * 7);
    for (int i = 0; i < 4; ++i) QVERIFY(near(r.gs.view({-1})[i].item<double>(), expect, 1e-6));
  }

  void dsq_closed_form_values() {
    // alpha = 0.2: k = ln 9; G = 1.373 at the cell midpoint, 0.494 on grid points.
    QVERIFY(near(dsq_k(0.2), std::log(9.0), 1e-12));
    QVERIFY(near(dsq_g(0.5, 0.2), 1.3733, 1e-3));
    QVERIFY(near(dsq_g(2.0, 0.2), 0.4944, 1e-3));
    QVERIFY(near(dsq_soft(2.0, 0.2), 2.0, 1e-12));  // soft quantizer passes through grid points
    QVERIFY(near(dsq_soft(2.5, 0.2), 2.5, 1e-12));
  }

  void dsq_gradients_match_finite_differences() {
    torch::manual_seed(3);
    const double s = 0.1, alpha = 0.2, h = 1e-6;
    auto w = (torch::rand({256}) * 1.4 - 0.8).to(torch::kFloat);  // v in [-8, 6], inside 4-bit
    auto g = torch::randn({256});
    auto sch = scheme(4, Surrogate::Dsq);
    sch.params.dsq_alpha = alpha;
    for (bool fused : {true, false}) {
      set_fused_kernels_enabled(fused);
      auto r = run(sch, w, torch::full({1}, static_cast<float>(s)), g);
      auto wa = w.accessor<float, 1>();
      auto ga = g.accessor<float, 1>();
      auto gwa = r.gw.accessor<float, 1>();
      double lp = 0, lm = 0;
      for (int i = 0; i < 256; ++i) {
        const double v = static_cast<double>(wa[i]) / static_cast<float>(s);
        // dL/dw = g * d soft(v)/dv  (w_hat = s * soft(w/s))
        const double fd = (dsq_soft(v + h, alpha) - dsq_soft(v - h, alpha)) / (2 * h);
        QVERIFY2(near(gwa[i], ga[i] * fd, 1e-4 * (1 + std::fabs(ga[i] * fd))),
                 qPrintable(QString("w grad %1: %2 vs %3").arg(i).arg(gwa[i]).arg(ga[i] * fd)));
        QVERIFY(near(fd, dsq_g(v, alpha), 1e-5));
        lp += ga[i] * s * dsq_soft(v, alpha + h);
        lm += ga[i] * s * dsq_soft(v, alpha - h);
      }
      const double fd_alpha = (lp - lm) / (2 * h);
      const double got = r.galpha.item<double>();
      QVERIFY2(near(got, fd_alpha, 1e-4 * (1 + std::fabs(fd_alpha))),
               qPrintable(QString("alpha grad %1 vs fd %2").arg(got).arg(fd_alpha)));
      // Also the scalar closed form of d soft/d alpha.
      double closed = 0;
      for (int i = 0; i < 256; ++i)
        closed +=
            ga[i] * s * dsq_dsoft_dalpha(static_cast<double>(wa[i]) / static_cast<float>(s), alpha);
      QVERIFY(near(got, closed, 1e-4 * (1 + std::fabs(closed))));
    }
    set_fused_kernels_enabled(true);
  }

  void dsq_forward_is_hard_rounding_and_alpha_can_be_frozen() {
    torch::manual_seed(4);
    auto w = torch::randn({8, 32});
    auto g = torch::randn({8, 32});
    auto s = torch::full({8, 1}, 0.2f);
    auto a = run(scheme(3, Surrogate::Ste, Granularity::PerChannel), w, s, g);
    auto sch = scheme(3, Surrogate::Dsq, Granularity::PerChannel);
    auto b = run(sch, w, s, g);
    QVERIFY(torch::equal(a.out, b.out));
    QVERIFY(!torch::allclose(a.gs, b.gs));  // by default through the soft quantizer
    sch.params.dsq_scale_grad = DsqScaleGrad::Lsq;
    QVERIFY(torch::equal(a.gs, run(sch, w, s, g).gs));  // scale_grad: lsq is LSQ's
    QVERIFY(b.galpha.defined());
    sch.params.dsq_learn_alpha = false;
    QVERIFY(!run(sch, w, s, g).galpha.defined());
    sch.params.dsq_alpha = 0.5;
    QVERIFY_THROWS_EXCEPTION(qatwb::Error, WeightQuantizer(sch, "m", w));
  }

  void dsq_chain_scale_gradient_closed_form() {
    // StableQAT's DSQ baseline backpropagates s * Q(w/s) through the soft quantizer, so per row
    // dL/ds = gamma * sum g * d with d = round(v) - v G(v) inside [Qn, Qp] and Qn / Qp outside,
    // G(v) = k (1 - tanh^2(k (v - m))) / (2 tanh(k/2)), k = ln(2/alpha - 1), m = floor(v) + 1/2
    // (written out here, not through surrogate.h). scale_grad: lsq gives d = round(v) - v.
    torch::manual_seed(21);
    const double alpha = 0.3;
    const int64_t rows = 3, cols = 50;
    auto w = (torch::rand({rows, cols}) * 2.4 - 1.2).to(torch::kFloat);  // some outside 4-bit
    auto g = torch::randn({rows, cols});
    auto s = torch::tensor({0.1f, 0.15f, 0.2f}).view({rows, 1});
    const double gamma = 1.0 / std::sqrt(static_cast<double>(rows * cols) * 7);
    const double k = std::log(2 / alpha - 1);
    for (bool chain : {true, false}) {
      auto sch = scheme(4, Surrogate::Dsq, Granularity::PerChannel);
      sch.params.dsq_alpha = alpha;
      sch.params.dsq_scale_grad = chain ? DsqScaleGrad::Chain : DsqScaleGrad::Lsq;
      for (bool fused : {true, false}) {
        set_fused_kernels_enabled(fused);
        auto r = run(sch, w, s, g);
        for (int64_t i = 0; i < rows; ++i) {
          const float si = s[i][0].item<float>();
          double expect = 0;
          for (int64_t j = 0; j < cols; ++j) {
            const double v = w[i][j].item<float>() / si;  // in float, as the kernels divide
            double d;
            if (v < -8) {
              d = -8;
            } else if (v > 7) {
              d = 7;
            } else {
              const double m = std::floor(v) + 0.5, t = std::tanh(k * (v - m));
              const double big_g = k * (1 - t * t) / (2 * std::tanh(k / 2));
              d = std::nearbyint(v) - (chain ? v * big_g : v);
            }
            expect += g[i][j].item<float>() * d;
          }
          expect *= gamma;
          const double got = r.gs[i][0].item<double>();
          QVERIFY2(near(got, expect, 1e-5 * (1 + std::fabs(expect))),
                   qPrintable(QString("chain %1 fused %2 row %3: %4 vs %5")
                                  .arg(chain)
                                  .arg(fused)
                                  .arg(i)
                                  .arg(got)
                                  .arg(expect)));
        }
      }
    }
    set_fused_kernels_enabled(true);
  }

  void ewgs_scales_by_distance_to_level() {
    // The paper's normalised domain: the grid's 2^b - 1 steps span [0, 1], so
    // dL/dw = g (1 + delta sign(g) (v - q)/(2^b - 1)). 4-bit: delta 1.5 -> 0.1 per step unit.
    auto sch = scheme(4, Surrogate::Ewgs);
    sch.params.ewgs_delta = 1.5;
    auto w = t1({0.3f, 0.3f, -1.25f, 9.f});  // s = 1: v - q = 0.3, 0.3, -0.25; 9 is outside
    auto g = t1({2.f, -1.f, 4.f, 1.f});
    for (bool fused : {true, false}) {
      set_fused_kernels_enabled(fused);
      auto r = run(sch, w, torch::ones({1}), g);
      auto gw = r.gw.accessor<float, 1>();
      QVERIFY(near(gw[0], 2 * (1 + 0.1 * 0.3), 1e-6));
      QVERIFY(near(gw[1], -1 * (1 - 0.1 * 0.3), 1e-6));
      QVERIFY(near(gw[2], 4 * (1 - 0.1 * 0.25), 1e-6));
      QVERIFY(gw[3] == 0.f);
      // 2-bit: 3 steps.
      auto s2 = scheme(2, Surrogate::Ewgs);
      s2.params.ewgs_delta = 0.9;
      auto r2 = run(s2, t1({0.4f, -0.3f}), torch::ones({1}), t1({1.f, 1.f}));
      QVERIFY(near(r2.gw[0].item<float>(), 1 + 0.3 * 0.4, 1e-6));
      QVERIFY(near(r2.gw[1].item<float>(), 1 - 0.3 * 0.3, 1e-6));
    }
    set_fused_kernels_enabled(true);
    sch.params.ewgs_delta = 0.0;
    auto ste = run(scheme(4, Surrogate::Ste), w, torch::ones({1}), g);
    QVERIFY(torch::equal(run(sch, w, torch::ones({1}), g).gw, ste.gw));
    QCOMPARE(SurrogateParams().ewgs_delta, 1e-3);  // the authors' fixed delta
  }

  void paretoq_seq_scale_gradient() {
    // 2-bit SEQ, s = 1, gamma = 1/sqrt(4): v = {0.1, -0.6, 1.5, -2}: q = {0.25, -0.75, out, out}.
    auto w = t1({0.1f, -0.6f, 1.5f, -2.f});
    auto g = t1({1.f, 1.f, 1.f, 1.f});
    auto r = run(scheme(2, Surrogate::ParetoQ), w, torch::ones({1}), g);
    QVERIFY(torch::allclose(r.out, t1({0.25f, -0.75f, 0.75f, -0.75f})));
    const double d = (0.25 - 0.1) + (-0.75 + 0.6) + 0.75 - 0.75;
    QVERIFY(near(r.gs.item<double>(), d / 2.0, 1e-6));
    QVERIFY(torch::equal(r.gw, t1({1.f, 1.f, 0.f, 0.f})));
    // Ternary: levels {-2/3, 0, 2/3}; outside d = +-(n - h)/n = +-1.
    auto rt =
        run(scheme(1.58, Surrogate::ParetoQ), t1({0.2f, 0.5f, -3.f, 0.99f}), torch::ones({1}), g);
    QVERIFY(torch::allclose(rt.out, t1({0.f, 2.f / 3, -2.f / 3, 2.f / 3})));
    const double dt = (0 - 0.2) + (2.0 / 3 - 0.5) + -1.0 + (2.0 / 3 - 0.99);
    QVERIFY(near(rt.gs.item<double>(), dt / 2.0, 1e-6));
    QVERIFY(torch::equal(rt.gw, t1({1.f, 1.f, 0.f, 1.f})));
  }

  void binary_sign_and_scale_gradient() {
    auto w = t1({0.2f, -0.7f, 3.f, 0.f});
    auto g = t1({1.f, 2.f, 3.f, 4.f});
    auto r = run(scheme(1, Surrogate::Ste), w, torch::ones({1}), g);
    QVERIFY(torch::equal(r.out, t1({1.f, -1.f, 1.f, 1.f})));
    QVERIFY(near(r.gs.item<double>(), (1 - 2 + 3 + 4) / 2.0, 1e-6));  // gamma = 1/sqrt(4*1)
    QVERIFY(torch::equal(r.gw, t1({1.f, 2.f, 0.f, 4.f})));            // STE inside |v| <= 1
  }

  void pact_forward_and_gradients() {
    auto x = t1({-1.f, 0.5f, 2.f, 3.f, 1.f}).requires_grad_(true);
    auto alpha = torch::full({}, 2.f).requires_grad_(true);
    auto y = pact_quant(x, alpha, 2);  // 3 steps of 2/3
    QVERIFY(torch::allclose(y, t1({0.f, 2.f / 3, 2.f, 2.f, 4.f / 3})));
    (y * t1({1.f, 2.f, 3.f, 4.f, 5.f})).sum().backward();
    QVERIFY(torch::equal(x.grad(), t1({0.f, 2.f, 0.f, 0.f, 5.f})));
    QVERIFY(near(alpha.grad().item<double>(), 3 + 4, 1e-6));
    ActivationQuant cfg;
    cfg.kind = ActivationQuant::Kind::Pact;
    cfg.pact_alpha_init = 3.0;
    cfg.pact_l2 = 0.01;
    ActivationQuantizer aq(cfg, torch::kCPU);
    QVERIFY(near(aq.regularization().item<double>(), 0.01 * 9, 1e-7));
    QCOMPARE(aq.parameters().size(), size_t(1));
  }

  void pact_signed_forward_and_gradients() {
    // 3-bit signed PACT: clip to [-1.5, 1.5], 3 steps of 0.5 a side. dL/dx passes on
    // (-alpha, alpha); dL/dalpha = sum g where x >= alpha minus sum g where x <= -alpha.
    auto x = t1({-2.f, -1.5f, -0.6f, 0.2f, 0.8f, 1.5f, 3.f}).requires_grad_(true);
    auto alpha = torch::full({}, 1.5f).requires_grad_(true);
    auto y = pact_quant(x, alpha, 3, true);
    QVERIFY(torch::allclose(y, t1({-1.5f, -1.5f, -0.5f, 0.f, 1.f, 1.5f, 1.5f})));
    (y * t1({1.f, 2.f, 3.f, 4.f, 5.f, 6.f, 7.f})).sum().backward();
    QVERIFY(torch::equal(x.grad(), t1({0.f, 0.f, 3.f, 4.f, 5.f, 0.f, 0.f})));
    QVERIFY(near(alpha.grad().item<double>(), (6 + 7) - (1 + 2), 1e-6));
    // The quantizer's default is signed: negative inputs survive.
    ActivationQuant cfg;
    cfg.kind = ActivationQuant::Kind::Pact;
    cfg.pact_alpha_init = 1.5;
    cfg.pact_bits = 3;
    ActivationQuantizer aq(cfg, torch::kCPU);
    QVERIFY(torch::allclose(aq.forward(t1({-0.6f, -3.f})), t1({-0.5f, -1.5f})));
    cfg.pact_signed = false;
    QVERIFY(torch::equal(ActivationQuantizer(cfg, torch::kCPU).forward(t1({-0.6f})), t1({0.f})));
    QVERIFY_THROWS_EXCEPTION(qatwb::Error, pact_quant(x, alpha, 1, true));
  }

  void int8_per_token() {
    auto x = torch::tensor({1.f, -2.f, 0.5f, 0.f, 0.f, 0.f}).view({2, 3}).requires_grad_(true);
    auto y = int8_per_token_quant(x);
    const float s = 2.f / 127;
    QVERIFY(near(y[0][0].item<float>(), std::nearbyint(1.f / s) * s, 1e-7));
    QVERIFY(near(y[0][1].item<float>(), -2.f, 1e-6));
    QVERIFY(torch::equal(y[1], torch::zeros({3})));
    y.sum().backward();
    QVERIFY(torch::equal(x.grad(), torch::ones({2, 3})));
  }

  void fused_kernel_matches_torch_path() {
    torch::manual_seed(5);
    struct Case {
      double bits;
      Surrogate sur;
      Granularity gran;
      bool sym;
      int order;
    };
    const Case cases[] = {
        {2, Surrogate::StableQat, Granularity::PerChannel, true, 0},
        {3, Surrogate::Ste, Granularity::PerGroup, true, 0},
        {4, Surrogate::Ewgs, Granularity::PerTensor, true, 0},
        {8, Surrogate::Lsq, Granularity::PerChannel, true, 0},
        {4, Surrogate::Dsq, Granularity::PerGroup, true, 0},
        {4, Surrogate::StableQat, Granularity::PerChannel, false, 2},
        {2, Surrogate::Ste, Granularity::PerGroup, false, 0},
        {2, Surrogate::ParetoQ, Granularity::PerChannel, true, 0},
        {1.58, Surrogate::StableQat, Granularity::PerChannel, true, 0},
        {1, Surrogate::Ste, Granularity::PerChannel, true, 0},
    };
    for (const auto& c : cases) {
      for (auto dtype : {torch::kFloat, torch::kBFloat16}) {
        auto sch = scheme(c.bits, c.sur, c.gran);
        sch.symmetric = c.sym;
        sch.group_size = 16;
        sch.params.fourier_order = c.order;
        sch.params.amplitude = c.order ? 0.1 : 0.21;
        auto w = (torch::randn({24, 64}) * 0.05).to(dtype);
        auto g = torch::randn({24, 64}).to(dtype);
        auto run_path = [&](bool fused) {
          set_fused_kernels_enabled(fused);
          WeightQuantizer wq(sch, "m", w);
          auto wl = w.clone().requires_grad_(true);
          auto out = wq.forward(wl);
          out.backward(g);
          std::vector<torch::Tensor> r = {out.detach(), wl.grad()};
          for (auto& p : wq.parameters()) r.push_back(p.grad());
          return r;
        };
        auto a = run_path(true), b = run_path(false);
        set_fused_kernels_enabled(true);
        const QString what = QString("bits %1 surrogate %2 %3 sym %4 dtype %5")
                                 .arg(c.bits)
                                 .arg(to_string(c.sur))
                                 .arg(to_string(c.gran))
                                 .arg(c.sym)
                                 .arg(dtype == torch::kFloat ? "f32" : "bf16");
        QVERIFY2(torch::equal(a[0], b[0]), qPrintable("forward differs: " + what));
        QVERIFY2(a[0].scalar_type() == dtype, qPrintable(what));
        const double tol = dtype == torch::kFloat ? 1e-5 : 1e-2;
        QVERIFY2(torch::allclose(a[1].to(torch::kFloat), b[1].to(torch::kFloat), tol, tol),
                 qPrintable("weight grad differs: " + what));
        QCOMPARE(a.size(), b.size());
        for (size_t i = 2; i < a.size(); ++i)
          QVERIFY2(torch::allclose(a[i], b[i], 1e-4, 1e-5), qPrintable("param grad: " + what));
      }
    }
  }

  void bf16_vector_kernels_equal_scalar_bit_for_bit() {
    // The vectorised bf16 path (inline bit conversions) against c10::BFloat16's scalar ones:
    // forward values, codes, dL/dw and the parameter gradients, on random weights plus rows whose
    // outputs fall exactly halfway between two bf16 values (s = 1 + 2^-8 rounds down to even,
    // s = 1 + 3 * 2^-8 up), NaN, +-inf and -0 in w, and NaN / inf in the incoming gradient.
    torch::manual_seed(8);
    struct Case {
      double bits;
      Surrogate sur;
      bool sym;
      int order;
      DsqScaleGrad dsq;
    };
    const Case cases[] = {
        {2, Surrogate::Ste, true, 0, DsqScaleGrad::Chain},
        {2, Surrogate::StableQat, true, 0, DsqScaleGrad::Chain},
        {4, Surrogate::StableQat, true, 2, DsqScaleGrad::Chain},
        {3, Surrogate::Dsq, true, 0, DsqScaleGrad::Chain},
        {4, Surrogate::Dsq, true, 0, DsqScaleGrad::Lsq},
        {4, Surrogate::Ewgs, true, 0, DsqScaleGrad::Chain},
        {8, Surrogate::Lsq, true, 0, DsqScaleGrad::Chain},
        {3, Surrogate::Ste, false, 0, DsqScaleGrad::Chain},
        {2, Surrogate::ParetoQ, true, 0, DsqScaleGrad::Chain},
        {1.58, Surrogate::Ste, true, 0, DsqScaleGrad::Chain},
        {1, Surrogate::Ste, true, 0, DsqScaleGrad::Chain},
    };
    const int64_t rows = 8, cols = 45;  // 45: a vector body and a scalar tail
    const float nan = std::nanf(""), inf = INFINITY;
    auto w = (torch::randn({rows, cols}) * 0.05);
    w[1] = torch::tensor({1.f, -1.f, 0.f}).repeat(15);
    w[2] = torch::tensor({1.f, -1.f, 0.f}).repeat(15);
    w[0][0] = nan;
    w[0][1] = inf;
    w[0][2] = -inf;
    w[0][3] = -0.f;
    w = w.to(torch::kBFloat16);
    auto g = torch::randn({rows, cols});
    g[3][0] = nan;
    g[3][1] = inf;
    g = g.to(torch::kBFloat16);
    auto scales = (torch::rand({rows, 1}) * 0.04 + 0.01);
    const auto w_init = torch::randn({rows, cols}) * 0.05;
    scales[1][0] = 1.f + std::ldexp(1.f, -8);
    scales[2][0] = 1.f + 3 * std::ldexp(1.f, -8);
    for (const auto& c : cases) {
      auto sch = scheme(c.bits, c.sur, Granularity::PerChannel);
      sch.symmetric = c.sym;
      sch.params.fourier_order = c.order;
      sch.params.amplitude = c.order ? 0.1 : 0.21;
      sch.params.dsq_scale_grad = c.dsq;
      auto run_path = [&](bool vector) {
        set_bf16_vector_kernels_enabled(vector);
        WeightQuantizer wq(sch, "m", w_init);  // the same zero points in both runs
        wq.load_state("weight_scale", scales);
        auto wl = w.clone().requires_grad_(true);
        auto out = wq.forward(wl);
        out.backward(g);
        std::vector<torch::Tensor> r = {out.detach(), wl.grad(), wq.quantize(w).codes};
        for (auto& p : wq.parameters()) r.push_back(p.grad());
        return r;
      };
      auto a = run_path(true), b = run_path(false);
      set_bf16_vector_kernels_enabled(true);
      const QString what =
          QString("bits %1 surrogate %2 sym %3").arg(c.bits).arg(to_string(c.sur)).arg(c.sym);
      QCOMPARE(a.size(), b.size());
      QVERIFY2(a[0].scalar_type() == torch::kBFloat16, qPrintable(what));
      for (size_t i = 0; i < a.size(); ++i)
        QVERIFY2(same_bits(a[i], b[i]), qPrintable(QString("tensor %1: ").arg(i) + what));
    }
    // The rows built for ties do round both ways (to even), and NaN stays NaN.
    set_fused_kernels_enabled(true);
    WeightQuantizer wq(scheme(2, Surrogate::Ste, Granularity::PerChannel), "m", w);
    wq.load_state("weight_scale", scales);
    auto out = wq.forward(w).to(torch::kFloat);
    QCOMPARE(out[1][0].item<float>(), 1.f);
    QCOMPARE(out[2][0].item<float>(), 1.f + std::ldexp(1.f, -6));
    QCOMPARE(out[2][1].item<float>(), -(1.f + std::ldexp(1.f, -6)));
    QVERIFY(std::isnan(out[0][0].item<float>()));
  }
};

QTEST_GUILESS_MAIN(TestSurrogates)
#include "tst_surrogates.moc"
