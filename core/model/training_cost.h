// What a training step of a Llama costs: model FLOPs per token (for MFU) and an estimate of
// peak training memory by part (weights, gradients, optimizer states, activations, logits,
// runtime), for `qatwb project check`, the wizard's summary page and bench/train_throughput.
// Torch-free arithmetic on the config; the activation model counts the tensors autograd keeps
// per decoder layer in core/model/llama_layers.cpp, checked against measured peak RSS on CPU
// (tests/engine/tst_training_cost.cpp).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/model/llama_config.h"

namespace qatwb::model {

// Training FLOPs per token (forward + backward): 6 x matmul parameters (decoder Linears and the
// lm_head, tied or not; the embedding lookup is free) + 12 x layers x q_dim x seq_len for the
// attention scores and values (full T x T, as the CPU path computes it).
double train_flops_per_token(const LlamaConfig& c, int64_t seq_len);

struct MemoryInputs {
  int64_t batch = 1;  // sequences per micro-batch
  int64_t seq_len = 128;
  bool bf16 = false;  // bf16 autocast: activations and a bf16 copy of each Linear
  bool activation_checkpointing = false;
  bool quantized = false;             // fake-quant: a quantized copy of each decoder Linear weight
  int64_t optimizer_state_bytes = 4;  // per parameter per moment (AdamW keeps two): 4 or 2 (bf16)
  int64_t optimizer_shards = 1;       // ZeRO-1: ranks the optimizer states are split across
  int64_t loss_chunk_rows = 512;      // the fused lm_head loss's rows per chunk
  bool cpu = true;  // adds the process's fixed runtime (LibTorch, BLAS, allocator)
  // train.distill: the frozen teacher's parameters (0: none), held in the training dtype, and
  // its hidden size (its chunked logits sit beside the student's).
  int64_t teacher_parameters = 0;
  int64_t teacher_hidden = 0;
};

struct MemoryPart {
  std::string name;
  double bytes = 0;
};

struct MemoryEstimate {
  std::vector<MemoryPart> parts;
  double total() const;
};

MemoryEstimate estimate_training_memory(const LlamaConfig& c, const MemoryInputs& in);

// "1.23 GB"-style text, one line per part and a total, for the CLI and the wizard.
std::string format_memory_estimate(const MemoryEstimate& e);

}  // namespace qatwb::model
