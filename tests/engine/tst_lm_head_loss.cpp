// The fused, row-chunked lm_head + cross-entropy against closed forms computed here in float64
// (logits = h W^T, NLL = logsumexp - logit_target, dL/dlogits = softmax - onehot) and against the
// unfused path (full logits, torch's cross_entropy, autograd), for every chunking. With a
// teacher (distillation), against autograd of the unfused formula in float64:
// (1 - w) CE + w T^2 KL(softmax(z_t / T) || softmax(z_s / T)).
#include <ATen/autocast_mode.h>

#include <QtTest>

#include "core/eval/causal_lm_loss.h"
#include "core/model/llama.h"
#include "core/model/lm_head_loss.h"
#include "core/train/autocast.h"
#include "core/train/distillation.h"

using qatwb::model::lm_head_cross_entropy;
using qatwb::model::LmHeadLossOptions;

namespace {

// max |a - b| / max |b|: one relative error for a whole tensor.
double rel_err(const torch::Tensor& a, const torch::Tensor& b) {
  const auto bd = b.to(torch::kFloat64);
  const double scale = std::max(bd.abs().max().item<double>(), 1e-30);
  return (a.to(torch::kFloat64) - bd).abs().max().item<double>() / scale;
}

struct ClosedForm {
  double loss;
  torch::Tensor grad_h, grad_w;  // float64
};

ClosedForm closed_form(const torch::Tensor& h, const torch::Tensor& w, const torch::Tensor& t,
                       double scale) {
  const auto hd = h.to(torch::kFloat64).reshape({-1, h.size(-1)});
  const auto wd = w.to(torch::kFloat64);
  const auto logits = hd.matmul(wd.t());
  const auto tt = t.reshape({-1, 1});
  const auto mx = std::get<0>(logits.max(1, true));
  const auto lse = (logits - mx).exp().sum(1, true).log() + mx;
  const double loss = scale * (lse - logits.gather(1, tt)).sum().item<double>();
  auto g = (logits - lse).exp();
  g.scatter_add_(1, tt, -torch::ones({tt.size(0), 1}, torch::kFloat64));
  g = g * scale;
  return {loss, g.matmul(wd).reshape(h.sizes()), g.t().matmul(hd)};
}

// The distillation objective on full float64 logits, differentiated by autograd: written from
// the formula, not from the fused code's gradient.
ClosedForm distill_reference(const torch::Tensor& h, const torch::Tensor& w,
                             const torch::Tensor& ht, const torch::Tensor& wt,
                             const torch::Tensor& t, double T, double kd_w, double scale,
                             double* kd_sum) {
  auto hd = h.to(torch::kFloat64).reshape({-1, h.size(-1)}).detach().requires_grad_(true);
  auto wd = w.to(torch::kFloat64).detach().requires_grad_(true);
  const auto zt =
      ht.to(torch::kFloat64).reshape({-1, ht.size(-1)}).matmul(wt.to(torch::kFloat64).t());
  const auto zs = hd.matmul(wd.t());
  const auto nll = -torch::log_softmax(zs, 1).gather(1, t.reshape({-1, 1})).sum();
  const auto log_q = torch::log_softmax(zt / T, 1);
  const auto kl = (log_q.exp() * (log_q - torch::log_softmax(zs / T, 1))).sum() * (T * T);
  const auto loss = scale * ((1 - kd_w) * nll + kd_w * kl);
  loss.backward();
  *kd_sum = kl.item<double>();
  return {loss.item<double>(), hd.grad().reshape(h.sizes()), wd.grad()};
}

}  // namespace

