// The fused RMSNorm and SwiGLU (core/model/fused_layers) against float64 closed forms: values,
// gradients by autograd of the float64 formula, the row-chunked weight gradient, inputs that
// need no gradient, the dispatch to the reference for other dtypes, and a Llama step with the
// fused layers on and off.
#include <ATen/CPUGeneratorImpl.h>

#include <QtTest>

#include "core/model/fused_layers.h"
#include "core/model/hf_checkpoint.h"
#include "core/model/llama.h"

using namespace qatwb::model;

namespace {

torch::Tensor randn(std::vector<int64_t> shape, uint64_t seed, double scale = 1.0) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return torch::randn(shape, gen, torch::kFloat32).mul(scale);
}

// max |a - b| / (atol + rtol |b|) <= 1.
bool close(const torch::Tensor& a, const torch::Tensor& b, double rtol, double atol) {
  const auto bd = b.to(torch::kFloat64);
  const auto err = (a.to(torch::kFloat64) - bd).abs() / (bd.abs() * rtol + atol);
  const double worst = err.max().item<double>();
  if (worst > 1) qWarning("worst error ratio %.3g", worst);
  return worst <= 1;
}

// float64 closed forms, written from the definitions (not from fused_layers.cpp).
torch::Tensor rms64(const torch::Tensor& x, const torch::Tensor& w, double eps) {
  return w * x / torch::sqrt(x.pow(2).mean(-1, true) + eps);
}
torch::Tensor swiglu64(const torch::Tensor& g, const torch::Tensor& u) {
  return g / (1 + torch::exp(-g)) * u;
}

struct Grads {
  torch::Tensor a, b;
};
// Gradients of sum(f(a, b) * probe) with respect to a and b.
template <typename F>
Grads grads_of(F f, const torch::Tensor& a0, const torch::Tensor& b0, const torch::Tensor& probe) {
  auto a = a0.detach().clone().requires_grad_(true);
  auto b = b0.detach().clone().requires_grad_(true);
  (f(a, b) * probe.to(a.scalar_type())).sum().backward();
  return {a.grad(), b.grad()};
}

}  // namespace

