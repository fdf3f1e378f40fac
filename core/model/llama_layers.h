// The pieces of a Llama decoder layer: RMSNorm, bias-free Linears that go through the WeightHook,
// rotary position embedding, grouped-query causal attention and the SwiGLU MLP. Parameter names
// follow HF (self_attn.q_proj.weight, mlp.gate_proj.weight, input_layernorm.weight, ...).
#pragma once
#include <torch/torch.h>

#include <array>
#include <string>
#include <vector>

#include "core/model/llama_config.h"
#include "core/model/weight_hook.h"

namespace qatwb::model {

class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(int64_t dim, double eps, torch::TensorOptions options);
  torch::Tensor forward(const torch::Tensor& x) { return apply(x, weight_, eps_); }
  // HF LlamaRMSNorm: normalize in float32, cast back to x's dtype, then scale by `weight`.
  static torch::Tensor apply(const torch::Tensor& x, const torch::Tensor& weight, double eps);
  torch::Tensor& weight() { return weight_; }

 private:
  torch::Tensor weight_;
  double eps_;
};
TORCH_MODULE(RMSNorm);

// A bias-free Linear ([out, in] weight) known by its HF module name.
class HookedLinearImpl : public torch::nn::Module {
 public:
  HookedLinearImpl(std::string name, int64_t in_features, int64_t out_features,
                   torch::TensorOptions options);
  // x' = hook ? hook->input(name, x) : x; w = weight_override, else hook ? hook->weight(name, W)
  // : W; returns linear(x', w).
  torch::Tensor forward(const torch::Tensor& x, WeightHook* hook,
                        const torch::Tensor& weight_override = {});
  torch::Tensor& weight() { return weight_; }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  torch::Tensor weight_;
};
TORCH_MODULE(HookedLinear);

// cos/sin tables [T, head_dim] for positions 0..T-1 (HF layout: the half-frequencies repeated).
struct RopeTables {
  torch::Tensor cos;
  torch::Tensor sin;
};
RopeTables rope_tables(const torch::Tensor& inv_freq, int64_t seq_len, torch::Device device,
                       torch::ScalarType dtype);
// x: [B, heads, T, head_dim]; x * cos + rotate_half(x) * sin.
torch::Tensor apply_rope(const torch::Tensor& x, const RopeTables& rope);

// Tensors a checkpointed layer uses instead of its own parameters: both norm weights and the
// seven Linear weights after the hook (q, k, v, o, gate, up, down).
struct LayerTensors {
  torch::Tensor input_norm;
  torch::Tensor post_attention_norm;
  std::array<torch::Tensor, 7> linear;
};

class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(const LlamaConfig& c, const std::string& prefix, torch::TensorOptions options);
  torch::Tensor forward(const torch::Tensor& x, const RopeTables& rope, WeightHook* hook,
                        const LayerTensors* override_tensors);
  HookedLinear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};

 private:
  int64_t heads_, kv_heads_, head_dim_;
};
TORCH_MODULE(Attention);

class MlpImpl : public torch::nn::Module {
 public:
  MlpImpl(const LlamaConfig& c, const std::string& prefix, torch::TensorOptions options);
  // down(silu(gate(x)) * up(x))
  torch::Tensor forward(const torch::Tensor& x, WeightHook* hook,
                        const LayerTensors* override_tensors);
  HookedLinear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(Mlp);

class DecoderLayerImpl : public torch::nn::Module {
 public:
  DecoderLayerImpl(const LlamaConfig& c, int64_t index, torch::TensorOptions options);
  // Pre-norm residual block; uses `override_tensors` instead of the parameters when given (the
  // activation-checkpointing path), otherwise its parameters through the hook.
  torch::Tensor forward(const torch::Tensor& x, const RopeTables& rope, WeightHook* hook,
                        const LayerTensors* override_tensors = nullptr);
  // q, k, v, o, gate, up, down.
  std::array<HookedLinear, 7> linears() const;

  Attention self_attn{nullptr};
  Mlp mlp{nullptr};
  RMSNorm input_layernorm{nullptr};
  RMSNorm post_attention_layernorm{nullptr};

 private:
  double eps_ = 1e-5;
};
TORCH_MODULE(DecoderLayer);

// Runs `layer` without keeping its activations and recomputes it in backward (a custom autograd
// Function). `tensors` are graph inputs: gradients flow through them to whatever produced them
// (latent weights, quantizer parameters). Parameters used by hook->input() inside the layer get
// their gradients accumulated into .grad directly during the recompute.
torch::Tensor checkpointed_layer(const std::shared_ptr<DecoderLayerImpl>& layer,
                                 const torch::Tensor& x, const RopeTables& rope,
                                 const std::shared_ptr<WeightHook>& hook,
                                 const LayerTensors& tensors);

}  // namespace qatwb::model
