#include "core/quant/ggml_blocks.h"

#include <cstring>

#include "core/util/error.h"

namespace qatwb::quant {

uint16_t fp32_to_fp16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t abs = x & 0x7fffffffu;
  if (abs > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u | ((abs >> 13) & 0x3ffu));
  // >= 65536 is inf; 65520 (65504 + half an ulp) up to it rounds to inf in the normal path.
  if (abs >= 0x47800000u) return static_cast<uint16_t>(sign | 0x7c00u);
  if (abs >= 0x38800000u) {  // normal half (exponent >= -14)
    uint32_t mant = abs & 0x7fffffu;
    uint32_t exp = (abs >> 23) - 127 + 15;
    uint32_t h = (exp << 10) | (mant >> 13);
    const uint32_t rest = mant & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;  // may carry into inf: correct
    return static_cast<uint16_t>(sign | h);
  }
  if (abs < 0x33000000u) return static_cast<uint16_t>(sign);  // < 2^-25: rounds to zero
  // Subnormal half: value = m * 2^-24.
  const uint32_t e = abs >> 23;  // biased fp32 exponent, 102..112
  const uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
  const uint32_t shift = 126 - e;  // 14..24: mant >> shift is m
  uint32_t h = mant >> shift;
  const uint32_t rest = mant & ((1u << shift) - 1);
  const uint32_t half = 1u << (shift - 1);
  if (rest > half || (rest == half && (h & 1u))) ++h;
  return static_cast<uint16_t>(sign | h);
}

float fp16_to_fp32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t x;
  if (exp == 0x1f) {
    x = sign | 0x7f800000u | (mant << 13);
  } else if (exp != 0) {
    x = sign | ((exp - 15 + 127) << 23) | (mant << 13);
  } else if (mant == 0) {
    x = sign;
  } else {  // subnormal: normalise
    exp = 127 - 15 + 1;
    while (!(mant & 0x400u)) {
      mant <<= 1;
      --exp;
    }
    x = sign | (exp << 23) | ((mant & 0x3ffu) << 13);
  }
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

int64_t GgmlBlocks::blocks() const { return numel / ggml_quant_spec(type).block; }
int64_t GgmlBlocks::sub_blocks() const { return numel / ggml_quant_spec(type).sub; }

GgmlBlocks make_ggml_blocks(GgmlQuant type, int64_t numel, const std::string& what) {
  const auto& sp = ggml_quant_spec(type);
  if (numel < 0 || numel % sp.block != 0)
    throw Error(what + ": " + std::to_string(numel) + " elements are not a whole number of " +
                sp.name + " blocks of " + std::to_string(sp.block));
  GgmlBlocks b;
  b.type = type;
  b.numel = numel;
  const int64_t nb = numel / sp.block, ns = numel / sp.sub;
  b.d.assign(static_cast<size_t>(nb), 0);
  if (sp.mmax > 0) b.dmin.assign(static_cast<size_t>(nb), 0);
  b.scales.assign(static_cast<size_t>(ns), sp.sub == sp.block ? 1 : 0);
  if (sp.mmax > 0) b.mins.assign(static_cast<size_t>(ns), 0);
  b.codes.assign(static_cast<size_t>(numel), 0);
  return b;
}

namespace {

void check_range(const std::string& what, const char* field, int64_t index, int v, int lo, int hi,
                 const char* type) {
  if (v < lo || v > hi)
    throw Error(what + ": " + type + " " + field + " " + std::to_string(index) + " is " +
                std::to_string(v) + ", outside " + std::to_string(lo) + ".." + std::to_string(hi));
}

void check_sizes(const GgmlBlocks& b, const std::string& what) {
  const auto& sp = ggml_quant_spec(b.type);
  const size_t nb = static_cast<size_t>(b.blocks()), ns = static_cast<size_t>(b.sub_blocks());
  if (b.numel % sp.block != 0 || b.codes.size() != static_cast<size_t>(b.numel) ||
      b.d.size() != nb || b.scales.size() != ns ||
      (sp.mmax > 0 && (b.dmin.size() != nb || b.mins.size() != ns)))
    throw Error(what + ": inconsistent " + sp.name + " blocks (" + std::to_string(b.numel) +
                " elements)");
}

void put16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }
uint16_t get16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

