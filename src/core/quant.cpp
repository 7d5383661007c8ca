// Reference (scalar) GGUF block quantizers and dequantizers, written from ggml's formulas so the
// bytes match llama.cpp, plus DeepSeek-V3's FP8 128x128 block-scaled weights.
#include "core/quant.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/convert.h"
#include "core/error.h"
#include "core/quant_k.h"
#include "core/quant_iq.h"
#include "core/quant_legacy.h"

namespace whale::core {

float largest_magnitude(const float* x, int n) {
  float amax = 0.f, max = 0.f;
  for (int i = 0; i < n; ++i) {
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      max = x[i];
    }
  }
  return max;
}

// Round to nearest, ties to even, via the 1.5 * 2^23 trick ggml uses; never UB (garbage past 2^22,
// which callers clamp away).
int nearest_int(float v) {
  const float shifted = v + 12582912.f;
  int32_t i;
  std::memcpy(&i, &shifted, sizeof i);
  return (i & 0x007FFFFF) - 0x00400000;
}

namespace {

int64_t whole_blocks(DType t, int64_t n, int64_t block) {
  if (n < 0 || n % block != 0) {
    fail(ErrorKind::kInvalidArgument, dtype_name(t), ": ", n,
         " elements is not a whole number of blocks of ", block);
  }
  return n / block;
}

void quantize_q8_0(const float* x, BlockQ8_0* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQK8_0) {
    float amax = 0.f;
    for (int j = 0; j < kQK8_0; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.f;
    const float id = d != 0.f ? 1.f / d : 0.f;
    y[i].d = f32_to_f16(d);
    for (int j = 0; j < kQK8_0; ++j) y[i].qs[j] = static_cast<int8_t>(std::round(x[j] * id));
  }
}

void dequantize_q8_0(const BlockQ8_0* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK8_0) {
    const float d = f16_to_f32(x[i].d);
    for (int j = 0; j < kQK8_0; ++j) y[j] = x[i].qs[j] * d;
  }
}

void quantize_q4_0(const float* x, BlockQ4_0* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQK4_0) {
    // The signed extreme maps to -8, so the 16th level (+8 side) is never wasted.
    float amax = 0.f;
    float max = 0.f;
    for (int j = 0; j < kQK4_0; ++j) {
      if (amax < std::fabs(x[j])) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    const float d = max / -8.f;
    const float id = d != 0.f ? 1.f / d : 0.f;
    y[i].d = f32_to_f16(d);
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      // Truncating x*id + 8.5 rounds to nearest; the MIN catches the +8 that -max gives.
      const int lo = std::min(15, static_cast<int>(static_cast<int8_t>(x[j] * id + 8.5f)));
      const int hi = std::min(15, static_cast<int>(static_cast<int8_t>(x[j + 16] * id + 8.5f)));
      y[i].qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

void dequantize_q4_0(const BlockQ4_0* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK4_0) {
    const float d = f16_to_f32(x[i].d);
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      y[j] = ((x[i].qs[j] & 0x0F) - 8) * d;
      y[j + 16] = ((x[i].qs[j] >> 4) - 8) * d;
    }
  }
}

}  // namespace

// Fits x ~ scale * L - min with L in [0, nmax] minimising the weighted squared (or, use_mad,
// absolute) error: start from the min/max grid, then try nstep slightly stretched grids and solve
// the 2x2 least squares for each (ggml's make_qkx2_quants). Returns the scale; *neg_min receives
// -min (>= 0).
float fit_scale_min(int n, int nmax, const float* x, const float* w, uint8_t* L, float* neg_min,
                    float rmin, float rdelta, int nstep, bool use_mad) {
  // The error as ggml sums it (w * (diff*diff)), so ties between grids break the same way.
  const auto error = [use_mad](float diff) { return use_mad ? std::fabs(diff) : diff * diff; };
  float min = x[0], max = x[0];
  float sum_w = 0.f, sum_x = 0.f;
  for (int i = 0; i < n; ++i) {
    min = std::min(min, x[i]);
    max = std::max(max, x[i]);
    sum_w += w[i];
    sum_x += w[i] * x[i];
  }
  min = std::min(min, 0.f);
  if (max == min) {
    std::fill(L, L + n, 0);
    *neg_min = -min;
    return 0.f;
  }
  float iscale = nmax / (max - min);
  float scale = 1.f / iscale;
  float best_error = 0.f;
  for (int i = 0; i < n; ++i) {
    L[i] = static_cast<uint8_t>(std::clamp(nearest_int(iscale * (x[i] - min)), 0, nmax));
    best_error += w[i] * error(scale * L[i] + min - x[i]);
  }
  uint8_t trial[32];
  for (int step = 0; step <= nstep; ++step) {
    iscale = (rmin + rdelta * step + nmax) / (max - min);
    float sum_l = 0.f, sum_l2 = 0.f, sum_xl = 0.f;
    for (int i = 0; i < n; ++i) {
      const int l = std::clamp(nearest_int(iscale * (x[i] - min)), 0, nmax);
      trial[i] = static_cast<uint8_t>(l);
      sum_l += w[i] * l;
      sum_l2 += w[i] * l * l;
      sum_xl += w[i] * l * x[i];
    }
    const float det = sum_w * sum_l2 - sum_l * sum_l;
    if (det <= 0.f) continue;
    float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
    float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
    if (this_min > 0.f) {  // the format can only subtract a min
      this_min = 0.f;
      this_scale = sum_xl / sum_l2;
    }
    float err = 0.f;
    for (int i = 0; i < n; ++i) {
      err += w[i] * error(this_scale * trial[i] + this_min - x[i]);
    }
    if (err < best_error) {
      std::copy(trial, trial + n, L);
      best_error = err;
      scale = this_scale;
      min = this_min;
    }
  }
  *neg_min = -min;
  return scale;
}

