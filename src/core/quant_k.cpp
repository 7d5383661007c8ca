// q2_k, q3_k and q5_k: ggml's reference quantizers (quantize_row_q{2,3,5}_K_ref) and dequantizers,
// written from its formulas in the same float operation order so the bytes match llama.cpp's.
#include "core/quant_k.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/convert.h"

namespace whale::core {
namespace {


// Per half of 128, qs[l] takes elements l, l+32, l+64, l+96 (each in [0, 3]) at shifts 0, 2, 4, 6.
void pack_2bit(const uint8_t* L, uint8_t* qs) {
  for (int j = 0; j < kQK_K; j += 128) {
    for (int l = 0; l < 32; ++l) {
      qs[j / 4 + l] =
          static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
    }
  }
}

// Element e's 2-bit field of pack_2bit's layout.
int unpack_2bit(const uint8_t* qs, int e) { return (qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3; }

// Symmetric fit x ~ scale * l, l in [-nmax, nmax-1], weighted by x², refined by up to 5 passes
// that move single elements to the level that most improves the weighted fit (ggml's
// make_q3_quants with do_rmse). L receives l + nmax.
float fit_scale_q3(int n, int nmax, const float* x, int8_t* L) {
  const float max = largest_magnitude(x, n);
  if (std::fabs(max) < kGroupMaxEps) {
    std::fill(L, L + n, 0);
    return 0.f;
  }
  const float iscale = -nmax / max;
  float sumlx = 0.f, suml2 = 0.f;
  for (int i = 0; i < n; ++i) {
    const int l = std::clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1);
    L[i] = static_cast<int8_t>(l);
    const float w = x[i] * x[i];
    sumlx += w * x[i] * l;
    suml2 += w * l * l;
  }
  for (int pass = 0; pass < 5; ++pass) {
    int changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = x[i] * x[i];
      float slx = sumlx - w * x[i] * L[i];
      if (slx <= 0.f) continue;
      float sl2 = suml2 - w * L[i] * L[i];
      const int l = std::clamp(nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
      if (l == L[i]) continue;
      slx += w * x[i] * l;
      sl2 += w * l * l;
      if (sl2 > 0.f && slx * slx * suml2 > sumlx * sumlx * sl2) {
        L[i] = static_cast<int8_t>(l);
        sumlx = slx;
        suml2 = sl2;
        ++changed;
      }
    }
    if (!changed) break;
  }
  for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(L[i] + nmax);
  return suml2 > 0.f ? sumlx / suml2 : 0.f;
}

}  // namespace

int q3_k_scale(int j, const uint8_t* scales) {
  const int lo = j < 8 ? scales[j] & 0xF : scales[j - 8] >> 4;
  return (lo | (((scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
}

void quantize_q2_k(const float* x, BlockQ2_K* y, int64_t nb) {
  uint8_t L[kQK_K];
  float weights[16];
  float scales[16];
  float mins[16];
  for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
    BlockQ2_K& b = y[i];
    float max_scale = 0.f, max_min = 0.f;
    for (int j = 0; j < 16; ++j) {
      for (int l = 0; l < 16; ++l) weights[l] = std::fabs(x[16 * j + l]);
      // Mean absolute error: with 4 levels, squared error lets outliers pull the grid.
      scales[j] = fit_scale_min(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], -0.5f, 0.1f, 15, true);
      max_scale = std::max(max_scale, scales[j]);
      max_min = std::max(max_min, mins[j]);
    }
    if (max_scale > 0.f) {
      const float iscale = 15.f / max_scale;
      for (int j = 0; j < 16; ++j) b.scales[j] = static_cast<uint8_t>(nearest_int(iscale * scales[j]));
      b.d = f32_to_f16(max_scale / 15.f);
    } else {
      std::memset(b.scales, 0, sizeof b.scales);
      b.d = f32_to_f16(0.f);
    }
    if (max_min > 0.f) {
      const float iscale = 15.f / max_min;
      for (int j = 0; j < 16; ++j) b.scales[j] |= static_cast<uint8_t>(nearest_int(iscale * mins[j]) << 4);
      b.dmin = f32_to_f16(max_min / 15.f);
    } else {
      b.dmin = f32_to_f16(0.f);
    }
    // Requantize against the scales as stored (4-bit, f16).
    for (int j = 0; j < 16; ++j) {
      const float d = f16_to_f32(b.d) * (b.scales[j] & 0xF);
      if (d == 0.f) continue;
      const float dm = f16_to_f32(b.dmin) * (b.scales[j] >> 4);
      for (int l = 0; l < 16; ++l) {
        L[16 * j + l] = static_cast<uint8_t>(std::clamp(nearest_int((x[16 * j + l] + dm) / d), 0, 3));
      }
    }
    pack_2bit(L, b.qs);
  }
}

void dequantize_q2_k(const BlockQ2_K* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK_K) {
    const float d = f16_to_f32(x[i].d), dmin = f16_to_f32(x[i].dmin);
    for (int s = 0; s < 16; ++s) {
      const float dl = d * (x[i].scales[s] & 0xF), ml = dmin * (x[i].scales[s] >> 4);
      for (int l = 0; l < 16; ++l) y[16 * s + l] = dl * unpack_2bit(x[i].qs, 16 * s + l) - ml;
    }
  }
}

void quantize_q3_k(const float* x, BlockQ3_K* y, int64_t nb) {
  int8_t L[kQK_K];
  float scales[16];
  for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
    BlockQ3_K& b = y[i];
    float max_scale = 0.f, amax = 0.f;
    for (int j = 0; j < 16; ++j) {
      scales[j] = fit_scale_q3(16, 4, x + 16 * j, L + 16 * j);
      if (std::fabs(scales[j]) > amax) {
        amax = std::fabs(scales[j]);
        max_scale = scales[j];
      }
    }
    std::memset(b.scales, 0, sizeof b.scales);
    if (max_scale != 0.f) {
      const float iscale = -32.f / max_scale;
      for (int j = 0; j < 16; ++j) {
        // ggml stores nearest_int into an int8_t before clamping; |iscale * scale| <= 32 keeps it exact.
        const int l = std::clamp(static_cast<int>(static_cast<int8_t>(nearest_int(iscale * scales[j]))), -32, 31) + 32;
        if (j < 8) {
          b.scales[j] = static_cast<uint8_t>(l & 0xF);
        } else {
          b.scales[j - 8] |= static_cast<uint8_t>((l & 0xF) << 4);
        }
        b.scales[j % 4 + 8] |= static_cast<uint8_t>((l >> 4) << (2 * (j / 4)));
      }
      b.d = f32_to_f16(1.f / iscale);
    } else {
      b.d = f32_to_f16(0.f);
    }
    for (int j = 0; j < 16; ++j) {
      const float d = f16_to_f32(b.d) * q3_k_scale(j, b.scales);
      if (d == 0.f) continue;
      for (int l = 0; l < 16; ++l) {
        L[16 * j + l] = static_cast<int8_t>(std::clamp(nearest_int(x[16 * j + l] / d), -4, 3) + 4);
      }
    }
    std::memset(b.hmask, 0, sizeof b.hmask);
    uint8_t low[kQK_K];
    for (int e = 0; e < kQK_K; ++e) {
      if (L[e] > 3) b.hmask[e % 32] |= static_cast<uint8_t>(1 << (e / 32));
      low[e] = static_cast<uint8_t>(L[e] > 3 ? L[e] - 4 : L[e]);
    }
    pack_2bit(low, b.qs);
  }
}

void dequantize_q3_k(const BlockQ3_K* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK_K) {
    const float d = f16_to_f32(x[i].d);
    for (int s = 0; s < 16; ++s) {
      const float dl = d * q3_k_scale(s, x[i].scales);
      for (int l = 0; l < 16; ++l) {
        const int e = 16 * s + l;
        const int high = (x[i].hmask[e % 32] >> (e / 32)) & 1;
        y[e] = dl * (unpack_2bit(x[i].qs, e) - (high ? 0 : 4));
      }
    }
  }
}

