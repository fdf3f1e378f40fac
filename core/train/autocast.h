// bf16 autocast for the forward pass: on CUDA (the normal GPU path) and optionally on CPU.
// RAII: restores the previous state on destruction.
#pragma once
#include <ATen/autocast_mode.h>
#include <c10/core/Device.h>

namespace qatwb::train {

class AutocastGuard {
 public:
  AutocastGuard(bool enabled, c10::Device device) : enabled_(enabled), cuda_(device.is_cuda()) {
    if (!enabled_) return;
    if (cuda_) {
      prev_ = at::autocast::is_enabled();
      at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
      at::autocast::set_enabled(true);
    } else {
      prev_ = at::autocast::is_cpu_enabled();
      at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
      at::autocast::set_cpu_enabled(true);
    }
  }
  ~AutocastGuard() {
    if (!enabled_) return;
    if (cuda_)
      at::autocast::set_enabled(prev_);
    else
      at::autocast::set_cpu_enabled(prev_);
    at::autocast::clear_cache();
  }
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool enabled_;
  bool cuda_;
  bool prev_ = false;
};

}  // namespace qatwb::train
