// Reference quantizers and dequantizers of q4_1, q5_0, q5_1, iq4_nl and iq4_xs, written from
// ggml's formulas (same float operations in the same order) so the bytes match llama.cpp's.
#include "core/quant_legacy.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "core/convert.h"
#include "core/error.h"
#include "core/quant_k.h"

namespace whale::core {
namespace {

constexpr int kIQ4Tries = 7;            // ggml's ntry for iq4_nl / iq4_xs without an imatrix

// Round to nearest, ties to even (ggml's nearest_int; callers clamp the result).
int nearest_int(float v) {
  const float shifted = v + 12582912.f;
  int32_t i;
  std::memcpy(&i, &shifted, sizeof i);
  return (i & 0x007FFFFF) - 0x00400000;
}

int64_t whole_blocks(DType t, int64_t n) {
  const int64_t block = dtype_info(t).block_elems;
  if (n < 0 || n % block != 0) {
    fail(ErrorKind::kInvalidArgument, dtype_name(t), ": ", n, " elements is not a whole number of blocks of ",
         block);
  }
  return n / block;
}

void store_high_bits(uint32_t bits, uint8_t* qh) {
  for (int k = 0; k < 4; ++k) qh[k] = static_cast<uint8_t>(bits >> (8 * k));
}

// The block's min and max, starting from +-FLT_MAX as ggml does.
void min_max(const float* x, float* mn, float* mx) {
  *mn = FLT_MAX;
  *mx = -FLT_MAX;
  for (int j = 0; j < 32; ++j) {
    *mn = std::min(*mn, x[j]);
    *mx = std::max(*mx, x[j]);
  }
}

// The signed value of largest magnitude (the first one on ties).
float signed_absmax(const float* x) {
  float amax = 0.f, max = 0.f;
  for (int j = 0; j < 32; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max;
}

void quantize_q4_1(const float* x, BlockQ4_1* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += 32) {
    float mn, mx;
    min_max(x, &mn, &mx);
    const float d = (mx - mn) / 15;
    const float id = d != 0.f ? 1.f / d : 0.f;
    y[i].d = f32_to_f16(d);
    y[i].m = f32_to_f16(mn);
    for (int j = 0; j < 16; ++j) {
      // Truncating v + 0.5 rounds the non-negative v to nearest; MIN catches 15.5 and up.
      const int lo = std::min(15, static_cast<int>(static_cast<int8_t>((x[j] - mn) * id + 0.5f)));
      const int hi = std::min(15, static_cast<int>(static_cast<int8_t>((x[j + 16] - mn) * id + 0.5f)));
      y[i].qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

void quantize_q5_0(const float* x, BlockQ5_0* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += 32) {
    // As q4_0: the signed extreme maps to -16, so no level is wasted on the other side.
    const float d = signed_absmax(x) / -16;
    const float id = d != 0.f ? 1.f / d : 0.f;
    y[i].d = f32_to_f16(d);
    uint32_t qh = 0;
    for (int j = 0; j < 16; ++j) {
      const int lo = std::min(31, static_cast<int>(static_cast<int8_t>(x[j] * id + 16.5f)));
      const int hi = std::min(31, static_cast<int>(static_cast<int8_t>(x[j + 16] * id + 16.5f)));
      y[i].qs[j] = static_cast<uint8_t>((lo & 0xF) | ((hi & 0xF) << 4));
      qh |= static_cast<uint32_t>(lo >> 4) << j;
      qh |= static_cast<uint32_t>(hi >> 4) << (j + 16);
    }
    store_high_bits(qh, y[i].qh);
  }
}

void quantize_q5_1(const float* x, BlockQ5_1* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += 32) {
    float mn, mx;
    min_max(x, &mn, &mx);
    const float d = (mx - mn) / 31;
    const float id = d != 0.f ? 1.f / d : 0.f;
    y[i].d = f32_to_f16(d);
    y[i].m = f32_to_f16(mn);
    uint32_t qh = 0;
    for (int j = 0; j < 16; ++j) {
      // ggml has no clamp here: (max - min) * id + 0.5 stays below 32.
      const int lo = static_cast<uint8_t>((x[j] - mn) * id + 0.5f);
      const int hi = static_cast<uint8_t>((x[j + 16] - mn) * id + 0.5f);
      y[i].qs[j] = static_cast<uint8_t>((lo & 0xF) | ((hi & 0xF) << 4));
      qh |= static_cast<uint32_t>((lo >> 4) & 1) << j;
      qh |= static_cast<uint32_t>((hi >> 4) & 1) << (j + 16);
    }
    store_high_bits(qh, y[i].qh);
  }
}

// The index of the table value nearest v (v clamped to the table's ends; a tie between two
// neighbours goes to the upper one, as ggml's best_index_int8).
int nearest_level(float v) {
  const int8_t* t = kIQ4NLValues;
  if (v <= t[0]) return 0;
  if (v >= t[15]) return 15;
  int up = 1;
  while (up < 15 && !(v < t[up])) ++up;  // first level above v (bounded: v may be NaN)
  return v - t[up - 1] < t[up] - v ? up - 1 : up;
}

// Best scale for one 32-element group with levels kIQ4NLValues and weights x^2: start from the
// grid whose most negative level lands on the extreme, then try the grids of 2*kIQ4Tries + 1
// shifted extremes, keeping the least-squares scale of the best (ggml's quantize_row_iq4_nl_impl).
// 0 for an all-zero group.
float iq4_group_scale(const float* x) {
  float w[32];
  float amax = 0.f, max = 0.f;
  for (int j = 0; j < 32; ++j) {
    w[j] = x[j] * x[j];
    if (std::fabs(x[j]) > amax) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  if (amax < kGroupMaxEps) return 0.f;
  const auto sums = [&](float id, float* sumqx, float* sumq2) {
    *sumqx = 0.f;
    *sumq2 = 0.f;
    for (int j = 0; j < 32; ++j) {
      const float q = kIQ4NLValues[nearest_level(id * x[j])];
      *sumqx += w[j] * q * x[j];
      *sumq2 += w[j] * q * q;
    }
  };
  float d = -max / kIQ4NLValues[0];
  float sumqx, sumq2;
  sums(1 / d, &sumqx, &sumq2);
  d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
  float best = d * sumqx;
  for (int itry = -kIQ4Tries; itry <= kIQ4Tries; ++itry) {
    sums((itry + kIQ4NLValues[0]) / max, &sumqx, &sumq2);
    if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
      d = sumqx / sumq2;
      best = d * sumqx;
    }
  }
  return d;
}

// Nibbles of one 32-element group against scale d (unrounded, as ggml): element j in the low
// nibble of qs[j], j + 16 in the high nibble.
void iq4_pack(const float* x, float d, uint8_t* qs) {
  const float id = d != 0.f ? 1 / d : 0.f;
  for (int j = 0; j < 16; ++j) {
    qs[j] = static_cast<uint8_t>(nearest_level(id * x[j]) | (nearest_level(id * x[j + 16]) << 4));
  }
}

void quantize_iq4_nl(const float* x, BlockIQ4_NL* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += 32) {
    const float d = iq4_group_scale(x);
    y[i].d = f32_to_f16(d);
    iq4_pack(x, d, y[i].qs);
  }
}

void quantize_iq4_xs(const float* x, BlockIQ4_XS* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += 256) {
    float scales[8];
    float max_scale = 0.f, amax_scale = 0.f;
    for (int s = 0; s < 8; ++s) {
      scales[s] = iq4_group_scale(x + 32 * s);
      if (std::fabs(scales[s]) > amax_scale) {
        amax_scale = std::fabs(scales[s]);
        max_scale = scales[s];
      }
    }
    // The sub-block scales as 6-bit multiples of d, the largest one landing on -32.
    BlockIQ4_XS& b = y[i];
    std::memset(&b, 0, sizeof b);
    const float d = -max_scale / 32;
    b.d = f32_to_f16(d);
    const float id = d != 0.f ? 1 / d : 0.f;
    for (int s = 0; s < 8; ++s) {
      const int l = std::clamp(nearest_int(id * scales[s]), -32, 31);
      iq4_pack(x + 32 * s, d * l, b.qs + 16 * s);
      const int u = l + 32;
      b.scales_l[s / 2] |= static_cast<uint8_t>((u & 0xF) << (4 * (s % 2)));
      b.scales_h |= static_cast<uint16_t>((u >> 4) << (2 * s));
    }
  }
}

void dequantize_q4_1(const BlockQ4_1* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += 32) {
    const float d = f16_to_f32(x[i].d), m = f16_to_f32(x[i].m);
    for (int j = 0; j < 16; ++j) {
      y[j] = (x[i].qs[j] & 0xF) * d + m;
      y[j + 16] = (x[i].qs[j] >> 4) * d + m;
    }
  }
}