void quantize_k4_header(const float* x, int nmax, float rmin, int nstep, uint8_t* packed, uint16_t* d_out,
                        uint16_t* dmin_out, uint8_t* L) {
  float weights[32];
  float scales[8];
  float mins[8];
  float max_scale = 0.f, max_min = 0.f;
  for (int j = 0; j < 8; ++j) {
    const float* xs = x + 32 * j;
    float sum_x2 = 0.f;
    for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
    const float av_x = std::sqrt(sum_x2 / 32.f);
    for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xs[l]);
    scales[j] = fit_scale_min(32, nmax, xs, weights, L + 32 * j, &mins[j], rmin, 0.1f, nstep);
    max_scale = std::max(max_scale, scales[j]);
    max_min = std::max(max_min, mins[j]);
  }
  std::memset(packed, 0, 12);
  const float inv_scale = max_scale > 0.f ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0.f ? 63.f / max_min : 0.f;
  for (int j = 0; j < 8; ++j) {
    const int ls = std::min(63, nearest_int(inv_scale * scales[j]));
    const int lm = std::min(63, nearest_int(inv_min * mins[j]));
    if (j < 4) {
      packed[j] = static_cast<uint8_t>(ls);
      packed[j + 4] = static_cast<uint8_t>(lm);
    } else {
      packed[j + 4] = static_cast<uint8_t>((ls & 0xF) | ((lm & 0xF) << 4));
      packed[j - 4] |= static_cast<uint8_t>((ls >> 4) << 6);
      packed[j] |= static_cast<uint8_t>((lm >> 4) << 6);
    }
  }
  *d_out = f32_to_f16(max_scale / 63.f);
  *dmin_out = f32_to_f16(max_min / 63.f);
  // Requantize against the scales as stored (6-bit, f16), not the ideal ones.
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    q4_k_scale_min(j, packed, &sc, &m);
    const float d = f16_to_f32(*d_out) * sc;
    if (d == 0.f) continue;
    const float dm = f16_to_f32(*dmin_out) * m;
    for (int l = 0; l < 32; ++l) {
      L[32 * j + l] = static_cast<uint8_t>(std::clamp(nearest_int((x[32 * j + l] + dm) / d), 0, nmax));
    }
  }
}

namespace {

void quantize_q4_k(const float* x, BlockQ4_K* y, int64_t nb) {
  uint8_t L[kQK_K];
  for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
    BlockQ4_K& b = y[i];
    quantize_k4_header(x, 15, -1.f, 20, b.scales, &b.d, &b.dmin, L);
    for (int j = 0; j < kQK_K; j += 64) {
      for (int l = 0; l < 32; ++l) {
        b.qs[j / 2 + l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 4));
      }
    }
  }
}

void dequantize_q4_k(const BlockQ4_K* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = f16_to_f32(x[i].d);
    const float dmin = f16_to_f32(x[i].dmin);
    const uint8_t* q = x[i].qs;
    for (int j = 0; j < 8; j += 2, q += 32) {
      uint8_t sc, m;
      q4_k_scale_min(j, x[i].scales, &sc, &m);
      const float d1 = d * sc, m1 = dmin * m;
      q4_k_scale_min(j + 1, x[i].scales, &sc, &m);
      const float d2 = d * sc, m2 = dmin * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * (q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * (q[l] >> 4) - m2;
    }
  }
}

