// quant.format: gguf (core/quant/ggml_fake_quant): step 0 is llama.cpp's own quantization of the
// weight (libggml-base.so's quantize_<type>, byte for byte); the fake-quant forward equals the
// dequantization of the codes it reports, bit for bit, with grad mode on or off and after the
// learned state moved; the gradients are the closed forms of the header (STE: dL/dw = g inside
// the range; the sub-scale's LSQ gradient); and a QAT run of a micro Llama trains with each type
// (loss finite and 15% lower after 16 steps).
#include <QtTest>

#include <cmath>
#include <cstring>
#include <random>

#include "core/model/llama.h"
#include "core/model/llama_config.h"
#include "core/quant/model_quantizer.h"
#include "core/quant/weight_quantizer.h"
#include "core/util/error.h"
#include "tests/engine/ggml_lib.h"
#include "tests/engine/gguf_micro_model.h"

using namespace qatwb;
using namespace qatwb::quant;

namespace {

const GgmlQuant kAll[] = {GgmlQuant::Q4_0, GgmlQuant::Q8_0,  GgmlQuant::Q2_K,
                          GgmlQuant::Q3_K, GgmlQuant::Q4_K,  GgmlQuant::Q5_K,
                          GgmlQuant::Q6_K, GgmlQuant::TQ1_0, GgmlQuant::TQ2_0};

QuantScheme gguf_scheme(GgmlQuant t, Surrogate s = Surrogate::Ste) {
  QuantScheme q;
  q.format = Format::Gguf;
  q.gguf_type = t;
  q.surrogate = s;
  q.scale_mode = ScaleMode::Learned;
  return q;
}

torch::Tensor random_weight(int64_t rows, int64_t cols, int64_t seed) {
  torch::manual_seed(seed);
  auto w = torch::randn({rows, cols}) * 0.02;
  w.view(-1).index_put_({torch::randint(rows * cols, {30}, torch::kLong)},
                        torch::randn({30}) * 0.3);
  return w;
}

void add_type_rows() {
  QTest::addColumn<int>("type");
  for (GgmlQuant t : kAll) QTest::newRow(ggml_quant_spec(t).name) << static_cast<int>(t);
}

bool same_bits(const torch::Tensor& a, const torch::Tensor& b) {
  auto x = a.contiguous(), y = b.contiguous();
  return x.sizes() == y.sizes() && x.scalar_type() == y.scalar_type() &&
         std::memcmp(x.data_ptr(), y.data_ptr(), x.numel() * x.element_size()) == 0;
}

}  // namespace