// 6-bit scale / min pairs of Q4_K and Q5_K in 12 bytes (get_scale_min_k4's layout): sub-block
// j < 4 keeps s in the low 6 bits of byte j and m in byte j + 4; j >= 4 keeps their low nibbles
// in byte j + 4 and their top 2 bits in bits 6..7 of bytes j - 4 (s) and j (m).
void pack_k4_scales(const int16_t* s, const int16_t* m, uint8_t* q) {
  std::memset(q, 0, 12);
  for (int j = 0; j < 8; ++j) {
    const uint8_t ls = static_cast<uint8_t>(s[j]), lm = static_cast<uint8_t>(m[j]);
    if (j < 4) {
      q[j] |= ls;
      q[j + 4] |= lm;
    } else {
      q[j + 4] = static_cast<uint8_t>((ls & 0xF) | ((lm & 0xF) << 4));
      q[j - 4] |= static_cast<uint8_t>((ls >> 4) << 6);
      q[j] |= static_cast<uint8_t>((lm >> 4) << 6);
    }
  }
}

void unpack_k4_scales(const uint8_t* q, int16_t* s, int16_t* m) {
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      s[j] = q[j] & 63;
      m[j] = q[j + 4] & 63;
    } else {
      s[j] = static_cast<int16_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
      m[j] = static_cast<int16_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
  }
}

// 2-bit codes of 256 elements in 64 bytes (Q2_K, Q3_K low bits): byte 32*h + l holds elements
// 128*h + l + 32*k at bits 2k (k = 0..3).
void pack_2bit(const uint8_t* L, uint8_t* qs) {
  for (int h = 0; h < 2; ++h)
    for (int l = 0; l < 32; ++l) {
      const uint8_t* e = L + 128 * h + l;
      qs[32 * h + l] = static_cast<uint8_t>(e[0] | (e[32] << 2) | (e[64] << 4) | (e[96] << 6));
    }
}
void unpack_2bit(const uint8_t* qs, uint8_t* L) {
  for (int h = 0; h < 2; ++h)
    for (int l = 0; l < 32; ++l)
      for (int k = 0; k < 4; ++k) L[128 * h + l + 32 * k] = (qs[32 * h + l] >> (2 * k)) & 3;
}

// TQ1_0: 240 elements five trits a byte (48 bytes: bytes 0..31 hold elements m + 32n, bytes
// 32..47 elements 160 + m + 16n, n = 0..4, the first trit most significant), 16 elements four
// trits a byte (4 bytes, elements 240 + j + 4n, then x3), each byte the base-3 number t scaled
// to ceil(t * 256 / 243); a trit comes back as ((uint8)(q * 3^n) * 3) >> 8.
uint8_t tq1_byte(const uint8_t* t, int count, int stride) {
  unsigned q = 0;
  for (int n = 0; n < count; ++n) q = q * 3 + t[n * stride];
  if (count == 4) q *= 3;
  return static_cast<uint8_t>((q * 256 + 242) / 243);
}
uint8_t tq1_trit(uint8_t q, int n) {
  static const uint8_t pow3[5] = {1, 3, 9, 27, 81};
  const uint8_t shifted = static_cast<uint8_t>(q * pow3[n]);
  return static_cast<uint8_t>((static_cast<uint16_t>(shifted) * 3) >> 8);
}

