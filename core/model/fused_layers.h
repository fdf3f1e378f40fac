// RMSNorm and the SwiGLU product as one pass forward and one pass backward each, for float32
// tensors on the CPU (the unfused LibTorch expressions make 6-10 passes over the activations and
// keep their temporaries for autograd). Same values as the reference expressions within float32
// rounding (tests/engine/tst_fused_layers.cpp pins both against float64 closed forms); any other
// dtype or device takes the reference expression.
#pragma once
#include <torch/torch.h>

namespace qatwb::model {

// HF LlamaRMSNorm: weight * (x / sqrt(mean(x^2, -1) + eps)), normalised in float32.
torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps);
torch::Tensor rms_norm_reference(const torch::Tensor& x, const torch::Tensor& weight, double eps);

// silu(gate) * up = gate * sigmoid(gate) * up (the Llama MLP's input to down_proj).
torch::Tensor swiglu(const torch::Tensor& gate, const torch::Tensor& up);
torch::Tensor swiglu_reference(const torch::Tensor& gate, const torch::Tensor& up);

// On by default; off makes rms_norm/swiglu take the reference expressions (benches, tests).
void set_fused_layers_enabled(bool enabled);
bool fused_layers_enabled();

}  // namespace qatwb::model