// The 5-bit values of a q5 block, in element order.
void q5_values(const uint8_t* qh, const uint8_t* qs, int* q) {
  const uint32_t h = q5_high_bits(qh);
  for (int j = 0; j < 16; ++j) {
    q[j] = (qs[j] & 0xF) | static_cast<int>(((h >> j) & 1) << 4);
    q[j + 16] = (qs[j] >> 4) | static_cast<int>(((h >> (j + 16)) & 1) << 4);
  }
}

void dequantize_q5_0(const BlockQ5_0* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += 32) {
    const float d = f16_to_f32(x[i].d);
    int q[32];
    q5_values(x[i].qh, x[i].qs, q);
    for (int j = 0; j < 32; ++j) y[j] = (q[j] - 16) * d;
  }
}

void dequantize_q5_1(const BlockQ5_1* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += 32) {
    const float d = f16_to_f32(x[i].d), m = f16_to_f32(x[i].m);
    int q[32];
    q5_values(x[i].qh, x[i].qs, q);
    for (int j = 0; j < 32; ++j) y[j] = q[j] * d + m;
  }
}

void dequantize_iq4_group(const uint8_t* qs, float d, float* y) {
  for (int j = 0; j < 16; ++j) {
    y[j] = d * kIQ4NLValues[qs[j] & 0xF];
    y[j + 16] = d * kIQ4NLValues[qs[j] >> 4];
  }
}

