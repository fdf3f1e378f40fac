#include "core/model/llama_layers.h"

#include <torch/version.h>

#include <cmath>
#include <limits>

#include "core/model/fused_layers.h"

namespace qatwb::model {

RMSNormImpl::RMSNormImpl(int64_t dim, double eps, torch::TensorOptions options) : eps_(eps) {
  weight_ = register_parameter("weight", torch::ones({dim}, options));
}

torch::Tensor RMSNormImpl::apply(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
  return rms_norm(x, weight, eps);
}

HookedLinearImpl::HookedLinearImpl(std::string name, int64_t in_features, int64_t out_features,
                                   torch::TensorOptions options)
    : name_(std::move(name)) {
  weight_ = register_parameter("weight", torch::empty({out_features, in_features}, options));
}

torch::Tensor HookedLinearImpl::forward(const torch::Tensor& x, WeightHook* hook,
                                        const torch::Tensor& weight_override) {
  const torch::Tensor xin = hook ? hook->input(name_, x) : x;
  torch::Tensor w;
  if (weight_override.defined())
    w = weight_override;
  else
    w = hook ? hook->weight(name_, weight_) : weight_;
  return torch::linear(xin, w);
}

RopeTables rope_tables(const torch::Tensor& inv_freq, int64_t seq_len, torch::Device device,
                       torch::ScalarType dtype) {
  const auto opts = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  const auto positions = torch::arange(seq_len, opts);
  const auto freqs = torch::outer(positions, inv_freq.to(opts));  // [T, D/2]
  const auto emb = torch::cat({freqs, freqs}, -1);                // [T, D]
  return {emb.cos().to(dtype), emb.sin().to(dtype)};
}

torch::Tensor apply_rope(const torch::Tensor& x, const RopeTables& rope) {
  const int64_t half = x.size(-1) / 2;
  using torch::indexing::Slice;
  const auto x1 = x.index({"...", Slice(0, half)});
  const auto x2 = x.index({"...", Slice(half, torch::indexing::None)});
  const auto rotated = torch::cat({-x2, x1}, -1);
  return x * rope.cos + rotated * rope.sin;
}

AttentionImpl::AttentionImpl(const LlamaConfig& c, const std::string& prefix,
                             torch::TensorOptions options)
    : heads_(c.num_attention_heads), kv_heads_(c.num_key_value_heads), head_dim_(c.head_dim) {
  q_proj = register_module("q_proj",
                           HookedLinear(prefix + ".q_proj", c.hidden_size, c.q_dim(), options));
  k_proj = register_module("k_proj",
                           HookedLinear(prefix + ".k_proj", c.hidden_size, c.kv_dim(), options));
  v_proj = register_module("v_proj",
                           HookedLinear(prefix + ".v_proj", c.hidden_size, c.kv_dim(), options));
  o_proj = register_module("o_proj",
                           HookedLinear(prefix + ".o_proj", c.q_dim(), c.hidden_size, options));
}

namespace {

torch::Tensor weight_of(const LayerTensors* t, int index) {
  return t ? t->linear[static_cast<size_t>(index)] : torch::Tensor();
}

// q: [B, H, T, D], k/v: [B, KV, T, D] -> [B, H, T, D]. Causal softmax(q k^T / sqrt(D)) v with the
// softmax in float32; query heads h*n_rep .. h*n_rep+n_rep-1 share key/value head h (HF repeat_kv).
torch::Tensor causal_attention(const torch::Tensor& q, const torch::Tensor& k,
                               const torch::Tensor& v) {
  const int64_t B = q.size(0), H = q.size(1), T = q.size(2), D = q.size(3);
  const int64_t KV = k.size(1), n_rep = H / KV;
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));
#if TORCH_VERSION_MAJOR >= 2
  // Fused kernels (flash / memory-efficient) where LibTorch has them.
  if (!q.device().is_cpu()) {
    auto kr = n_rep == 1 ? k : k.repeat_interleave(n_rep, 1);
    auto vr = n_rep == 1 ? v : v.repeat_interleave(n_rep, 1);
    return at::scaled_dot_product_attention(q, kr, vr, {}, 0.0, /*is_causal=*/true);
  }
#endif
  // Group the query heads by their kv head so k and v are never copied n_rep times.
  const auto qg = q.reshape({B, KV, n_rep * T, D});
  auto scores = torch::matmul(qg, k.transpose(-1, -2)).mul(scale);  // [B, KV, n_rep*T, T]
  scores = scores.view({B, KV, n_rep, T, T});
  const auto future =
      torch::ones({T, T}, torch::TensorOptions().dtype(torch::kBool).device(q.device())).triu(1);
  scores = scores.masked_fill(future, -std::numeric_limits<double>::infinity());
  const auto probs = torch::softmax(scores, -1, torch::kFloat32).to(v.scalar_type());
  const auto out = torch::matmul(probs.view({B, KV, n_rep * T, T}), v);  // [B, KV, n_rep*T, D]
  return out.view({B, H, T, D});
}

}  // namespace

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const RopeTables& rope,
                                     WeightHook* hook, const LayerTensors* t) {
  const int64_t B = x.size(0), T = x.size(1);
  auto q = q_proj->forward(x, hook, weight_of(t, 0)).view({B, T, heads_, head_dim_});
  auto k = k_proj->forward(x, hook, weight_of(t, 1)).view({B, T, kv_heads_, head_dim_});
  auto v = v_proj->forward(x, hook, weight_of(t, 2)).view({B, T, kv_heads_, head_dim_});
  q = apply_rope(q.transpose(1, 2), rope);
  k = apply_rope(k.transpose(1, 2), rope);
  v = v.transpose(1, 2);
  const auto attn = causal_attention(q, k, v).transpose(1, 2).reshape({B, T, heads_ * head_dim_});
  return o_proj->forward(attn, hook, weight_of(t, 3));
}

