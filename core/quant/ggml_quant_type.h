// The ggml block formats qatwb trains on and writes to GGUF (quant.format: gguf), as plain data:
// no torch here, so the project parser and bits-per-weight accounting use it too.
//
// Every type splits a row into blocks of `block` elements (32, or super-blocks of 256), each
// with an fp16 scale d (and an fp16 dmin for the types with mins), and inside it sub-blocks of
// `sub` elements with an integer sub-scale s (and min m). ggml dequantizes element x with code q
// as
//     x = (d * s) * q - (dmin * m)        (float32, in this order)
// where, per type (codes and sub-scales as the signed values they stand for):
//   Q4_0   block 32, no sub-scale (s = 1), q in -8..7
//   Q8_0   block 32, no sub-scale (s = 1), q in -128..127
//   Q2_K   block 256, sub 16, s in 0..15 (4 bits), m in 0..15 (4 bits), q in 0..3
//   Q3_K   block 256, sub 16, s in -32..31 (6 bits), no min, q in -4..3
//   Q4_K   block 256, sub 32, s in 0..63 (6 bits), m in 0..63 (6 bits), q in 0..15
//   Q5_K   block 256, sub 32, s in 0..63 (6 bits), m in 0..63 (6 bits), q in 0..31
//   Q6_K   block 256, sub 16, s in -128..127 (8 bits), no min, q in -32..31
//   TQ1_0  block 256, no sub-scale (s = 1), q in -1..1 (5 trits a byte, base-3)
//   TQ2_0  block 256, no sub-scale (s = 1), q in -1..1 (2 bits each)
// The byte layout of each block (ggml-common.h) is in ggml_blocks.cpp.
#pragma once
#include <cstdint>
#include <string>

namespace qatwb::quant {

enum class GgmlQuant { Q4_0, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, TQ1_0, TQ2_0 };

struct GgmlQuantSpec {
  GgmlQuant type;
  const char* name;    // "q2_k" (the YAML spelling; GGUF tools print it upper-case)
  uint32_t ggml_id;    // enum ggml_type
  int block;           // elements per block
  int block_bytes;     // bytes per block
  int sub;             // elements per sub-block (== block: no sub-scales)
  int qmin, qmax;      // code range
  int smin, smax;      // sub-scale range (1, 1 without sub-scales)
  int mmax;            // sub-min range 0..mmax (0: no mins, no dmin)
  uint32_t file_type;  // general.file_type of a model mostly in this type (enum llama_ftype)
};

inline constexpr GgmlQuantSpec kGgmlQuantSpecs[] = {
    {GgmlQuant::Q4_0, "q4_0", 2, 32, 18, 32, -8, 7, 1, 1, 0, 2},
    {GgmlQuant::Q8_0, "q8_0", 8, 32, 34, 32, -128, 127, 1, 1, 0, 7},
    {GgmlQuant::Q2_K, "q2_k", 10, 256, 84, 16, 0, 3, 0, 15, 15, 10},
    {GgmlQuant::Q3_K, "q3_k", 11, 256, 110, 16, -4, 3, -32, 31, 0, 11},  // Q3_K_S
    {GgmlQuant::Q4_K, "q4_k", 12, 256, 144, 32, 0, 15, 0, 63, 63, 14},   // Q4_K_S
    {GgmlQuant::Q5_K, "q5_k", 13, 256, 176, 32, 0, 31, 0, 63, 63, 16},   // Q5_K_S
    {GgmlQuant::Q6_K, "q6_k", 14, 256, 210, 16, -32, 31, -128, 127, 0, 18},
    {GgmlQuant::TQ1_0, "tq1_0", 34, 256, 54, 256, -1, 1, 1, 1, 0, 36},
    {GgmlQuant::TQ2_0, "tq2_0", 35, 256, 66, 256, -1, 1, 1, 1, 0, 37},
};

inline const GgmlQuantSpec& ggml_quant_spec(GgmlQuant t) {
  for (const auto& s : kGgmlQuantSpecs)
    if (s.type == t) return s;
  return kGgmlQuantSpecs[0];
}

// Bits per weight, every scale included: 8 * block_bytes / block (Q2_K: 2.625).
inline double ggml_bits_per_weight(GgmlQuant t) {
  const auto& s = ggml_quant_spec(t);
  return 8.0 * s.block_bytes / s.block;
}

inline const char* to_string(GgmlQuant t) { return ggml_quant_spec(t).name; }
inline bool parse(const std::string& name, GgmlQuant& out) {
  for (const auto& s : kGgmlQuantSpecs)
    if (name == s.name) {
      out = s.type;
      return true;
    }
  return false;
}

}  // namespace qatwb::quant
