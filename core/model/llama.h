// The Llama decoder (Llama-2/3, Mistral without sliding window) as a LibTorch module whose
// parameter names are exactly HF's ("model.layers.3.self_attn.q_proj.weight"). Every decoder
// Linear goes through the WeightHook when one is set, which is how quantization enters.
// Device-agnostic: move it with ->to(device, dtype); inputs must be on the model's device.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/model/llama_config.h"
#include "core/model/llama_layers.h"
#include "core/model/weight_hook.h"

namespace qatwb::model {

class LlamaImpl : public torch::nn::Module {
 public:
  // Parameters use `options` (float32 on CPU by default); initialized with
  // init_weights(0) unless `initialize` is false (then uninitialized, for loading a checkpoint).
  explicit LlamaImpl(const LlamaConfig& config, bool initialize = true,
                     torch::TensorOptions options = torch::TensorOptions());

  // input_ids: int64 [B, T] -> logits [B, T, vocab], float32.
  torch::Tensor forward(const torch::Tensor& input_ids);
  // The final normed hidden state [B, T, hidden] (the model's dtype, or the autocast dtype).
  torch::Tensor hidden_states(const torch::Tensor& input_ids);
  // [vocab, hidden]: the weight the output projection uses now: the embedding when tied, else
  // lm_head.weight, through the weight hook (a quantized embedding's fake-quant values when
  // tied: one quantizer serves the lookup and the projection).
  torch::Tensor lm_head_weight() const;

  void set_weight_hook(std::shared_ptr<WeightHook> hook);
  std::shared_ptr<WeightHook> weight_hook() const { return hook_; }

  // The decoder Linear weights keyed by module name ("model.layers.0.self_attn.q_proj"), in
  // model order (per layer: q, k, v, o, gate, up, down). lm_head is not a decoder Linear.
  std::vector<std::pair<std::string, torch::Tensor>> linear_weights() const;
  // Every weight quantization can reach: linear_weights(), then "model.embed_tokens" [vocab,
  // hidden] (tied: also the output projection) and "lm_head" [vocab, hidden] when untied. The
  // hook sees the embedding before the lookup and lm_head before the fused loss.
  std::vector<std::pair<std::string, torch::Tensor>> quantizable_weights() const;
  // Every parameter with its HF tensor name, in model order (lm_head.weight absent when tied).
  std::vector<std::pair<std::string, torch::Tensor>> hf_state_dict() const;

  // Recompute each decoder layer in backward instead of keeping its activations.
  void set_activation_checkpointing(bool enabled) { checkpointing_ = enabled; }
  bool activation_checkpointing() const { return checkpointing_; }

  const LlamaConfig& config() const { return config_; }
  // Normal(0, initializer_range) for embeddings and Linears, 1 for the RMSNorm weights. Draws on
  // a CPU generator seeded with `seed`, so the weights are the same on every device.
  void init_weights(int64_t seed);

 private:
  torch::Tensor run_layers(torch::Tensor x);

  LlamaConfig config_;
  std::vector<DecoderLayer> layers_;  // registered under "model.layers"
  RMSNorm norm_{nullptr};
  torch::Tensor embed_weight_;
  torch::Tensor lm_head_weight_;  // undefined when tied
  torch::Tensor inv_freq_;        // float32 [head_dim / 2] on CPU, not a parameter
  std::shared_ptr<WeightHook> hook_;
  bool checkpointing_ = false;
};
TORCH_MODULE(Llama);

}  // namespace qatwb::model
