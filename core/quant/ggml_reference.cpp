#include "core/quant/ggml_reference.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace qatwb::quant {
namespace {

constexpr float kGroupMaxEps = 1e-15f;

// Round half to even through the float adder, as ggml does (|v| < 2^22).
int nearest_int(float v) {
  float t = v + 12582912.f;
  int32_t i;
  std::memcpy(&i, &t, 4);
  return (i & 0x007fffff) - 0x00400000;
}

// Asymmetric fit of n values to levels 0..nmax: x ~ scale * l - the_min. Starts from the
// min/max grid, then tries nstep+1 grids (rmin + rdelta*is + nmax)/(max - min) and keeps the
// weighted least-squares (scale, min) of the best one (error: |diff| or diff^2, weighted).
// The signed value of largest |x| (the first one on ties); *amax = its magnitude.
float signed_extreme(int n, const float* x, float* amax) {
  float mx = 0;
  *amax = 0;
  for (int i = 0; i < n; ++i)
    if (std::fabs(x[i]) > *amax) {
      *amax = std::fabs(x[i]);
      mx = x[i];
    }
  return mx;
}

float fit_scale_min(int n, int nmax, const float* x, const float* w, uint8_t* L, float* the_min,
                    float rmin, float rdelta, int nstep, bool use_mad) {
  float mn = x[0], mx = x[0];
  float sum_w = w[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < mn) mn = x[i];
    if (x[i] > mx) mx = x[i];
    sum_w += w[i];
    sum_x += w[i] * x[i];
  }
  if (mn > 0) mn = 0;
  if (mx == mn) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    *the_min = -mn;
    return 0.f;
  }
  float iscale = nmax / (mx - mn);
  float scale = 1 / iscale;
  float best = 0;
  for (int i = 0; i < n; ++i) {
    const int l = nearest_int(iscale * (x[i] - mn));
    L[i] = static_cast<uint8_t>(std::max(0, std::min(nmax, l)));
    float diff = scale * L[i] + mn - x[i];
    diff = use_mad ? std::fabs(diff) : diff * diff;
    best += w[i] * diff;
  }
  uint8_t aux[32];
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * is + nmax) / (mx - mn);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      int l = nearest_int(iscale * (x[i] - mn));
      l = std::max(0, std::min(nmax, l));
      aux[i] = static_cast<uint8_t>(l);
      sum_l += w[i] * l;
      sum_l2 += w[i] * l * l;
      sum_xl += w[i] * l * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float err = 0;
      for (int i = 0; i < n; ++i) {
        float diff = this_scale * aux[i] + this_min - x[i];
        diff = use_mad ? std::fabs(diff) : diff * diff;
        err += w[i] * diff;
      }
      if (err < best) {
        std::memcpy(L, aux, static_cast<size_t>(n));
        best = err;
        scale = this_scale;
        mn = this_min;
      }
    }
  }
  *the_min = -mn;
  return scale;
}

// Signed fit to levels -nmax..nmax-1 (stored + nmax) with weights x^2: the grid -nmax/max (max
// the signed extreme) and 18 neighbours -(nmax + 0.1 is)/max, keeping the one with the largest
// sum(w x l)^2 / sum(w l^2); returns the least-squares scale of the kept codes.
float fit_signed_rmse(int n, int nmax, const float* x, uint8_t* L) {
  float amax;
  const float mx = signed_extreme(n, x, &amax);
  if (amax < kGroupMaxEps) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.f;
  }
  float iscale = -nmax / mx;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    int l = nearest_int(iscale * x[i]);
    l = std::max(-nmax, std::min(nmax - 1, l));
    L[i] = static_cast<uint8_t>(l + nmax);
    const float w = x[i] * x[i];
    sumlx += w * x[i] * l;
    suml2 += w * l * l;
  }
  float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    iscale = -(nmax + 0.1f * is) / mx;
    sumlx = suml2 = 0;
    for (int i = 0; i < n; ++i) {
      int l = nearest_int(iscale * x[i]);
      l = std::max(-nmax, std::min(nmax - 1, l));
      const float w = x[i] * x[i];
      sumlx += w * x[i] * l;
      suml2 += w * l * l;
    }
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; ++i) {
        const int l = nearest_int(iscale * x[i]);
        L[i] = static_cast<uint8_t>(nmax + std::max(-nmax, std::min(nmax - 1, l)));
      }
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