// Symmetric fit x ~ scale * l, l in [-nmax, nmax-1], weighting by x^2 and trying 18 stretched grids
// around the max (ggml's make_qx_quants with rmse_type 1). L receives l + nmax.
float fit_scale(int n, int nmax, const float* x, int8_t* L) {
  const float max = largest_magnitude(x, n);
  if (std::fabs(max) < kGroupMaxEps) {
    std::fill(L, L + n, 0);
    return 0.f;
  }
  auto fit = [&](float iscale, float* sumlx, float* suml2) {
    *sumlx = 0.f;
    *suml2 = 0.f;
    for (int i = 0; i < n; ++i) {
      const int l = std::clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1);
      const float w = x[i] * x[i];
      *sumlx += w * x[i] * l;
      *suml2 += w * l * l;
    }
  };
  auto assign = [&](float iscale) {
    for (int i = 0; i < n; ++i) {
      L[i] = static_cast<int8_t>(nmax + std::clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1));
    }
  };
  float sumlx, suml2;
  float iscale = -nmax / max;
  fit(iscale, &sumlx, &suml2);
  assign(iscale);
  float scale = suml2 != 0.f ? sumlx / suml2 : 0.f;
  float best = scale * sumlx;
  for (int step = -9; step <= 9; ++step) {
    if (step == 0) continue;
    iscale = -(nmax + 0.1f * step) / max;
    fit(iscale, &sumlx, &suml2);
    if (suml2 > 0.f && sumlx * sumlx > best * suml2) {
      assign(iscale);
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

void quantize_q6_k(const float* x, BlockQ6_K* y, int64_t nb) {
  int8_t L[kQK_K];
  float scales[16];
  for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
    BlockQ6_K& b = y[i];
    std::memset(&b, 0, sizeof b);
    float max_scale = 0.f, max_abs_scale = 0.f;
    for (int s = 0; s < 16; ++s) {
      scales[s] = fit_scale(16, 32, x + 16 * s, L + 16 * s);
      if (std::fabs(scales[s]) > max_abs_scale) {
        max_abs_scale = std::fabs(scales[s]);
        max_scale = scales[s];
      }
    }
    if (max_abs_scale < kGroupMaxEps) continue;  // all zero: the zeroed block decodes to zeros
    const float iscale = -128.f / max_scale;
    b.d = f32_to_f16(1.f / iscale);
    for (int s = 0; s < 16; ++s) {
      b.scales[s] = static_cast<int8_t>(std::min(127, nearest_int(iscale * scales[s])));
    }
    for (int s = 0; s < 16; ++s) {
      const float d = f16_to_f32(b.d) * b.scales[s];
      if (d == 0.f) continue;
      for (int l = 0; l < 16; ++l) {
        L[16 * s + l] = static_cast<int8_t>(32 + std::clamp(nearest_int(x[16 * s + l] / d), -32, 31));
      }
    }
    for (int j = 0; j < kQK_K; j += 128) {
      uint8_t* ql = b.ql + j / 2;
      uint8_t* qh = b.qh + j / 4;
      for (int l = 0; l < 32; ++l) {
        const int q1 = L[j + l], q2 = L[j + l + 32], q3 = L[j + l + 64], q4 = L[j + l + 96];
        ql[l] = static_cast<uint8_t>((q1 & 0xF) | ((q3 & 0xF) << 4));
        ql[l + 32] = static_cast<uint8_t>((q2 & 0xF) | ((q4 & 0xF) << 4));
        qh[l] = static_cast<uint8_t>((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
      }
    }
  }
}

void dequantize_q6_k(const BlockQ6_K* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = f16_to_f32(x[i].d);
    for (int half = 0; half < 2; ++half, y += 128) {
      const uint8_t* ql = x[i].ql + 64 * half;
      const uint8_t* qh = x[i].qh + 32 * half;
      const int8_t* sc = x[i].scales + 8 * half;
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = d * sc[is] * q1;
        y[l + 32] = d * sc[is + 2] * q2;
        y[l + 64] = d * sc[is + 4] * q3;
        y[l + 96] = d * sc[is + 6] * q4;
      }
    }
  }
}

void check_fp8_dims(int64_t rows, int64_t cols, int64_t block) {
  if (rows < 0 || cols < 0 || block < 1) {
    fail(ErrorKind::kInvalidArgument, "fp8 blocks: bad shape [", rows, ", ", cols, "] or block ",
         block);
  }
}

}  // namespace

void q4_k_scale_min(int j, const uint8_t* scales, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = scales[j] & 63;
    *m = scales[j + 4] & 63;
  } else {
    *sc = static_cast<uint8_t>((scales[j + 4] & 0xF) | ((scales[j - 4] >> 6) << 4));
    *m = static_cast<uint8_t>((scales[j + 4] >> 4) | ((scales[j] >> 6) << 4));
  }
}