void pack_block(const GgmlBlocks& b, int64_t i, uint8_t* out) {
  const auto& sp = ggml_quant_spec(b.type);
  const int8_t* q = b.codes.data() + i * sp.block;
  const int64_t s0 = i * (sp.block / sp.sub);
  const int16_t* sc = b.scales.data() + s0;
  const int16_t* mn = sp.mmax > 0 ? b.mins.data() + s0 : nullptr;
  uint8_t L[256];
  switch (b.type) {
    case GgmlQuant::Q4_0:
      put16(out, b.d[i]);
      for (int j = 0; j < 16; ++j)
        out[2 + j] = static_cast<uint8_t>((q[j] + 8) | ((q[j + 16] + 8) << 4));
      return;
    case GgmlQuant::Q8_0:
      put16(out, b.d[i]);
      std::memcpy(out + 2, q, 32);
      return;
    case GgmlQuant::Q2_K:  // scales[16] (s | m << 4), qs[64], d, dmin
      for (int j = 0; j < 16; ++j) out[j] = static_cast<uint8_t>(sc[j] | (mn[j] << 4));
      for (int j = 0; j < 256; ++j) L[j] = static_cast<uint8_t>(q[j]);
      pack_2bit(L, out + 16);
      put16(out + 80, b.d[i]);
      put16(out + 82, b.dmin[i]);
      return;
    case GgmlQuant::Q3_K: {  // hmask[32], qs[64], scales[12], d
      uint8_t* hmask = out;
      std::memset(hmask, 0, 32);
      for (int j = 0; j < 256; ++j) {
        const int l = q[j] + 4;  // 0..7
        if (l > 3) hmask[j % 32] |= static_cast<uint8_t>(1u << (j / 32));
        L[j] = static_cast<uint8_t>(l & 3);
      }
      pack_2bit(L, out + 32);
      uint8_t* s = out + 96;
      std::memset(s, 0, 12);
      for (int j = 0; j < 16; ++j) {
        const int l = sc[j] + 32;  // 0..63
        if (j < 8)
          s[j] |= static_cast<uint8_t>(l & 0xF);
        else
          s[j - 8] |= static_cast<uint8_t>((l & 0xF) << 4);
        s[8 + j % 4] |= static_cast<uint8_t>((l >> 4) << (2 * (j / 4)));
      }
      put16(out + 108, b.d[i]);
      return;
    }
    case GgmlQuant::Q4_K:  // d, dmin, scales[12], qs[128]
      put16(out, b.d[i]);
      put16(out + 2, b.dmin[i]);
      pack_k4_scales(sc, mn, out + 4);
      for (int c = 0; c < 4; ++c)
        for (int l = 0; l < 32; ++l)
          out[16 + 32 * c + l] = static_cast<uint8_t>(q[64 * c + l] | (q[64 * c + l + 32] << 4));
      return;
    case GgmlQuant::Q5_K: {  // d, dmin, scales[12], qh[32], qs[128]
      put16(out, b.d[i]);
      put16(out + 2, b.dmin[i]);
      pack_k4_scales(sc, mn, out + 4);
      uint8_t* qh = out + 16;
      uint8_t* ql = out + 48;
      std::memset(qh, 0, 32);
      for (int c = 0; c < 4; ++c)
        for (int l = 0; l < 32; ++l) {
          const int l1 = q[64 * c + l], l2 = q[64 * c + l + 32];
          if (l1 > 15) qh[l] |= static_cast<uint8_t>(1u << (2 * c));
          if (l2 > 15) qh[l] |= static_cast<uint8_t>(2u << (2 * c));
          ql[32 * c + l] = static_cast<uint8_t>((l1 & 15) | ((l2 & 15) << 4));
        }
      return;
    }
    case GgmlQuant::Q6_K: {  // ql[128], qh[64], scales[16] int8, d
      for (int j = 0; j < 256; ++j) L[j] = static_cast<uint8_t>(q[j] + 32);
      for (int h = 0; h < 2; ++h) {
        uint8_t* ql = out + 64 * h;
        uint8_t* qh = out + 128 + 32 * h;
        const uint8_t* e = L + 128 * h;
        for (int l = 0; l < 32; ++l) {
          ql[l] = static_cast<uint8_t>((e[l] & 0xF) | ((e[l + 64] & 0xF) << 4));
          ql[l + 32] = static_cast<uint8_t>((e[l + 32] & 0xF) | ((e[l + 96] & 0xF) << 4));
          qh[l] = static_cast<uint8_t>((e[l] >> 4) | ((e[l + 32] >> 4) << 2) |
                                       ((e[l + 64] >> 4) << 4) | ((e[l + 96] >> 4) << 6));
        }
      }
      for (int j = 0; j < 16; ++j) out[192 + j] = static_cast<uint8_t>(static_cast<int8_t>(sc[j]));
      put16(out + 208, b.d[i]);
      return;
    }
    case GgmlQuant::TQ1_0: {  // qs[48], qh[4], d
      for (int j = 0; j < 256; ++j) L[j] = static_cast<uint8_t>(q[j] + 1);
      for (int m = 0; m < 32; ++m) out[m] = tq1_byte(L + m, 5, 32);
      for (int m = 0; m < 16; ++m) out[32 + m] = tq1_byte(L + 160 + m, 5, 16);
      for (int j = 0; j < 4; ++j) out[48 + j] = tq1_byte(L + 240 + j, 4, 4);
      put16(out + 52, b.d[i]);
      return;
    }
    case GgmlQuant::TQ2_0:  // qs[64], d
      for (int h = 0; h < 2; ++h)
        for (int m = 0; m < 32; ++m) {
          uint8_t v = 0;
          for (int n = 0; n < 4; ++n)
            v |= static_cast<uint8_t>((q[128 * h + m + 32 * n] + 1) << (2 * n));
          out[32 * h + m] = v;
        }
      put16(out + 64, b.d[i]);
      return;
  }
}