// Q3_K's sub-block fit: codes -nmax..nmax-1 from -nmax/max, then up to 5 passes moving single
// codes to nearest(x * sum(w l^2) / sum(w x l)) of the others where that raises
// sum(w x l)^2 / sum(w l^2), w = x^2. Codes stored + nmax.
float fit_q3(int n, int nmax, const float* x, uint8_t* Lout) {
  float amax;
  const float mx = signed_extreme(n, x, &amax);
  if (amax < kGroupMaxEps) {
    for (int i = 0; i < n; ++i) Lout[i] = 0;
    return 0.f;
  }
  const float iscale = -nmax / mx;
  int8_t L[16];
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    int l = nearest_int(iscale * x[i]);
    l = std::max(-nmax, std::min(nmax - 1, l));
    L[i] = static_cast<int8_t>(l);
    const float w = x[i] * x[i];
    sumlx += w * x[i] * l;
    suml2 += w * l * l;
  }
  for (int itry = 0; itry < 5; ++itry) {
    int changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = x[i] * x[i];
      float slx = sumlx - w * x[i] * L[i];
      if (slx > 0) {
        float sl2 = suml2 - w * L[i] * L[i];
        int nl = nearest_int(x[i] * sl2 / slx);
        nl = std::max(-nmax, std::min(nmax - 1, nl));
        if (nl != L[i]) {
          slx += w * x[i] * nl;
          sl2 += w * nl * nl;
          if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
            L[i] = static_cast<int8_t>(nl);
            sumlx = slx;
            suml2 = sl2;
            ++changed;
          }
        }
      }
    }
    if (!changed) break;
  }
  for (int i = 0; i < n; ++i) Lout[i] = static_cast<uint8_t>(L[i] + nmax);
  return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

void q2_k_block(const float* x, GgmlBlocks& b, int64_t i) {
  uint8_t L[256];
  float scales[16], mins[16], w[16];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < 16; ++j) {
    for (int l = 0; l < 16; ++l) w[l] = std::fabs(x[16 * j + l]);
    scales[j] = fit_scale_min(16, 3, x + 16 * j, w, L + 16 * j, &mins[j], -0.5f, 0.1f, 15, true);
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  uint8_t packed[16];  // s | m << 4, as ggml builds it (then read back)
  if (max_scale > 0) {
    const float iscale = 15.f / max_scale;
    for (int j = 0; j < 16; ++j) packed[j] = static_cast<uint8_t>(nearest_int(iscale * scales[j]));
    b.d[i] = fp32_to_fp16(max_scale / 15.f);
  } else {
    for (int j = 0; j < 16; ++j) packed[j] = 0;
    b.d[i] = fp32_to_fp16(0.f);
  }
  if (max_min > 0) {
    const float iscale = 15.f / max_min;
    for (int j = 0; j < 16; ++j)
      packed[j] = static_cast<uint8_t>(packed[j] | (nearest_int(iscale * mins[j]) << 4));
    b.dmin[i] = fp32_to_fp16(max_min / 15.f);
  } else {
    b.dmin[i] = fp32_to_fp16(0.f);
  }
  const float dd = fp16_to_fp32(b.d[i]), dm = fp16_to_fp32(b.dmin[i]);
  for (int j = 0; j < 16; ++j) {
    b.scales[i * 16 + j] = packed[j] & 0xF;
    b.mins[i * 16 + j] = packed[j] >> 4;
    const float d = dd * (packed[j] & 0xF);
    if (d == 0) continue;
    const float m = dm * (packed[j] >> 4);
    for (int k = 0; k < 16; ++k) {
      const int l = nearest_int((x[16 * j + k] + m) / d);
      L[16 * j + k] = static_cast<uint8_t>(std::max(0, std::min(3, l)));
    }
  }
  for (int k = 0; k < 256; ++k) b.codes[i * 256 + k] = static_cast<int8_t>(L[k]);
}