class TstLmHeadLoss : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void initTestCase() { torch::manual_seed(7); }

  void matches_closed_form_for_every_chunking() {
    const int64_t B = 3, T = 11, d = 24, V = 301;
    const auto h0 = torch::randn({B, T, d}) * 2.0;
    const auto w0 = torch::randn({V, d}) * 0.5;
    const auto t = torch::randint(0, V, {B, T}, torch::kInt64);
    const double scale = 1.0 / (B * T);
    const auto ref = closed_form(h0, w0, t, scale);
    for (int64_t rows : {int64_t{1}, int64_t{7}, int64_t{32}, int64_t{0}}) {
      auto h = h0.clone().requires_grad_(true);
      auto w = w0.clone().requires_grad_(true);
      LmHeadLossOptions o;
      o.scale = scale;
      o.chunk_rows = rows;
      auto loss = lm_head_cross_entropy(h, w, t, o);
      QCOMPARE(loss.scalar_type(), torch::kFloat32);
      QVERIFY2(
          std::abs(loss.item<double>() - ref.loss) <= 1e-6 * std::abs(ref.loss),
          qPrintable(
              QString("rows %1: loss %2 vs %3").arg(rows).arg(loss.item<double>()).arg(ref.loss)));
      loss.backward();
      QVERIFY2(
          rel_err(h.grad(), ref.grad_h) < 1e-6,
          qPrintable(QString("rows %1 grad_h %2").arg(rows).arg(rel_err(h.grad(), ref.grad_h))));
      QVERIFY2(
          rel_err(w.grad(), ref.grad_w) < 1e-6,
          qPrintable(QString("rows %1 grad_w %2").arg(rows).arg(rel_err(w.grad(), ref.grad_w))));
      QCOMPARE(h.grad().sizes(), h.sizes());
    }
  }

  void equals_the_unfused_path() {
    const int64_t N = 64, d = 32, V = 1000;
    const auto h0 = torch::randn({N, d});
    const auto w0 = torch::randn({V, d}) * 0.3;
    const auto t = torch::randint(0, V, {N}, torch::kInt64);
    auto h1 = h0.clone().requires_grad_(true), w1 = w0.clone().requires_grad_(true);
    auto unfused = torch::nn::functional::cross_entropy(
        torch::linear(h1, w1), t,
        torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
    unfused.backward();
    auto h2 = h0.clone().requires_grad_(true), w2 = w0.clone().requires_grad_(true);
    LmHeadLossOptions o;
    o.chunk_rows = 5;
    auto fused = lm_head_cross_entropy(h2, w2, t, o);
    fused.backward();
    QVERIFY(std::abs(fused.item<double>() - unfused.item<double>()) <=
            1e-6 * std::abs(unfused.item<double>()));
    QVERIFY(rel_err(h2.grad(), h1.grad()) < 1e-6);
    QVERIFY(rel_err(w2.grad(), w1.grad()) < 1e-6);
  }

  void upstream_gradient_scales_and_no_grad_path_agrees() {
    const auto h0 = torch::randn({20, 8});
    const auto w0 = torch::randn({50, 8});
    const auto t = torch::randint(0, 50, {20}, torch::kInt64);
    const auto ref = closed_form(h0, w0, t, 1.0);
    auto h = h0.clone().requires_grad_(true), w = w0.clone().requires_grad_(true);
    LmHeadLossOptions o;
    o.chunk_rows = 3;
    (lm_head_cross_entropy(h, w, t, o) * 2.5).backward();
    QVERIFY(rel_err(h.grad(), ref.grad_h * 2.5) < 1e-6);
    QVERIFY(rel_err(w.grad(), ref.grad_w * 2.5) < 1e-6);
    // Only the weight requires grad: the hidden states get none, the weight the same as before.
    auto w2 = w0.clone().requires_grad_(true);
    lm_head_cross_entropy(h0, w2, t, o).backward();
    QVERIFY(rel_err(w2.grad(), ref.grad_w) < 1e-6);
    torch::NoGradGuard no_grad;
    const auto l = lm_head_cross_entropy(h0, w0, t, o);
    QVERIFY(!l.requires_grad());
    QVERIFY(std::abs(l.item<double>() - ref.loss) <= 1e-6 * ref.loss);
  }

  void chunk_rows_follow_the_budget() {
    LmHeadLossOptions o;
    o.chunk_elements = 32000 * 600;
    o.min_rows = 256;
    QCOMPARE(qatwb::model::lm_head_chunk_rows(2048, 32000, o), int64_t{600});
    QCOMPARE(qatwb::model::lm_head_chunk_rows(10, 32000, o), int64_t{10});
    o.chunk_elements = 10;  // the floor wins
    QCOMPARE(qatwb::model::lm_head_chunk_rows(2048, 32000, o), int64_t{256});
    o.min_rows = 1;
    QCOMPARE(qatwb::model::lm_head_chunk_rows(2048, 32000, o), int64_t{1});
    o.chunk_rows = 7;
    QCOMPARE(qatwb::model::lm_head_chunk_rows(2048, 32000, o), int64_t{7});
  }

  // Distillation in the fused loop: loss, both sums and both gradients against autograd of the
  // unfused formula, for temperatures 1 and 2.5, pure KD and mixed, every chunking; a teacher
  // with its own hidden size.
  void distillation_matches_autograd_of_the_formula() {
    const int64_t B = 2, Tn = 9, d = 20, dt = 12, V = 173;
    const auto h0 = torch::randn({B, Tn, d});
    const auto w0 = torch::randn({V, d}) * 0.5;
    const auto ht = torch::randn({B, Tn, dt});
    const auto wt = torch::randn({V, dt}) * 0.7;
    const auto t = torch::randint(0, V, {B, Tn}, torch::kInt64);
    const double scale = 1.0 / (B * Tn);
    for (double temp : {1.0, 2.5}) {
      for (double kd_w : {1.0, 0.3}) {
        double kd_ref = 0;
        const auto ref = distill_reference(h0, w0, ht, wt, t, temp, kd_w, scale, &kd_ref);
        QVERIFY(kd_ref > 0.1);  // a real difference between teacher and student
        for (int64_t rows : {int64_t{1}, int64_t{5}, int64_t{0}}) {
          auto h = h0.clone().requires_grad_(true);
          auto w = w0.clone().requires_grad_(true);
          LmHeadLossOptions o;
          o.scale = scale;
          o.chunk_rows = rows;
          qatwb::model::DistillTerm term{ht, wt, temp, kd_w};
          qatwb::model::LossParts parts;
          auto loss = qatwb::model::lm_head_loss(h, w, t, o, &term, &parts);
          loss.backward();
          const QString what = QString("T %1 w %2 rows %3").arg(temp).arg(kd_w).arg(rows);
          QVERIFY2(std::abs(loss.item<double>() - ref.loss) < 1e-5 * std::abs(ref.loss),
                   qPrintable(what + QString(": %1 vs %2").arg(loss.item<double>()).arg(ref.loss)));
          QVERIFY2(std::abs(parts.kd_sum.item<double>() - kd_ref) < 1e-5 * kd_ref,
                   qPrintable(what));
          QVERIFY2(rel_err(h.grad(), ref.grad_h) < 1e-5, qPrintable(what));
          QVERIFY2(rel_err(w.grad(), ref.grad_w) < 1e-5, qPrintable(what));
        }
      }
    }
  }

  // A teacher equal to the student: KL 0 and the gradient is the CE gradient times (1 - w)
  // (pure KD: zero); without grad mode the same loss.
  void teacher_equal_to_student_has_zero_kl() {
    const int64_t N = 40, d = 16, V = 97;
    const auto h0 = torch::randn({N, d});
    const auto w0 = torch::randn({V, d});
    const auto t = torch::randint(0, V, {N}, torch::kInt64);
    const auto ce = closed_form(h0, w0, t, 1.0);
    for (double temp : {1.0, 4.0}) {
      auto h = h0.clone().requires_grad_(true);
      auto w = w0.clone().requires_grad_(true);
      qatwb::model::DistillTerm term{h0, w0, temp, 0.25};
      qatwb::model::LossParts parts;
      auto loss = qatwb::model::lm_head_loss(h, w, t, {}, &term, &parts);
      loss.backward();
      QVERIFY(std::abs(parts.kd_sum.item<double>()) < 1e-4);
      QVERIFY(std::abs(loss.item<double>() - 0.75 * ce.loss) < 1e-4 * ce.loss);
      QVERIFY(rel_err(h.grad(), ce.grad_h * 0.75) < 1e-5);
      QVERIFY(rel_err(w.grad(), ce.grad_w * 0.75) < 1e-5);
      torch::NoGradGuard no_grad;
      const auto again = qatwb::model::lm_head_loss(h0, w0, t, {}, &term, nullptr);
      QCOMPARE(again.item<double>(), loss.item<double>());
    }
  }

  // The self_fp teacher of a model is a frozen copy: KL 0 on the model itself, the student's
  // gradients those of pure KD (zero), and the teacher unchanged when the student changes.
  void self_teacher_is_a_frozen_copy() {
    auto cfg = qatwb::model::preset("llama-micro", 211);
    qatwb::model::Llama m(cfg);
    m->init_weights(5);
    qatwb::project::DistillSection d;
    d.enabled = true;
    qatwb::train::Teacher teacher(d, m, torch::kCPU, false);
    QCOMPARE(teacher.parameter_count(), cfg.num_parameters());
    const auto windows = torch::randint(0, 211, {2, 17}, torch::kInt64);
    auto r = teacher.loss_sum(m, windows, 1.0 / 32);
    QVERIFY(std::abs(r.kd_sum.item<double>()) < 1e-4);
    QCOMPARE(r.tokens, int64_t{32});
    QVERIFY(r.nll_sum.item<double>() > 32 * 4.0);  // random model: about log(211) per token
    r.loss.backward();
    for (auto& p : m->parameters())
      if (p.grad().defined()) QVERIFY(p.grad().abs().max().item<double>() < 1e-5);
    {
      torch::NoGradGuard g;
      for (auto& p : m->parameters()) p.add_(torch::randn_like(p) * 0.05);
    }
    const auto after = teacher.loss_sum(m, windows, 1.0 / 32);
    QVERIFY(after.kd_sum.item<double>() > 1e-3);  // the copy did not move with the student
  }

  // The whole model, tied embeddings: the lm_head gradient and the embedding lookup's gradient
  // meet in one parameter; every parameter's gradient equals the unfused model's.
  void model_gradients_equal_unfused_fp32_and_bf16() {
    auto cfg = qatwb::model::preset("llama-micro", 211);
    for (bool tied : {true, false}) {
      cfg.tie_word_embeddings = tied;
      qatwb::model::Llama m(cfg);
      m->init_weights(3);
      const auto windows = torch::randint(0, 211, {2, 17}, torch::kInt64);
      using torch::indexing::Slice;
      const auto inputs = windows.index({Slice(), Slice(0, -1)});
      const auto targets = windows.index({Slice(), Slice(1, torch::indexing::None)}).reshape({-1});
      for (bool bf16 : {false, true}) {
        std::vector<torch::Tensor> unfused, fused;
        double lu = 0, lf = 0;
        {
          m->zero_grad(true);
          qatwb::train::AutocastGuard ac(bf16, torch::kCPU);
          auto logits = m->forward(inputs);
          auto loss = torch::nn::functional::cross_entropy(logits.reshape({-1, 211}), targets);
          loss.backward();
          lu = loss.item<double>();
          for (auto& p : m->parameters()) unfused.push_back(p.grad().clone());
        }
        {
          m->zero_grad(true);
          qatwb::train::AutocastGuard ac(bf16, torch::kCPU);
          auto loss = qatwb::eval::causal_lm_loss_sum(m, windows, 1.0 / targets.numel()).nll_sum;
          loss.backward();
          lf = loss.item<double>();
          for (auto& p : m->parameters()) fused.push_back(p.grad().clone());
        }
        const double tol = bf16 ? 2e-2 : 1e-6;
        QVERIFY2(
            std::abs(lf - lu) <= (bf16 ? 1e-3 : 1e-6) * std::abs(lu),
            qPrintable(QString("tied %1 bf16 %2: %3 vs %4").arg(tied).arg(bf16).arg(lf).arg(lu)));
        QCOMPARE(fused.size(), unfused.size());
        for (size_t i = 0; i < fused.size(); ++i)
          QVERIFY2(rel_err(fused[i], unfused[i]) < tol,
                   qPrintable(QString("tied %1 bf16 %2 param %3: %4")
                                  .arg(tied)
                                  .arg(bf16)
                                  .arg(i)
                                  .arg(rel_err(fused[i], unfused[i]))));
      }
    }
  }
};

QTEST_APPLESS_MAIN(TstLmHeadLoss)
#include "tst_lm_head_loss.moc"
