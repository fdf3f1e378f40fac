#include "core/util/cpu_features.h"

#include <fstream>
#include <sstream>

namespace qatwb::util {

bool cpu_has_native_bf16() {
  static const bool has = [] {
    std::ifstream in("/proc/cpuinfo");
    if (!in) return true;
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("flags", 0) != 0) continue;
      std::istringstream words(line.substr(line.find(':') + 1));
      std::string w;
      while (words >> w)
        if (w == "avx512_bf16" || w == "amx_bf16") return true;
      return false;  // the first CPU's flags speak for all
    }
    return true;
  }();
  return has;
}

std::string bf16_cpu_warning(const std::string& device, const std::string& dtype) {
  if (dtype != "bf16" || device != "cpu" || cpu_has_native_bf16()) return "";
  return "warning: train.dtype bf16 on a CPU without native bf16 matrix multiply (no "
         "AVX512-BF16 or AMX in /proc/cpuinfo): LibTorch runs bf16 matmuls in its reference "
         "path, tens of times slower than fp32 (measured 35x on llama-tiny); use dtype: fp32 "
         "on this machine";
}

}  // namespace qatwb::util