void q3_k_block(const float* x, GgmlBlocks& b, int64_t i) {
  uint8_t L[256];
  float scales[16];
  float max_scale = 0, amax = 0;
  for (int j = 0; j < 16; ++j) {
    scales[j] = fit_q3(16, 4, x + 16 * j, L + 16 * j);
    const float a = std::fabs(scales[j]);
    if (a > amax) {
      amax = a;
      max_scale = scales[j];
    }
  }
  int16_t* sc = b.scales.data() + i * 16;
  if (max_scale != 0) {
    const float iscale = -32.f / max_scale;
    for (int j = 0; j < 16; ++j) {
      const int l = nearest_int(iscale * scales[j]);
      sc[j] = static_cast<int16_t>(std::max(-32, std::min(31, l)));
    }
    b.d[i] = fp32_to_fp16(1 / iscale);
  } else {
    for (int j = 0; j < 16; ++j) sc[j] = -32;  // the zeroed 6-bit fields read back as -32
    b.d[i] = fp32_to_fp16(0.f);
  }
  const float dd = fp16_to_fp32(b.d[i]);
  for (int j = 0; j < 16; ++j) {
    const float d = dd * sc[j];
    if (d == 0) continue;
    for (int k = 0; k < 16; ++k) {
      const int l = nearest_int(x[16 * j + k] / d);
      L[16 * j + k] = static_cast<uint8_t>(std::max(-4, std::min(3, l)) + 4);
    }
  }
  for (int k = 0; k < 256; ++k) b.codes[i * 256 + k] = static_cast<int8_t>(L[k] - 4);
}

// Q4_K (nmax 15) and Q5_K (nmax 31).
void q45_k_block(const float* x, GgmlBlocks& b, int64_t i, int nmax) {
  uint8_t L[256];
  float scales[8], mins[8], w[32];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < 8; ++j) {
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
    const float av_x = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; ++l) w[l] = av_x + std::fabs(x[32 * j + l]);
    scales[j] =
        nmax == 15
            ? fit_scale_min(32, 15, x + 32 * j, w, L + 32 * j, &mins[j], -1.f, 0.1f, 20, false)
            : fit_scale_min(32, 31, x + 32 * j, w, L + 32 * j, &mins[j], -0.5f, 0.1f, 15, false);
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  int16_t* sc = b.scales.data() + i * 8;
  int16_t* mn = b.mins.data() + i * 8;
  for (int j = 0; j < 8; ++j) {
    const uint8_t ls = static_cast<uint8_t>(nearest_int(inv_scale * scales[j]));
    const uint8_t lm = static_cast<uint8_t>(nearest_int(inv_min * mins[j]));
    sc[j] = std::min<uint8_t>(63, ls);
    mn[j] = std::min<uint8_t>(63, lm);
  }
  b.d[i] = fp32_to_fp16(max_scale / 63.f);
  b.dmin[i] = fp32_to_fp16(max_min / 63.f);
  const float dd = fp16_to_fp32(b.d[i]), dm = fp16_to_fp32(b.dmin[i]);
  for (int j = 0; j < 8; ++j) {
    const float d = dd * sc[j];
    if (d == 0) continue;
    const float m = dm * mn[j];
    for (int k = 0; k < 32; ++k) {
      const int l = nearest_int((x[32 * j + k] + m) / d);
      L[32 * j + k] = static_cast<uint8_t>(std::max(0, std::min(nmax, l)));
    }
  }
  for (int k = 0; k < 256; ++k) b.codes[i * 256 + k] = static_cast<int8_t>(L[k]);
}

