#include "core/model/lm_head_loss.h"

#include <ATen/autocast_mode.h>

#include <algorithm>

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
  torch::Tensor loss;       // float32 scalar
  torch::Tensor grad_h;     // [N, d] float32, defined when gradients were computed
  torch::Tensor grad_w;     // [V, d] float32
};

// The one loop behind both paths. h: [N, d] and w: [V, d] already in the compute dtype.
ChunkedResult chunked(const torch::Tensor& h, const torch::Tensor& w, const torch::Tensor& t,
                      const LmHeadLossOptions& o, bool want_h, bool want_w) {
  const int64_t n = h.size(0), vocab = w.size(0), d = h.size(1);
  const int64_t rows = lm_head_chunk_rows(n, vocab, o);
  const bool low = h.scalar_type() != torch::kFloat32;
  const auto f32 = h.options().dtype(torch::kFloat32);
  ChunkedResult r;
  if (want_h) r.grad_h = torch::empty({n, d}, f32);
  if (want_w) r.grad_w = torch::zeros({vocab, d}, f32);
  std::vector<torch::Tensor> sums;
  sums.reserve(static_cast<size_t>((n + rows - 1) / rows));
  const auto wt = w.t();
  for (int64_t r0 = 0; r0 < n; r0 += rows) {
    const int64_t m = std::min(rows, n - r0);
    const auto hc = h.narrow(0, r0, m);
    const auto tc = t.narrow(0, r0, m).unsqueeze(1);
    auto logits = torch::mm(hc, wt);
    if (low) logits = logits.to(torch::kFloat32);
    auto logp = torch::log_softmax(logits, 1);
    logits = torch::Tensor();
    sums.push_back(logp.gather(1, tc).sum().neg());
    if (!want_h && !want_w) continue;
    // d(scale * NLL)/d logits = scale * (softmax - onehot), in place over the log-probabilities.
    auto g = logp.exp_();
    g.scatter_add_(1, tc, torch::full({m, 1}, -1.0, f32));
    if (o.scale != 1.0) g.mul_(o.scale);
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
  auto total = sums.size() == 1 ? sums[0] : torch::stack(sums).sum();
  r.loss = o.scale != 1.0 ? total.mul(o.scale) : total;
  return r;
}

class LmHeadCrossEntropyFn : public torch::autograd::Function<LmHeadCrossEntropyFn> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& hidden,
                               const torch::Tensor& weight, const torch::Tensor& h,
                               const torch::Tensor& w, const torch::Tensor& targets,
                               const LmHeadLossOptions& options) {
    const bool want_h = hidden.requires_grad(), want_w = weight.requires_grad();
    auto r = chunked(h, w, targets, options, want_h, want_w);
    ctx->saved_data["hidden_shape"] = hidden.sizes().vec();
    ctx->saved_data["hidden_dtype"] = static_cast<int64_t>(hidden.scalar_type());
    ctx->saved_data["weight_dtype"] = static_cast<int64_t>(weight.scalar_type());
    // Gradients computed in forward are plain tensors held for backward, not graph inputs.
    ctx->saved_data["grad_h"] = want_h ? r.grad_h : torch::Tensor();
    ctx->saved_data["grad_w"] = want_w ? r.grad_w : torch::Tensor();
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
    // One entry per forward argument: hidden, weight, h, w, targets, options.
    return {gh, gw, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
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
  const int64_t d = hidden.size(-1);
  if (weight.dim() != 2 || weight.size(1) != d)
    throw Error("lm_head_cross_entropy: weight must be [vocab, " + std::to_string(d) + "]");
  const auto t = targets.reshape({-1}).to(torch::kInt64);
  if (t.numel() * d != hidden.numel())
    throw Error("lm_head_cross_entropy: " + std::to_string(t.numel()) + " targets for " +
                std::to_string(hidden.numel() / d) + " hidden rows");
  const auto dtype = compute_dtype(hidden);
  NoAutocast no_autocast;
  const auto h = hidden.reshape({-1, d}).to(dtype).contiguous();
  const auto w = weight.to(dtype);
  const bool grad = torch::GradMode::is_enabled() &&
                    (hidden.requires_grad() || weight.requires_grad());
  if (!grad) return chunked(h, w, t, options, false, false).loss;
  // h and w (the compute-dtype copies) ride along as non-differentiable inputs so the function
  // sees them without casting again; hidden and weight are the differentiable ones.
  return LmHeadCrossEntropyFn::apply(hidden, weight, h.detach(), w.detach(), t, options);
}

}  // namespace qatwb::model