MlpImpl::MlpImpl(const LlamaConfig& c, const std::string& prefix, torch::TensorOptions options) {
  gate_proj = register_module("gate_proj", HookedLinear(prefix + ".gate_proj", c.hidden_size,
                                                        c.intermediate_size, options));
  up_proj = register_module(
      "up_proj", HookedLinear(prefix + ".up_proj", c.hidden_size, c.intermediate_size, options));
  down_proj = register_module("down_proj", HookedLinear(prefix + ".down_proj", c.intermediate_size,
                                                        c.hidden_size, options));
}

torch::Tensor MlpImpl::forward(const torch::Tensor& x, WeightHook* hook, const LayerTensors* t) {
  const auto gate = gate_proj->forward(x, hook, weight_of(t, 4));
  const auto up = up_proj->forward(x, hook, weight_of(t, 5));
  return down_proj->forward(swiglu(gate, up), hook, weight_of(t, 6));
}

DecoderLayerImpl::DecoderLayerImpl(const LlamaConfig& c, int64_t index,
                                   torch::TensorOptions options) {
  const std::string prefix = "model.layers." + std::to_string(index);
  // HF registration order: self_attn, mlp, input_layernorm, post_attention_layernorm.
  self_attn = register_module("self_attn", Attention(c, prefix + ".self_attn", options));
  mlp = register_module("mlp", Mlp(c, prefix + ".mlp", options));
  input_layernorm =
      register_module("input_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps, options));
  post_attention_layernorm =
      register_module("post_attention_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps, options));
  eps_ = c.rms_norm_eps;
}

torch::Tensor DecoderLayerImpl::forward(const torch::Tensor& x, const RopeTables& rope,
                                        WeightHook* hook, const LayerTensors* t) {
  const auto& w1 = t ? t->input_norm : input_layernorm->weight();
  const auto& w2 = t ? t->post_attention_norm : post_attention_layernorm->weight();
  auto h = x + self_attn->forward(RMSNormImpl::apply(x, w1, eps_), rope, hook, t);
  return h + mlp->forward(RMSNormImpl::apply(h, w2, eps_), hook, t);
}

std::array<HookedLinear, 7> DecoderLayerImpl::linears() const {
  return {self_attn->q_proj, self_attn->k_proj, self_attn->v_proj, self_attn->o_proj,
          mlp->gate_proj,    mlp->up_proj,      mlp->down_proj};
}

}  // namespace qatwb::model