class TestGgufQat : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void step0_is_llama_quantize_data() { add_type_rows(); }
  void step0_is_llama_quantize() {
    QFETCH(int, type);
    const auto t = static_cast<GgmlQuant>(type);
    auto w = random_weight(8, 768, type + 1);
    w[3].zero_();  // a zero row: zero blocks keep ggml's codes too
    WeightQuantizer wq(gguf_scheme(t), "model.layers.0.mlp.up_proj", w);
    const QuantizedTensor q = wq.quantize(w);
    const std::string want = test::ggml_lib().quantize(t, w.data_ptr<float>(), 8, 768);
    QCOMPARE(pack_ggml_blocks(q.ggml, "w"), want);
    // ... and the forward is ggml's dequantization of it.
    const auto ref = test::ggml_lib().dequantize(t, want, w.numel());
    auto y = wq.forward(w).contiguous();
    QVERIFY(std::memcmp(y.data_ptr<float>(), ref.data(), ref.size() * 4) == 0);
    QCOMPARE(q.bits, ggml_bits_per_weight(t));
  }

  // After the learned state moved (d, dmin, sub-scales, mins), with grad mode on and off and a
  // bf16 weight: forward == dequantize(quantize) bit for bit, and the packed blocks dequantize
  // (llama.cpp's dequantize_row) to the same values.
  void forward_is_dequantized_codes_data() { add_type_rows(); }
  void forward_is_dequantized_codes() {
    QFETCH(int, type);
    const auto t = static_cast<GgmlQuant>(type);
    auto w = random_weight(4, 512, 40 + type);
    WeightQuantizer wq(gguf_scheme(t), "w", w);
    {
      torch::NoGradGuard ng;
      torch::manual_seed(type);
      for (auto& p : wq.parameters()) p.add_(torch::randn_like(p) * 0.3);
      wq.project();
    }
    w = w + torch::randn_like(w) * 0.003;
    auto wg = w.clone().requires_grad_(true);
    auto y_grad = wq.forward(wg);
    torch::Tensor y_nograd;
    {
      torch::NoGradGuard ng;
      y_nograd = wq.forward(w);
    }
    const QuantizedTensor q = wq.quantize(w);
    auto deq = dequantize(q);
    QVERIFY(same_bits(y_grad.detach(), deq));
    QVERIFY(same_bits(y_nograd, deq));
    const std::string bytes = pack_ggml_blocks(q.ggml, "w");
    const auto ref = test::ggml_lib().dequantize(t, bytes, w.numel());
    QVERIFY(torch::equal(torch::from_blob(const_cast<float*>(ref.data()), {4, 512}), deq));
    auto wb = w.to(torch::kBFloat16);
    QVERIFY(torch::equal(wq.forward(wb), dequantize(wq.quantize(wb)).to(torch::kBFloat16)));
  }

  // STE: dL/dw = g where qmin <= v <= qmax, else 0; the sub-scale s~ of a K-quant gets
  // sum_k g_k d (q_k - v_k [in range]) (LSQ through the quantized sub-scale), all written out
  // here from the blocks.
  void gradients_closed_form() {
    const auto t = GgmlQuant::Q4_K;
    const auto& sp = ggml_quant_spec(t);
    auto w = random_weight(2, 256, 9);
    WeightQuantizer wq(gguf_scheme(t), "w", w);
    auto wg = w.clone().requires_grad_(true);
    torch::manual_seed(3);
    auto g = torch::randn({2, 256});
    (wq.forward(wg) * g).sum().backward();
    const QuantizedTensor q = wq.quantize(w);
    const GgmlBlocks& b = q.ggml;
    const float* wp = w.data_ptr<float>();
    const float* gp = g.data_ptr<float>();
    const float* gw = wg.grad().data_ptr<float>();
    std::vector<double> want_s(static_cast<size_t>(b.sub_blocks()), 0.0);
    for (int64_t k = 0; k < 512; ++k) {
      const int64_t sub = k / sp.sub, blk = k / sp.block;
      const float d = fp16_to_fp32(b.d[blk]), dmin = fp16_to_fp32(b.dmin[blk]);
      const float sigma = d * b.scales[sub], mu = dmin * b.mins[sub];
      const float v = (wp[k] + mu) / sigma;
      const bool in = v >= sp.qmin && v <= sp.qmax;
      QVERIFY2(std::fabs(gw[k] - (in ? gp[k] : 0.f)) <= 1e-6f * std::fabs(gp[k]),
               qPrintable(QString("element %1: %2 vs %3").arg(k).arg(gw[k]).arg(gp[k])));
      want_s[sub] += gp[k] * d * (b.codes[k] - (in ? v : 0.0));
    }
    torch::Tensor s_grad;
    for (auto& [name, p] : wq.state())
      if (name == "ggml_s") s_grad = p.grad();
    QVERIFY(s_grad.defined());
    for (size_t j = 0; j < want_s.size(); ++j)
      QVERIFY2(std::fabs(s_grad[j].item<double>() - want_s[j]) <= 1e-4 * (1 + std::fabs(want_s[j])),
               qPrintable(QString("sub-block %1: %2 vs %3")
                              .arg(j)
                              .arg(s_grad[j].item<double>())
                              .arg(want_s[j])));
  }

  // StableQAT shapes the weight gradient inside the range by G = (1 - S)/(1 + S).
  void stableqat_shapes_weight_gradient() {
    auto scheme = gguf_scheme(GgmlQuant::Q3_K, Surrogate::StableQat);
    scheme.params.amplitude = 0.2;
    scheme.params.fourier_order = 0;
    auto w = random_weight(1, 256, 5);
    WeightQuantizer wq(scheme, "w", w);
    auto wg = w.clone().requires_grad_(true);
    wq.forward(wg).sum().backward();
    const GgmlBlocks b = wq.quantize(w).ggml;
    const double c = std::sqrt(2.0) * M_PI * 0.2;
    int checked = 0;
    for (int64_t k = 0; k < 256; ++k) {
      const float sigma = fp16_to_fp32(b.d[0]) * b.scales[k / 16];
      const double v = static_cast<double>(w[0][k].item<float>() / sigma);
      if (v < -4 || v > 3) continue;
      const double s = c * std::cos(M_PI * (v + std::nearbyint(v)));
      QVERIFY(std::fabs(wg.grad()[0][k].item<double>() - (1 - s) / (1 + s)) < 1e-4);
      ++checked;
    }
    QVERIFY(checked > 200);
  }

  void refuses_what_it_cannot_do() {
    auto w = random_weight(4, 192, 1);
    QVERIFY_THROWS_EXCEPTION(Error, WeightQuantizer(gguf_scheme(GgmlQuant::Q2_K), "m", w));
    QVERIFY_THROWS_EXCEPTION(Error, WeightQuantizer(gguf_scheme(GgmlQuant::Q8_0, Surrogate::Dsq),
                                                    "m", random_weight(4, 256, 1)));
  }

  // A micro Llama (hidden 256 so every Linear holds whole super-blocks) trains with each type.
  void micro_llama_trains_data() {
    add_type_rows();
    QTest::newRow("q2_k stableqat") << -static_cast<int>(GgmlQuant::Q2_K) - 1;
  }
  void micro_llama_trains() {
    QFETCH(int, type);
    const bool stable = type < 0;
    const auto t = static_cast<GgmlQuant>(stable ? -type - 1 : type);
    model::Llama m(test::gguf_micro_config(256));
    m->init_weights(7);
    auto scheme = gguf_scheme(t, stable ? Surrogate::StableQat : Surrogate::Ste);
    auto q = std::make_shared<ModelQuantizer>(scheme, m->linear_weights());
    QCOMPARE(static_cast<int>(q->modules().size()), 7);
    m->set_weight_hook(q);
    std::vector<torch::Tensor> params;
    for (auto& p : m->parameters()) params.push_back(p);
    for (auto& p : q->parameters()) params.push_back(p);
    QVERIFY(!q->parameters().empty());
    torch::optim::AdamW opt(params, torch::optim::AdamWOptions(1e-2).weight_decay(0));
    // A learnable stream: each row counts up with its own stride.
    auto x = torch::empty({4, 48}, torch::kLong);
    for (int r = 0; r < 4; ++r)
      for (int k = 0; k < 48; ++k) x[r][k] = (17 * r + (r + 1) * k) % 256;
    std::vector<double> losses;
    for (int step = 0; step < 16; ++step) {
      auto logits = m->forward(x);
      auto loss = torch::nn::functional::cross_entropy(logits.slice(1, 0, 47).reshape({-1, 256}),
                                                       x.slice(1, 1, 48).reshape({-1}));
      opt.zero_grad();
      loss.backward();
      opt.step();
      q->project_parameters();
      losses.push_back(loss.item<double>());
      QVERIFY(std::isfinite(losses.back()));
    }
    QVERIFY2(losses.back() < 0.85 * losses.front(),
             qPrintable(QString("%1 -> %2").arg(losses.front()).arg(losses.back())));
  }
};

QTEST_APPLESS_MAIN(TestGgufQat)
#include "tst_gguf_qat.moc"
