#include "core/model/training_cost.h"

#include <algorithm>
#include <cstdio>

namespace qatwb::model {
namespace {

int64_t linear_parameters(const LlamaConfig& c) {
  const int64_t attn = c.hidden_size * c.q_dim() * 2 + c.hidden_size * c.kv_dim() * 2;
  return c.num_hidden_layers * (attn + 3 * c.hidden_size * c.intermediate_size);
}

std::string gb(double bytes) {
  char buf[32];
  if (bytes >= 1e9)
    std::snprintf(buf, sizeof buf, "%.2f GB", bytes / 1e9);
  else
    std::snprintf(buf, sizeof buf, "%.0f MB", bytes / 1e6);
  return buf;
}

}  // namespace

double train_flops_per_token(const LlamaConfig& c, int64_t seq_len) {
  const double matmul =
      static_cast<double>(linear_parameters(c)) + static_cast<double>(c.vocab_size) * c.hidden_size;
  return 6.0 * matmul + 12.0 * c.num_hidden_layers * c.q_dim() * static_cast<double>(seq_len);
}

double MemoryEstimate::total() const {
  double t = 0;
  for (const auto& p : parts) t += p.bytes;
  return t;
}

MemoryEstimate estimate_training_memory(const LlamaConfig& c, const MemoryInputs& in) {
  const double P = static_cast<double>(c.num_parameters());
  const double lin = static_cast<double>(linear_parameters(c));
  const double V = static_cast<double>(c.vocab_size), d = static_cast<double>(c.hidden_size);
  const double N = static_cast<double>(in.batch) * in.seq_len;  // tokens per micro-batch
  const double T = static_cast<double>(in.seq_len);
  const double a = in.bf16 ? 2.0 : 4.0;  // bytes of a Linear's output under autocast
  MemoryEstimate e;
  e.parts.push_back({"weights (fp32 master)", 4 * P});
  e.parts.push_back({"gradients", 4 * P});
  const int64_t shards = std::max<int64_t>(in.optimizer_shards, 1);
  e.parts.push_back(
      {std::string("optimizer states (AdamW, 2 moments, ") +
           (in.optimizer_state_bytes == 2 ? "bf16" : "fp32") +
           (shards > 1 ? ", ZeRO-1 share of " + std::to_string(shards) + " ranks" : "") + ")",
       2.0 * static_cast<double>(in.optimizer_state_bytes) * P / static_cast<double>(shards)});
  double copies = 0;
  if (in.bf16) copies += 2 * lin;       // autocast's cached bf16 copy of each Linear weight
  if (in.quantized) copies += 4 * lin;  // the fake-quantized weight kept for backward
  if (copies > 0) e.parts.push_back({"weight copies (autocast / fake-quant)", copies});
  // Tensors autograd keeps per decoder layer and token (see llama_layers.cpp): the residual and
  // two RMSNorm outputs per norm (6 d, float32), q and k with their RoPE terms and the
  // attention output (4 q_dim + 4 kv_dim), the SwiGLU's gate, up, silu and product (4 I), and
  // the float32 attention probabilities (heads x T per token). The fused RMSNorm and SwiGLU
  // (fused_layers.cpp: float32 on the CPU) keep one output per norm (4 d) and no silu (3 I).
  const bool fused = in.cpu && !in.bf16;
  const double per_token_layer =
      4.0 * (fused ? 4 : 6) * d +
      a * (4.0 * c.q_dim() + 4.0 * c.kv_dim() + (fused ? 3.0 : 4.0) * c.intermediate_size) +
      (4.0 + (in.bf16 ? 2.0 : 0.0)) * c.num_attention_heads * T;
  const double layers = static_cast<double>(c.num_hidden_layers);
  const double acts = in.activation_checkpointing
                          ? N * (layers * 4.0 * d + per_token_layer)  // inputs + one layer
                          : N * layers * per_token_layer;
  e.parts.push_back(
      {in.activation_checkpointing ? "activations (checkpointed layers)" : "activations",
       acts + N * 4.0 * d * 4});  // + embedding output, final norm, d hidden
  const double rows =
      std::min<double>(N, static_cast<double>(std::max<int64_t>(in.loss_chunk_rows, 1)));
  // The fused loss: two [rows, vocab] float32 buffers per chunk and the lm_head gradient it
  // holds from forward to backward (the full logits would be N x vocab x 4 bytes, 3 times).
  e.parts.push_back({"lm_head loss (chunked logits + its gradient)",
                     2 * rows * V * 4 + 4 * V * d + (in.bf16 ? 2 * V * d : 0.0)});
  if (in.teacher_parameters > 0) {
    // Frozen weights in the training dtype; its final hidden states for the step, and two more
    // [rows, vocab] float32 buffers per loss chunk (whose rows are halved to keep the budget).
    const double td =
        static_cast<double>(in.teacher_hidden > 0 ? in.teacher_hidden : c.hidden_size);
    e.parts.push_back(
        {"distillation teacher (frozen weights, hidden states)",
         (in.bf16 ? 2.0 : 4.0) * static_cast<double>(in.teacher_parameters) + N * td * a});
  }
  if (in.cpu) e.parts.push_back({"runtime (LibTorch, BLAS, Qt, tokenizer, allocator)", 320e6});
  return e;
}

std::string format_memory_estimate(const MemoryEstimate& e) {
  std::string out;
  for (const auto& p : e.parts) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "  %-46s %10s\n", p.name.c_str(), gb(p.bytes).c_str());
    out += buf;
  }
  char buf[160];
  std::snprintf(buf, sizeof buf, "  %-46s %10s\n", "total (estimated peak)", gb(e.total()).c_str());
  return out + buf;
}

}  // namespace qatwb::model
