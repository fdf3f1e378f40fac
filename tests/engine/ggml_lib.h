// llama.cpp's own ggml quantizers for the tests: libggml-base.so of the pinned npm prebuilt
// @node-llama-cpp/linux-x64, loaded with dlopen (no build, no network).
#pragma once
#include <QtTest>

#include <dlfcn.h>

#include <string>
#include <vector>

#include "core/quant/ggml_quant_type.h"
#include "tests/common/test_env.h"

namespace qatwb::test {

struct GgmlLib {
  using QuantizeFn = size_t (*)(const float*, void*, int64_t, int64_t, const float*);
  using DequantizeFn = void (*)(const void*, float*, int64_t);
  void* lib = nullptr;

  template <typename F>
  F fn(const char* name) const {
    auto* p = dlsym(lib, name);
    if (!p) qFatal("libggml-base.so has no %s", name);
    return reinterpret_cast<F>(p);
  }
  // ggml's quantize_<type> without an importance matrix: what llama-quantize runs.
  std::string quantize(quant::GgmlQuant t, const float* x, int64_t rows, int64_t cols) const {
    static const char* names[] = {"quantize_q4_0", "quantize_q8_0",  "quantize_q2_K",
                                  "quantize_q3_K", "quantize_q4_K",  "quantize_q5_K",
                                  "quantize_q6_K", "quantize_tq1_0", "quantize_tq2_0"};
    const auto& sp = quant::ggml_quant_spec(t);
    std::string out(static_cast<size_t>(rows * cols / sp.block * sp.block_bytes), '\0');
    fn<QuantizeFn>(names[static_cast<int>(t)])(x, out.data(), rows, cols, nullptr);
    return out;
  }
  std::vector<float> dequantize(quant::GgmlQuant t, const std::string& bytes, int64_t numel) const {
    static const char* names[] = {
        "dequantize_row_q4_0", "dequantize_row_q8_0",  "dequantize_row_q2_K",
        "dequantize_row_q3_K", "dequantize_row_q4_K",  "dequantize_row_q5_K",
        "dequantize_row_q6_K", "dequantize_row_tq1_0", "dequantize_row_tq2_0"};
    std::vector<float> out(static_cast<size_t>(numel));
    fn<DequantizeFn>(names[static_cast<int>(t)])(bytes.data(), out.data(), numel);
    return out;
  }
};

inline const GgmlLib& ggml_lib() {
  static GgmlLib g = [] {
    GgmlLib x;
    const QString path = npm_dir() + "/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-base.so";
    x.lib = dlopen(path.toUtf8().constData(), RTLD_NOW | RTLD_LOCAL);
    if (!x.lib) qFatal("cannot load %s: %s", qPrintable(path), dlerror());
    return x;
  }();
  return g;
}

}  // namespace qatwb::test