void dequantize_iq4_nl(const BlockIQ4_NL* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += 32) dequantize_iq4_group(x[i].qs, f16_to_f32(x[i].d), y);
}

void dequantize_iq4_xs(const BlockIQ4_XS* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = f16_to_f32(x[i].d);
    for (int s = 0; s < 8; ++s, y += 32) {
      dequantize_iq4_group(x[i].qs + 16 * s, d * static_cast<float>(iq4_xs_scale(x[i], s)), y);
    }
  }
}

}  // namespace

bool is_legacy_quant(DType t) {
  return t == DType::kQ4_1 || t == DType::kQ5_0 || t == DType::kQ5_1 || t == DType::kIQ4_NL ||
         t == DType::kIQ4_XS;
}

void quantize_row_legacy(DType t, const float* src, void* dst, int64_t n) {
  switch (t) {
    case DType::kQ4_1: return quantize_q4_1(src, static_cast<BlockQ4_1*>(dst), whole_blocks(t, n));
    case DType::kQ5_0: return quantize_q5_0(src, static_cast<BlockQ5_0*>(dst), whole_blocks(t, n));
    case DType::kQ5_1: return quantize_q5_1(src, static_cast<BlockQ5_1*>(dst), whole_blocks(t, n));
    case DType::kIQ4_NL: return quantize_iq4_nl(src, static_cast<BlockIQ4_NL*>(dst), whole_blocks(t, n));
    case DType::kIQ4_XS: return quantize_iq4_xs(src, static_cast<BlockIQ4_XS*>(dst), whole_blocks(t, n));
    default: fail(ErrorKind::kUnsupported, "quantize_row_legacy: ", dtype_name(t), " is not a legacy type");
  }
}

void dequantize_row_legacy(DType t, const void* src, float* dst, int64_t n) {
  switch (t) {
    case DType::kQ4_1: return dequantize_q4_1(static_cast<const BlockQ4_1*>(src), dst, whole_blocks(t, n));
    case DType::kQ5_0: return dequantize_q5_0(static_cast<const BlockQ5_0*>(src), dst, whole_blocks(t, n));
    case DType::kQ5_1: return dequantize_q5_1(static_cast<const BlockQ5_1*>(src), dst, whole_blocks(t, n));
    case DType::kIQ4_NL: return dequantize_iq4_nl(static_cast<const BlockIQ4_NL*>(src), dst, whole_blocks(t, n));
    case DType::kIQ4_XS: return dequantize_iq4_xs(static_cast<const BlockIQ4_XS*>(src), dst, whole_blocks(t, n));
    default: fail(ErrorKind::kUnsupported, "dequantize_row_legacy: ", dtype_name(t), " is not a legacy type");
  }
}

}  // namespace whale::core
