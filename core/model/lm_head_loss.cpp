#include "core/model/lm_head_loss.h"

#include <ATen/autocast_mode.h>

#include <algorithm>
#include <optional>

#include "core/util/error.h"

namespace qatwb::model {
namespace {

// Inside the fused op every cast is explicit: autocast is switched off and restored after.
class NoAutocast {
 public:
  NoAutocast() : cpu_(at::autocast::is_cpu_enabled()), gpu_(at::autocast::is_enabled()) {
    at::autocast::set_cpu_enabled(false);
    at::autocast::set_enabled(false);
  }
  ~NoAutocast() {
    at::autocast::set_cpu_enabled(cpu_);
    at::autocast::set_enabled(gpu_);
  }
  NoAutocast(const NoAutocast&) = delete;
  NoAutocast& operator=(const NoAutocast&) = delete;

 private:
  bool cpu_, gpu_;
};

// The dtype the GEMMs run in: the autocast dtype where autocast is on for the device (as
// autocast's linear), else the hidden states' dtype.
torch::ScalarType compute_dtype(const torch::Tensor& hidden) {
  if (hidden.device().is_cpu() && at::autocast::is_cpu_enabled())
    return at::autocast::get_autocast_cpu_dtype();
  if (!hidden.device().is_cpu() && at::autocast::is_enabled())
    return at::autocast::get_autocast_gpu_dtype();
  return hidden.scalar_type();
}

struct ChunkedResult {
  torch::Tensor loss;     // float32 scalar: scale * sum of the per-row losses
  torch::Tensor nll_sum;  // float32 scalar, unscaled
  torch::Tensor kd_sum;   // float32 scalar, unscaled (with a teacher)
  torch::Tensor grad_h;   // [N, d] float32, defined when gradients were computed
  torch::Tensor grad_w;   // [V, d] float32
};

// The teacher's rows in the compute dtype, with the loss's weights.
struct TeacherRows {
  torch::Tensor h;  // [N, d_t]
  torch::Tensor w;  // [V, d_t]
  double temperature = 1.0;
  double kd_weight = 1.0;
};

torch::Tensor sum_of(const std::vector<torch::Tensor>& parts) {
  return parts.size() == 1 ? parts[0] : torch::stack(parts).sum();
}

// The one loop behind every path. h: [N, d] and w: [V, d] already in the compute dtype.
ChunkedResult chunked(const torch::Tensor& h, const torch::Tensor& w, const torch::Tensor& t,
                      const LmHeadLossOptions& o, const TeacherRows* teacher, bool want_h,
                      bool want_w) {
  const int64_t n = h.size(0), vocab = w.size(0), d = h.size(1);
  // A teacher keeps two more [rows, vocab] float32 tensors alive per chunk: halve the rows.
  LmHeadLossOptions budget = o;
  if (teacher && budget.chunk_rows <= 0) budget.chunk_elements /= 2;
  const int64_t rows = lm_head_chunk_rows(n, vocab, budget);
  const bool low = h.scalar_type() != torch::kFloat32;
  const auto f32 = h.options().dtype(torch::kFloat32);
  const double T = teacher ? teacher->temperature : 1.0;
  const double kd_w = teacher ? teacher->kd_weight : 0.0;
  const double ce_w = 1.0 - kd_w;
  ChunkedResult r;
  if (want_h) r.grad_h = torch::empty({n, d}, f32);
  if (want_w) r.grad_w = torch::zeros({vocab, d}, f32);
  std::vector<torch::Tensor> nll_sums, kd_sums;
  const auto wt = w.t();
  const auto teacher_wt = teacher ? teacher->w.t() : torch::Tensor();
  for (int64_t r0 = 0; r0 < n; r0 += rows) {
    const int64_t m = std::min(rows, n - r0);
    const auto hc = h.narrow(0, r0, m);
    const auto tc = t.narrow(0, r0, m).unsqueeze(1);
    auto logits = torch::mm(hc, wt);
    if (low) logits = logits.to(torch::kFloat32);
    auto logp = torch::log_softmax(logits, 1);
    nll_sums.push_back(logp.gather(1, tc).sum().neg());
    torch::Tensor soft_s, soft_t;  // log p_T and q_T (teacher only)
    if (teacher) {
      auto zt = torch::mm(teacher->h.narrow(0, r0, m), teacher_wt);
      if (zt.scalar_type() != torch::kFloat32) zt = zt.to(torch::kFloat32);
      if (T != 1.0) {
        zt.div_(T);
        soft_s = torch::log_softmax(logits.div_(T), 1);
      } else {
        soft_s = logp;
      }
      auto log_q = torch::log_softmax(zt, 1);
      zt = torch::Tensor();
      soft_t = log_q.exp();
      // sum q (log q - log p_T), without a [rows, vocab] temporary.
      log_q.sub_(soft_s);
      kd_sums.push_back(torch::dot(soft_t.view(-1), log_q.view(-1)).mul(T * T));
    }
    logits = torch::Tensor();
    if (!want_h && !want_w) continue;
    // d(scale * loss)/d logits, in place over the log-probabilities:
    //   ce_w * (p - onehot) + kd_w * T * (p_T - q_T).
    auto g = logp.exp_();  // p (and p_T as well when T == 1: soft_s aliases logp)
    if (teacher) {
      if (T == 1.0) {
        g.sub_(soft_t, kd_w);  // (ce_w + kd_w) p - kd_w q = p - kd_w q
      } else {
        if (ce_w != 1.0) g.mul_(ce_w);
        g.add_(soft_s.exp_(), kd_w * T).sub_(soft_t, kd_w * T);
      }
    }
    if (ce_w != 0.0) g.scatter_add_(1, tc, torch::full({m, 1}, -ce_w, f32));
    if (o.scale != 1.0) g.mul_(o.scale);
    soft_s = soft_t = torch::Tensor();
    const auto gc = low ? g.to(h.scalar_type()) : g;
    if (want_h) {
      if (low)
        r.grad_h.narrow(0, r0, m).copy_(torch::mm(gc, w));
      else {
        auto out = r.grad_h.narrow(0, r0, m);
        torch::mm_out(out, gc, w);
      }
    }
    if (want_w) {
      if (low)
        r.grad_w.add_(torch::mm(gc.t(), hc));
      else
        r.grad_w.addmm_(gc.t(), hc);
    }
  }
  r.nll_sum = sum_of(nll_sums);
  torch::Tensor total = r.nll_sum;
  if (teacher) {
    r.kd_sum = sum_of(kd_sums);
    total = kd_w == 1.0 ? r.kd_sum : r.nll_sum * ce_w + r.kd_sum * kd_w;
  }
  r.loss = o.scale != 1.0 ? total.mul(o.scale) : total;
  return r;
}

class LmHeadLossFn : public torch::autograd::Function<LmHeadLossFn> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& hidden,
                               const torch::Tensor& weight, const torch::Tensor& h,
                               const torch::Tensor& w, const torch::Tensor& targets,
                               const LmHeadLossOptions& options, const TeacherRows* teacher,
                               ChunkedResult* sums) {
    const bool want_h = hidden.requires_grad(), want_w = weight.requires_grad();
    auto r = chunked(h, w, targets, options, teacher, want_h, want_w);
    ctx->saved_data["hidden_shape"] = hidden.sizes().vec();
    ctx->saved_data["hidden_dtype"] = static_cast<int64_t>(hidden.scalar_type());
    ctx->saved_data["weight_dtype"] = static_cast<int64_t>(weight.scalar_type());
    // Gradients computed in forward are plain tensors held for backward, not graph inputs.
    ctx->saved_data["grad_h"] = want_h ? r.grad_h : torch::Tensor();
    ctx->saved_data["grad_w"] = want_w ? r.grad_w : torch::Tensor();
    sums->nll_sum = r.nll_sum;
    sums->kd_sum = r.kd_sum;
    return r.loss;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const auto& g = grads[0];
    // A loss's own gradient is exactly 1: then the saved gradients are the answer as they are.
    const bool unit = g.device().is_cpu() && g.numel() == 1 && g.item<double>() == 1.0;
    auto scaled = [&](const char* key, const char* dtype_key) {
      auto t = ctx->saved_data[key].toTensor();
      if (!t.defined()) return torch::Tensor();
      if (!unit) t = t * g.to(t.scalar_type());
      const auto dtype = static_cast<torch::ScalarType>(ctx->saved_data[dtype_key].toInt());
      return t.scalar_type() == dtype ? t : t.to(dtype);
    };
    auto gh = scaled("grad_h", "hidden_dtype");
    if (gh.defined()) gh = gh.view(ctx->saved_data["hidden_shape"].toIntVector());
    auto gw = scaled("grad_w", "weight_dtype");
    ctx->saved_data.clear();
    // One entry per forward argument: hidden, weight, h, w, targets, options, teacher, sums.
    return {gh,
            gw,
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor()};
  }
};

}  // namespace

