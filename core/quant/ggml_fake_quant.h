// Fake quantization on a ggml block format (quant.format: gguf): the forward is exactly ggml's
// dequantization of the codes it picks (ggml_blocks.h), so the GGUF export of those codes is
// what training saw, bit for bit.
//
// Learned state, initialised from ggml's reference quantizer (ggml_reference.h), so that step 0
// is llama-quantize's own quantization of the weight:
//   d = d0 (1 + rd), dmin = dmin0 (1 + rm)   per block (fp32 latent; the forward rounds to fp16)
//   s~, m~                                   per sub-block, real-valued, in integer units
// Forward, per sub-block (s = clamp(round(s~)), m likewise; sigma = fp16(d) s, mu = fp16(dmin) m):
//   K-quants:   q = clamp(round((w + mu) / sigma), qmin, qmax)         (ggml re-rounds so too)
//   Q8_0, TQ*:  q = clamp(round_half_away(w * (1/d)))                  (ggml's _ref rules, with
//   Q4_0:       q = clamp(trunc(w * (1/d) + 8.5), 0, 15) - 8            the fp32 d)
//   w_hat = sigma * q - mu                                              (float32, ggml's order)
// Backward (LSQ-style, v = (w + mu)/sigma, M = [qmin <= v <= qmax], G the surrogate's shape:
// 1 for STE/LSQ, StableQAT's (1 - S)/(1 + S)):
//   dw_hat/dw = M G;  dw_hat/dsigma = q - M G v;  dw_hat/dmu = M G - 1
// and sigma, mu reach d, dmin, s~, m~ through the straight-through rounding of s~, m~ and of d
// to fp16 (dsigma/ds~ = d, dsigma/dd = s). rd and rm are relative, so one learning rate fits
// every tensor whatever the magnitude of its weights.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "core/quant/ggml_blocks.h"
#include "core/quant/surrogate.h"

namespace qatwb::quant {

class GgmlFakeQuant {
 public:
  // weight: [rows, cols] (any float dtype), cols a multiple of the type's block. Throws
  // qatwb::Error naming `module` otherwise.
  GgmlFakeQuant(GgmlQuant type, const SurrogateImpl& impl, double amplitude, int fourier_order,
                const std::string& module, const torch::Tensor& weight);

  GgmlQuant type() const { return type_; }
  // Differentiable w.r.t. w and the learned state; values exactly ggml's dequantization of
  // blocks(w) (w's dtype and shape; rounded to it when w is not fp32).
  torch::Tensor forward(const torch::Tensor& w) const;
  // The codes and scales forward(w) dequantizes.
  GgmlBlocks blocks(const torch::Tensor& w) const;

  // ggml's sub-block scales fp16(d) * s now, one per sub-block (the model's scale statistics).
  torch::Tensor sub_scales(const torch::Tensor& w) const;

  std::vector<torch::Tensor> parameters() const;
  void freeze();  // scales fixed at ggml's reference quantization (quant.scale: frozen)
  std::vector<std::pair<std::string, torch::Tensor>> state() const;
  bool load_state(const std::string& name, const torch::Tensor& t);  // false: not ours
  void project();  // s~, m~ clamped to their ranges; rd, rm > -1
  void set_amplitude(double a) { amplitude_ = a; }

 private:
  struct Exact {
    torch::Tensor sigma, mu, q, y;  // [nsub, 1], [nsub, 1] (or undefined), [nsub, sub] x2
  };
  Exact exact(const torch::Tensor& w2) const;                   // w2: [nsub, sub] fp32
  torch::Tensor per_sub(const torch::Tensor& per_block) const;  // [nb] -> [nsub, 1]

  GgmlQuant type_;
  WeightGrad grad_;
  double amplitude_;
  int order_;
  std::string module_;
  std::vector<int64_t> shape_;
  int64_t nsub_ = 0;
  torch::Tensor d0_, dmin0_;  // [nb] fp32 buffers
  torch::Tensor rd_, rm_;     // [nb] learned relative changes
  torch::Tensor s_, m_;       // [nsub] learned (K-quants; undefined for Q4_0/Q8_0/TQ*)
};

}  // namespace qatwb::quant