void unpack_block(const uint8_t* in, int64_t i, GgmlBlocks& b) {
  const auto& sp = ggml_quant_spec(b.type);
  int8_t* q = b.codes.data() + i * sp.block;
  const int64_t s0 = i * (sp.block / sp.sub);
  int16_t* sc = b.scales.data() + s0;
  int16_t* mn = sp.mmax > 0 ? b.mins.data() + s0 : nullptr;
  uint8_t L[256];
  switch (b.type) {
    case GgmlQuant::Q4_0:
      b.d[i] = get16(in);
      for (int j = 0; j < 16; ++j) {
        q[j] = static_cast<int8_t>((in[2 + j] & 0xF) - 8);
        q[j + 16] = static_cast<int8_t>((in[2 + j] >> 4) - 8);
      }
      return;
    case GgmlQuant::Q8_0:
      b.d[i] = get16(in);
      std::memcpy(q, in + 2, 32);
      return;
    case GgmlQuant::Q2_K:
      for (int j = 0; j < 16; ++j) {
        sc[j] = in[j] & 0xF;
        mn[j] = in[j] >> 4;
      }
      unpack_2bit(in + 16, L);
      for (int j = 0; j < 256; ++j) q[j] = static_cast<int8_t>(L[j]);
      b.d[i] = get16(in + 80);
      b.dmin[i] = get16(in + 82);
      return;
    case GgmlQuant::Q3_K: {
      unpack_2bit(in + 32, L);
      for (int j = 0; j < 256; ++j) {
        const bool high = in[j % 32] & (1u << (j / 32));
        q[j] = static_cast<int8_t>(L[j] - (high ? 0 : 4));
      }
      const uint8_t* s = in + 96;
      for (int j = 0; j < 16; ++j) {
        const int lo = j < 8 ? s[j] & 0xF : s[j - 8] >> 4;
        const int hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
        sc[j] = static_cast<int16_t>((lo | (hi << 4)) - 32);
      }
      b.d[i] = get16(in + 108);
      return;
    }
    case GgmlQuant::Q4_K:
      b.d[i] = get16(in);
      b.dmin[i] = get16(in + 2);
      unpack_k4_scales(in + 4, sc, mn);
      for (int c = 0; c < 4; ++c)
        for (int l = 0; l < 32; ++l) {
          q[64 * c + l] = static_cast<int8_t>(in[16 + 32 * c + l] & 0xF);
          q[64 * c + l + 32] = static_cast<int8_t>(in[16 + 32 * c + l] >> 4);
        }
      return;
    case GgmlQuant::Q5_K: {
      b.d[i] = get16(in);
      b.dmin[i] = get16(in + 2);
      unpack_k4_scales(in + 4, sc, mn);
      const uint8_t* qh = in + 16;
      const uint8_t* ql = in + 48;
      for (int c = 0; c < 4; ++c)
        for (int l = 0; l < 32; ++l) {
          q[64 * c + l] =
              static_cast<int8_t>((ql[32 * c + l] & 0xF) + ((qh[l] & (1u << (2 * c))) ? 16 : 0));
          q[64 * c + l + 32] =
              static_cast<int8_t>((ql[32 * c + l] >> 4) + ((qh[l] & (2u << (2 * c))) ? 16 : 0));
        }
      return;
    }
    case GgmlQuant::Q6_K:
      for (int h = 0; h < 2; ++h) {
        const uint8_t* ql = in + 64 * h;
        const uint8_t* qh = in + 128 + 32 * h;
        int8_t* e = q + 128 * h;
        for (int l = 0; l < 32; ++l) {
          e[l] = static_cast<int8_t>(((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
          e[l + 32] = static_cast<int8_t>(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
          e[l + 64] = static_cast<int8_t>(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
          e[l + 96] = static_cast<int8_t>(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
        }
      }
      for (int j = 0; j < 16; ++j) sc[j] = static_cast<int8_t>(in[192 + j]);
      b.d[i] = get16(in + 208);
      return;
    case GgmlQuant::TQ1_0:
      for (int m = 0; m < 32; ++m)
        for (int n = 0; n < 5; ++n) q[m + 32 * n] = static_cast<int8_t>(tq1_trit(in[m], n) - 1);
      for (int m = 0; m < 16; ++m)
        for (int n = 0; n < 5; ++n)
          q[160 + m + 16 * n] = static_cast<int8_t>(tq1_trit(in[32 + m], n) - 1);
      for (int j = 0; j < 4; ++j)
        for (int n = 0; n < 4; ++n)
          q[240 + j + 4 * n] = static_cast<int8_t>(tq1_trit(in[48 + j], n) - 1);
      b.d[i] = get16(in + 52);
      return;
    case GgmlQuant::TQ2_0:
      for (int h = 0; h < 2; ++h)
        for (int m = 0; m < 32; ++m)
          for (int n = 0; n < 4; ++n)
            q[128 * h + m + 32 * n] = static_cast<int8_t>(((in[32 * h + m] >> (2 * n)) & 3) - 1);
      b.d[i] = get16(in + 64);
      return;
  }
}

}  // namespace

std::string pack_ggml_blocks(const GgmlBlocks& b, const std::string& what) {
  check_sizes(b, what);
  const auto& sp = ggml_quant_spec(b.type);
  for (size_t k = 0; k < b.codes.size(); ++k)
    check_range(what, "code", static_cast<int64_t>(k), b.codes[k], sp.qmin, sp.qmax, sp.name);
  for (size_t k = 0; k < b.scales.size(); ++k)
    check_range(what, "sub-scale", static_cast<int64_t>(k), b.scales[k], sp.smin, sp.smax, sp.name);
  for (size_t k = 0; k < b.mins.size(); ++k)
    check_range(what, "sub-min", static_cast<int64_t>(k), b.mins[k], 0, sp.mmax, sp.name);
  const int64_t nb = b.blocks();
  std::string out(static_cast<size_t>(nb * sp.block_bytes), '\0');
  auto* p = reinterpret_cast<uint8_t*>(out.data());
  for (int64_t i = 0; i < nb; ++i) pack_block(b, i, p + i * sp.block_bytes);
  return out;
}

GgmlBlocks unpack_ggml_blocks(GgmlQuant type, const void* bytes, size_t size, int64_t numel,
                              const std::string& what) {
  GgmlBlocks b = make_ggml_blocks(type, numel, what);
  const auto& sp = ggml_quant_spec(type);
  const int64_t nb = b.blocks();
  if (size != static_cast<size_t>(nb * sp.block_bytes))
    throw Error(what + ": " + sp.name + " data has " + std::to_string(size) + " bytes, " +
                std::to_string(numel) + " elements need " + std::to_string(nb * sp.block_bytes));
  const auto* p = static_cast<const uint8_t*>(bytes);
  for (int64_t i = 0; i < nb; ++i) unpack_block(p + i * sp.block_bytes, i, b);
  return b;
}

void dequantize_ggml_blocks(const GgmlBlocks& b, float* out) {
  const auto& sp = ggml_quant_spec(b.type);
  const int per_block = sp.block / sp.sub;
  for (int64_t s = 0; s < b.sub_blocks(); ++s) {
    const int64_t blk = s / per_block;
    const float dl = fp16_to_fp32(b.d[blk]) * static_cast<float>(b.scales[s]);
    const float ml = sp.mmax > 0 ? fp16_to_fp32(b.dmin[blk]) * static_cast<float>(b.mins[s]) : 0.f;
    const int8_t* q = b.codes.data() + s * sp.sub;
    float* y = out + s * sp.sub;
    for (int k = 0; k < sp.sub; ++k) y[k] = dl * static_cast<float>(q[k]) - ml;
  }
}

}  // namespace qatwb::quant
