// The lm_head projection fused with next-token cross-entropy, in row chunks: the full
// [tokens, vocab] logits tensor is never materialised (with Llama-3's 128k vocabulary at seq 2048
// the logits alone are gigabytes; on the tiny model they are most of a step's memory).
//
// Each chunk of rows computes its logits, log-softmax and NLL; when a gradient is wanted it also
// computes, in the same pass, d(scale * NLL)/d logits = scale * (softmax - onehot) and from it the
// chunk's gradient of the hidden states and its contribution to the weight's gradient. The three
// GEMMs are the unfused path's three (forward, d hidden, d weight): nothing is recomputed.
// backward() only scales the saved gradients by the incoming one (1.0 for a loss: a no-op).
//
// Under bf16 autocast (or bf16 inputs) the GEMMs run in bf16, as autocast's linear would, and the
// softmax in float32 (as the unfused path's logits.to(float32)).
#pragma once
#include <torch/torch.h>

namespace qatwb::model {

struct LmHeadLossOptions {
  double scale = 1.0;  // the returned loss is scale * sum of NLL (gradients likewise)
  // Rows per chunk; <= 0: as many as fit `chunk_elements` logits, but at least `min_rows` (the
  // weight-gradient GEMM reduces over a chunk's rows and re-reads the [vocab, d] gradient per
  // chunk: fewer than a few hundred rows make it memory-bound; bench/lm_head_loss measured
  // 1.3x slower at 128 rows than at 512 for vocab 32000, d 256).
  int64_t chunk_rows = 0;
  int64_t chunk_elements = int64_t{1} << 24;  // 64 MB of float32 logits per chunk
  int64_t min_rows = 256;
};

// hidden: [..., d] (float32 or bf16), weight: [vocab, d], targets: int64 [...] (the same leading
// shape as hidden), every target in [0, vocab). Returns the float32 scalar scale * sum_i NLL_i,
// differentiable in hidden and weight when grad mode is on and they require grad.
torch::Tensor lm_head_cross_entropy(const torch::Tensor& hidden, const torch::Tensor& weight,
                                    const torch::Tensor& targets,
                                    const LmHeadLossOptions& options = {});

// Knowledge distillation from a teacher's logits, computed in the same row chunks as the
// student's (neither logits tensor is ever whole). Per row, with p = softmax(z_s),
// p_T = softmax(z_s / T), q_T = softmax(z_t / T) and w = kd_weight:
//   loss_i = (1 - w) * NLL_i + w * T^2 * KL(q_T || p_T)
//   d loss_i / d z_s = (1 - w) * (p - onehot) + w * T * (p_T - q_T)
// (Hinton et al. 2015: the T^2 keeps the soft term's gradient comparable across temperatures).
struct DistillTerm {
  torch::Tensor hidden;  // the teacher's final hidden states: [..., d_t], rows as the student's
  torch::Tensor weight;  // the teacher's [vocab, d_t] (same vocabulary), never differentiated
  double temperature = 1.0;
  double kd_weight = 1.0;  // 1: pure distillation; in (0, 1): mixed with the hard-label NLL
};

// The two terms' plain sums over rows (float32 scalars, no graph), for metrics.
struct LossParts {
  torch::Tensor nll_sum;  // sum_i NLL_i
  torch::Tensor kd_sum;   // sum_i T^2 KL_i (undefined without a teacher)
};

// The fused loss with an optional teacher: scale * sum_i loss_i, differentiable as
// lm_head_cross_entropy. `parts`, when given, receives the two sums.
torch::Tensor lm_head_loss(const torch::Tensor& hidden, const torch::Tensor& weight,
                           const torch::Tensor& targets, const LmHeadLossOptions& options,
                           const DistillTerm* distill, LossParts* parts = nullptr);

// Rows per chunk for n rows of a vocab-sized projection under `options`.
int64_t lm_head_chunk_rows(int64_t rows, int64_t vocab, const LmHeadLossOptions& options);

}  // namespace qatwb::model