class TestFusedLayers : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void rms_norm_values_and_gradients() {
    const double eps = 1e-5;
    // d = 37 exercises the tails of the 8-wide loops; 2048 x 256 the row chunks of the weight
    // gradient (several partial rows summed).
    for (auto shape : {std::vector<int64_t>{3, 5, 37}, std::vector<int64_t>{2048, 256},
                       std::vector<int64_t>{1, 8}}) {
      const int64_t d = shape.back();
      const auto x = randn(shape, 1, 2.0);
      const auto w = randn({d}, 2).add(1.0);
      const auto probe = randn(shape, 3);
      QVERIFY(close(rms_norm(x, w, eps), rms64(x.to(torch::kFloat64), w.to(torch::kFloat64), eps),
                    2e-6, 1e-7));
      const auto ours = grads_of([&](auto a, auto b) { return rms_norm(a, b, eps); }, x, w, probe);
      const auto ref = grads_of([&](auto a, auto b) { return rms64(a, b, eps); },
                                x.to(torch::kFloat64), w.to(torch::kFloat64), probe);
      QVERIFY(close(ours.a, ref.a, 1e-5, 1e-6));
      QVERIFY(close(ours.b, ref.b, 1e-5, 1e-4));
    }
    // Rows of zeros: y = 0, gradient w * gy / sqrt(eps).
    const auto z = torch::zeros({4, 16});
    const auto w = randn({16}, 4);
    QVERIFY(rms_norm(z, w, 1e-2).abs().max().item<float>() == 0.f);
    auto zg = z.clone().requires_grad_(true);
    rms_norm(zg, w, 1e-2).sum().backward();
    QVERIFY(close(zg.grad(), (w / std::sqrt(1e-2)).expand({4, 16}), 1e-6, 1e-7));
  }

  void rms_norm_only_the_gradients_asked_for() {
    const auto x = randn({64, 24}, 5);
    const auto w = randn({24}, 6);
    const auto probe = randn({64, 24}, 7);
    auto xr = x.clone().requires_grad_(true);
    (rms_norm(xr, w, 1e-6) * probe).sum().backward();  // a frozen weight (the KD teacher)
    QVERIFY(!w.grad().defined());
    const auto ref = grads_of([&](auto a, auto b) { return rms64(a, b, 1e-6); },
                              x.to(torch::kFloat64), w.to(torch::kFloat64), probe);
    QVERIFY(close(xr.grad(), ref.a, 1e-5, 1e-6));
    auto wr = w.clone().requires_grad_(true);
    (rms_norm(x, wr, 1e-6) * probe).sum().backward();
    QVERIFY(close(wr.grad(), ref.b, 1e-5, 1e-5));
  }

  void swiglu_values_and_gradients() {
    // Large |gate| checks the exponential's range: silu(-100) = -3.7e-42, silu(100) = 100.
    auto g = randn({7, 1000}, 8, 4.0);
    g.index_put_({0, 0}, 100.f);
    g.index_put_({0, 1}, -100.f);
    g.index_put_({0, 2}, 88.f);
    g.index_put_({0, 3}, -88.f);
    g.index_put_({0, 4}, 0.f);
    const auto u = randn({7, 1000}, 9);
    const auto probe = randn({7, 1000}, 10);
    const auto g64 = g.to(torch::kFloat64), u64 = u.to(torch::kFloat64);
    QVERIFY(close(swiglu(g, u), swiglu64(g64, u64), 3e-6, 1e-30));
    const auto ours = grads_of([](auto a, auto b) { return swiglu(a, b); }, g, u, probe);
    const auto ref = grads_of([](auto a, auto b) { return swiglu64(a, b); }, g64, u64, probe);
    // d/dg = probe u sig (1 + g (1 - sig)) crosses zero near g = -1.278, where a relative bound
    // is meaningless: the error is bounded by the size of its two terms instead.
    const auto sig = torch::sigmoid(g64);
    const auto terms = (probe.to(torch::kFloat64) * u64).abs() * sig * (1 + g64.abs() * (1 - sig));
    const double worst =
        ((ours.a.to(torch::kFloat64) - ref.a).abs() / (terms + 1e-30)).max().item<double>();
    QVERIFY2(worst <= 5e-6, qPrintable(QString("gate gradient error %1 of its terms").arg(worst)));
    QVERIFY(close(ours.b, ref.b, 3e-6, 1e-30));
  }

  void other_dtypes_take_the_reference() {
    const auto x = randn({6, 32}, 11).to(torch::kBFloat16);
    const auto w = randn({32}, 12).to(torch::kBFloat16);
    QVERIFY(torch::equal(rms_norm(x, w, 1e-5), rms_norm_reference(x, w, 1e-5)));
    QVERIFY(torch::equal(swiglu(x, x), swiglu_reference(x, x)));
    const auto xd = randn({6, 32}, 13).to(torch::kFloat64);
    QVERIFY(torch::equal(rms_norm(xd, xd[0], 1e-5), rms_norm_reference(xd, xd[0], 1e-5)));
  }

  // A llama-micro training loss and its gradients with the fused layers on and off.
  void llama_step_matches_the_unfused_model() {
    auto model = create_from_preset("llama-micro", 211, 3);
    auto gen = at::make_generator<at::CPUGeneratorImpl>(uint64_t{14});
    const auto ids = torch::randint(0, 211, {3, 40}, gen, torch::kInt64);
    auto run = [&](bool fused) {
      set_fused_layers_enabled(fused);
      model->zero_grad();
      using torch::indexing::Slice;
      const auto logits = model->forward(ids);
      auto loss = torch::nn::functional::cross_entropy(
          logits.index({Slice(), Slice(0, -1)}).reshape({-1, logits.size(-1)}),
          ids.index({Slice(), Slice(1)}).reshape({-1}));
      loss.backward();
      std::vector<torch::Tensor> g;
      for (const auto& p : model->parameters()) g.push_back(p.grad().clone());
      set_fused_layers_enabled(true);
      return std::make_pair(loss.item<double>(), g);
    };
    const auto [l_fused, g_fused] = run(true);
    const auto [l_ref, g_ref] = run(false);
    QVERIFY(std::abs(l_fused - l_ref) <= 1e-6 * std::abs(l_ref));
    QCOMPARE(g_fused.size(), g_ref.size());
    for (size_t i = 0; i < g_ref.size(); ++i)
      QVERIFY(close(g_fused[i], g_ref[i], 1e-4, 1e-6 * (g_ref[i].abs().max().item<double>() + 1)));
  }
};

QTEST_GUILESS_MAIN(TestFusedLayers)
#include "tst_fused_layers.moc"