void quantize_q5_k(const float* x, BlockQ5_K* y, int64_t nb) {
  uint8_t L[kQK_K];
  for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
    BlockQ5_K& b = y[i];
    quantize_k4_header(x, 31, -0.5f, 15, b.scales, &b.d, &b.dmin, L);
    std::memset(b.qh, 0, sizeof b.qh);
    for (int j = 0; j < kQK_K; j += 64) {
      for (int l = 0; l < 32; ++l) {
        const int lo = L[j + l], hi = L[j + l + 32];
        b.qh[l] |= static_cast<uint8_t>(((lo >> 4) << (j / 32)) | ((hi >> 4) << (j / 32 + 1)));
        b.qs[j / 2 + l] = static_cast<uint8_t>((lo & 0xF) | ((hi & 0xF) << 4));
      }
    }
  }
}

void dequantize_q5_k(const BlockQ5_K* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = f16_to_f32(x[i].d), dmin = f16_to_f32(x[i].dmin);
    for (int s = 0; s < 8; ++s) {
      uint8_t sc, m;
      q4_k_scale_min(s, x[i].scales, &sc, &m);
      const float ds = d * sc, ms = dmin * m;
      const uint8_t* q = x[i].qs + 32 * (s / 2);
      for (int l = 0; l < 32; ++l) {
        const int lo = s % 2 == 0 ? q[l] & 0xF : q[l] >> 4;
        *y++ = ds * (lo | (((x[i].qh[l] >> s) & 1) << 4)) - ms;
      }
    }
  }
}

}  // namespace whale::core