void q6_k_block(const float* x, GgmlBlocks& b, int64_t i) {
  uint8_t L[256];
  float scales[16];
  float max_scale = 0, max_abs = 0;
  for (int j = 0; j < 16; ++j) {
    scales[j] = fit_signed_rmse(16, 32, x + 16 * j, L + 16 * j);
    const float a = std::fabs(scales[j]);
    if (a > max_abs) {
      max_abs = a;
      max_scale = scales[j];
    }
  }
  int16_t* sc = b.scales.data() + i * 16;
  if (max_abs < kGroupMaxEps) {  // the whole block zeroed: codes read back as -32
    for (int j = 0; j < 16; ++j) sc[j] = 0;
    for (int k = 0; k < 256; ++k) b.codes[i * 256 + k] = -32;
    b.d[i] = fp32_to_fp16(0.f);
    return;
  }
  const float iscale = -128.f / max_scale;
  b.d[i] = fp32_to_fp16(1 / iscale);
  for (int j = 0; j < 16; ++j)
    sc[j] = static_cast<int8_t>(std::min(127, nearest_int(iscale * scales[j])));
  const float dd = fp16_to_fp32(b.d[i]);
  for (int j = 0; j < 16; ++j) {
    const float d = dd * sc[j];
    if (d == 0) continue;
    for (int k = 0; k < 16; ++k) {
      const int l = nearest_int(x[16 * j + k] / d);
      L[16 * j + k] = static_cast<uint8_t>(std::max(-32, std::min(31, l)) + 32);
    }
  }
  for (int k = 0; k < 256; ++k) b.codes[i * 256 + k] = static_cast<int8_t>(L[k] - 32);
}

void q4_0_block(const float* x, GgmlBlocks& b, int64_t i) {
  const float d = ggml_block_scale(GgmlQuant::Q4_0, x);
  const float id = d != 0 ? 1.0f / d : 0.0f;
  b.d[i] = fp32_to_fp16(d);
  for (int j = 0; j < 32; ++j) {
    const int xi = std::min(15, static_cast<int>(static_cast<int8_t>(x[j] * id + 8.5f)));
    b.codes[i * 32 + j] = static_cast<int8_t>(xi - 8);
  }
}

void q8_0_block(const float* x, GgmlBlocks& b, int64_t i) {
  const float d = ggml_block_scale(GgmlQuant::Q8_0, x);
  const float id = d != 0 ? 1.0f / d : 0.0f;
  b.d[i] = fp32_to_fp16(d);
  for (int j = 0; j < 32; ++j) b.codes[i * 32 + j] = static_cast<int8_t>(std::round(x[j] * id));
}

void tq_block(const float* x, GgmlBlocks& b, int64_t i) {
  const float amax = ggml_block_scale(GgmlQuant::TQ1_0, x);
  const float id = amax != 0 ? 1.0f / amax : 0.0f;
  b.d[i] = fp32_to_fp16(amax);
  for (int j = 0; j < 256; ++j) b.codes[i * 256 + j] = static_cast<int8_t>(std::lround(x[j] * id));
}

}  // namespace

float ggml_block_scale(GgmlQuant type, const float* x) {
  float amax;
  const float mx = signed_extreme(ggml_quant_spec(type).block, x, &amax);
  if (type == GgmlQuant::Q4_0) return mx / -8;
  if (type == GgmlQuant::Q8_0) return amax / 127;
  return amax;  // TQ1_0, TQ2_0
}

GgmlBlocks ggml_reference_quantize(GgmlQuant type, const float* x, int64_t numel,
                                   const std::string& what) {
  GgmlBlocks b = make_ggml_blocks(type, numel, what);
  const int block = ggml_quant_spec(type).block;
  for (int64_t i = 0; i < b.blocks(); ++i) {
    const float* xb = x + i * block;
    switch (type) {
      case GgmlQuant::Q4_0:
        q4_0_block(xb, b, i);
        break;
      case GgmlQuant::Q8_0:
        q8_0_block(xb, b, i);
        break;
      case GgmlQuant::Q2_K:
        q2_k_block(xb, b, i);
        break;
      case GgmlQuant::Q3_K:
        q3_k_block(xb, b, i);
        break;
      case GgmlQuant::Q4_K:
        q45_k_block(xb, b, i, 15);
        break;
      case GgmlQuant::Q5_K:
        q45_k_block(xb, b, i, 31);
        break;
      case GgmlQuant::Q6_K:
        q6_k_block(xb, b, i);
        break;
      case GgmlQuant::TQ1_0:
      case GgmlQuant::TQ2_0:
        tq_block(xb, b, i);
        break;
    }
  }
  return b;
}

}  // namespace qatwb::quant
