// What the CPU offers for the training dtype, read once from /proc/cpuinfo (torch-free, so
// `project check` and the run share it).
#pragma once
#include <string>

namespace qatwb::util {

// True when the CPU multiplies bf16 matrices natively (AVX512-BF16 or AMX-BF16). Without it,
// LibTorch 1.13's CPU bf16 matmul takes its reference path: measured about 35x slower than
// fp32 on an AVX2-only EPYC (32 against about 1,100 tokens/s on llama-tiny), so bf16 autocast
// is not worth it there. Unknown (no /proc/cpuinfo): true, so nothing is said.
bool cpu_has_native_bf16();

// The warning for a project that trains in bf16 on such a CPU ("" when there is nothing to say).
std::string bf16_cpu_warning(const std::string& device, const std::string& dtype);

}  // namespace qatwb::util