int64_t lm_head_chunk_rows(int64_t rows, int64_t vocab, const LmHeadLossOptions& o) {
  int64_t r = o.chunk_rows > 0
                  ? o.chunk_rows
                  : std::max(o.min_rows, o.chunk_elements / std::max<int64_t>(vocab, 1));
  return std::clamp<int64_t>(r, 1, std::max<int64_t>(rows, 1));
}

torch::Tensor lm_head_cross_entropy(const torch::Tensor& hidden, const torch::Tensor& weight,
                                    const torch::Tensor& targets,
                                    const LmHeadLossOptions& options) {
  return lm_head_loss(hidden, weight, targets, options, nullptr);
}

torch::Tensor lm_head_loss(const torch::Tensor& hidden, const torch::Tensor& weight,
                           const torch::Tensor& targets, const LmHeadLossOptions& options,
                           const DistillTerm* distill, LossParts* parts) {
  const int64_t d = hidden.size(-1);
  if (weight.dim() != 2 || weight.size(1) != d)
    throw Error("lm_head_loss: weight must be [vocab, " + std::to_string(d) + "]");
  const auto t = targets.reshape({-1}).to(torch::kInt64);
  const int64_t n = t.numel();
  if (n * d != hidden.numel())
    throw Error("lm_head_loss: " + std::to_string(n) + " targets for " +
                std::to_string(hidden.numel() / d) + " hidden rows");
  const auto dtype = compute_dtype(hidden);
  NoAutocast no_autocast;
  std::optional<TeacherRows> teacher;
  if (distill) {
    const auto& dt = *distill;
    const int64_t dt_dim = dt.hidden.size(-1);
    if (dt.weight.dim() != 2 || dt.weight.size(0) != weight.size(0) || dt.weight.size(1) != dt_dim)
      throw Error("lm_head_loss: the teacher's weight must be [" + std::to_string(weight.size(0)) +
                  ", " + std::to_string(dt_dim) + "] (the student's vocabulary)");
    if (dt.hidden.numel() != n * dt_dim)
      throw Error("lm_head_loss: the teacher's hidden states have " +
                  std::to_string(dt.hidden.numel() / dt_dim) + " rows, the student's " +
                  std::to_string(n));
    if (!(dt.temperature > 0) || !(dt.kd_weight >= 0 && dt.kd_weight <= 1))
      throw Error("lm_head_loss: temperature must be > 0 and kd_weight in [0, 1]");
    teacher = TeacherRows{dt.hidden.detach().reshape({-1, dt_dim}).to(dtype).contiguous(),
                          dt.weight.detach().to(dtype), dt.temperature, dt.kd_weight};
  }
  const TeacherRows* tr = teacher ? &*teacher : nullptr;
  const auto h = hidden.reshape({-1, d}).to(dtype).contiguous();
  const auto w = weight.to(dtype);
  const bool grad =
      torch::GradMode::is_enabled() && (hidden.requires_grad() || weight.requires_grad());
  ChunkedResult sums;
  torch::Tensor loss;
  if (!grad) {
    sums = chunked(h, w, t, options, tr, false, false);
    loss = sums.loss;
  } else {
    // h and w (the compute-dtype copies) ride along as non-differentiable inputs so the function
    // sees them without casting again; hidden and weight are the differentiable ones.
    loss = LmHeadLossFn::apply(hidden, weight, h.detach(), w.detach(), t, options, tr, &sums);
  }
  if (parts) {
    parts->nll_sum = sums.nll_sum.detach();
    parts->kd_sum = sums.kd_sum.defined() ? sums.kd_sum.detach() : torch::Tensor();
  }
  return loss;
}

}  // namespace qatwb::model