void quantize_row(DType t, const float* src, void* dst, int64_t n) {
  switch (t) {
    case DType::kQ8_0:
      return quantize_q8_0(src, static_cast<BlockQ8_0*>(dst), whole_blocks(t, n, kQK8_0));
    case DType::kQ4_0:
      return quantize_q4_0(src, static_cast<BlockQ4_0*>(dst), whole_blocks(t, n, kQK4_0));
    case DType::kQ4_K:
      return quantize_q4_k(src, static_cast<BlockQ4_K*>(dst), whole_blocks(t, n, kQK_K));
    case DType::kQ6_K:
      return quantize_q6_k(src, static_cast<BlockQ6_K*>(dst), whole_blocks(t, n, kQK_K));
    case DType::kQ2_K:
      return quantize_q2_k(src, static_cast<BlockQ2_K*>(dst), whole_blocks(t, n, kQK_K));
    case DType::kQ3_K:
      return quantize_q3_k(src, static_cast<BlockQ3_K*>(dst), whole_blocks(t, n, kQK_K));
    case DType::kQ5_K:
      return quantize_q5_k(src, static_cast<BlockQ5_K*>(dst), whole_blocks(t, n, kQK_K));
    default:
      if (is_legacy_quant(t)) return quantize_row_legacy(t, src, dst, n);
      if (is_iq_codebook(t)) {
        fail(ErrorKind::kUnsupported, "quantize_row: whale reads ", dtype_name(t),
             " but does not write it (its codebook search needs an importance matrix, as in llama.cpp)");
      }
      fail(ErrorKind::kUnsupported, "quantize_row: ", dtype_name(t), " is not a block type");
  }
}

bool can_quantize(DType t) { return dtype_info(t).is_block_quant && !is_iq_codebook(t); }

void dequantize_row(DType t, const void* src, float* dst, int64_t n) {
  switch (t) {
    case DType::kQ8_0:
      return dequantize_q8_0(static_cast<const BlockQ8_0*>(src), dst, whole_blocks(t, n, kQK8_0));
    case DType::kQ4_0:
      return dequantize_q4_0(static_cast<const BlockQ4_0*>(src), dst, whole_blocks(t, n, kQK4_0));
    case DType::kQ4_K:
      return dequantize_q4_k(static_cast<const BlockQ4_K*>(src), dst, whole_blocks(t, n, kQK_K));
    case DType::kQ6_K:
      return dequantize_q6_k(static_cast<const BlockQ6_K*>(src), dst, whole_blocks(t, n, kQK_K));
    case DType::kQ2_K:
      return dequantize_q2_k(static_cast<const BlockQ2_K*>(src), dst, whole_blocks(t, n, kQK_K));
    case DType::kQ3_K:
      return dequantize_q3_k(static_cast<const BlockQ3_K*>(src), dst, whole_blocks(t, n, kQK_K));
    case DType::kQ5_K:
      return dequantize_q5_k(static_cast<const BlockQ5_K*>(src), dst, whole_blocks(t, n, kQK_K));
    default:
      if (is_legacy_quant(t)) return dequantize_row_legacy(t, src, dst, n);
      if (is_iq_codebook(t)) return dequantize_row_iq(t, src, dst, n);
      fail(ErrorKind::kUnsupported, "dequantize_row: ", dtype_name(t), " is not a block type");
  }
}

void quantize_fp8_blocks(const float* w, int64_t rows, int64_t cols, uint8_t* q, float* scale_inv,
                         int64_t block) {
  check_fp8_dims(rows, cols, block);
  const int64_t n_bc = (cols + block - 1) / block;
  for (int64_t r0 = 0; r0 < rows; r0 += block) {
    const int64_t r1 = std::min(rows, r0 + block);
    for (int64_t c0 = 0; c0 < cols; c0 += block) {
      const int64_t c1 = std::min(cols, c0 + block);
      float amax = 0.f;
      for (int64_t r = r0; r < r1; ++r) {
        for (int64_t c = c0; c < c1; ++c) amax = std::max(amax, std::fabs(w[r * cols + c]));
      }
      // An all-zero block gets scale 1 so that dequantizing never multiplies by 0/0 or inf.
      const float s = amax > 0.f ? amax / 448.f : 1.f;
      scale_inv[(r0 / block) * n_bc + c0 / block] = s;
      for (int64_t r = r0; r < r1; ++r) {
        for (int64_t c = c0; c < c1; ++c) {
          q[r * cols + c] = f32_to_f8e4m3(w[r * cols + c] / s, /*saturate=*/true);
        }
      }
    }
  }
}

void dequantize_fp8_blocks(const uint8_t* q, const float* scale_inv, int64_t rows, int64_t cols,
                           float* out, int64_t block) {
  check_fp8_dims(rows, cols, block);
  const int64_t n_bc = (cols + block - 1) / block;
  for (int64_t r = 0; r < rows; ++r) {
    const float* s_row = scale_inv + (r / block) * n_bc;
    for (int64_t c = 0; c < cols; ++c) {
      out[r * cols + c] = f8e4m3_to_f32(q[r * cols + c]) * s_row[c / block];
    }
  }
}

}  // namespace whale::core
