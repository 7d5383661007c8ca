// GGUF's q2_k, q3_k and q5_k block layouts (byte for byte ggml's) with their reference quantizers
// and dequantizers, plus the fitting helpers they share with q4_k (defined in quant.cpp).
#pragma once

#include <cstdint>

#include "core/quant.h"

namespace whale::core {

// 16 sub-blocks of 16; value = d * (scales[s] & 15) * q - dmin * (scales[s] >> 4) with 2-bit q.
// Per half of 128, qs[l] (l < 32) holds elements l, l+32, l+64, l+96 at shifts 0, 2, 4, 6, so
// sub-block 2k of the half is qs[0..15] at shift 2k and sub-block 2k+1 is qs[16..31] at shift 2k.
struct BlockQ2_K {
  uint8_t scales[kQK_K / 16];  // low nibble: scale, high nibble: min
  uint8_t qs[kQK_K / 4];
  uint16_t d;     // f16 scale of the 4-bit scales
  uint16_t dmin;  // f16 scale of the 4-bit mins
};

// 16 sub-blocks of 16; value = d * (sc - 32) * (q - 4) with a 6-bit sc (q3_k_scale) and a 3-bit q:
// 2 low bits in qs laid out as q2_k's, the third in hmask (bit 1 means "+4"): element e's bit is
// bit e/32 of hmask[e % 32].
struct BlockQ3_K {
  uint8_t hmask[kQK_K / 8];
  uint8_t qs[kQK_K / 4];
  uint8_t scales[12];
  uint16_t d;
};

// q4_k plus a fifth bit: 8 sub-blocks of 32 with q4_k's scales/mins (q4_k_scale_min) and
// value = d * sc * q - dmin * m with 5-bit q; qs as q4_k's nibbles, and bit s of qh[l] is the top
// bit of element l of sub-block s.
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qh[kQK_K / 8];
  uint8_t qs[kQK_K / 2];
};

static_assert(sizeof(BlockQ2_K) == 84);
static_assert(sizeof(BlockQ3_K) == 110);
static_assert(sizeof(BlockQ5_K) == 176);

// Sub-block j's (0..15) 6-bit q3_k scale minus 32: low 4 bits from nibble j of scales[0..7]
// (j < 8 low nibbles, else high nibbles of j-8), top 2 bits from scales[8 + j%4] at shift 2*(j/4).
int q3_k_scale(int j, const uint8_t* scales);

// nb blocks; quantizers follow ggml's quantize_row_q{2,3,5}_K_ref.
void quantize_q2_k(const float* x, BlockQ2_K* y, int64_t nb);
void dequantize_q2_k(const BlockQ2_K* x, float* y, int64_t nb);
void quantize_q3_k(const float* x, BlockQ3_K* y, int64_t nb);
void dequantize_q3_k(const BlockQ3_K* x, float* y, int64_t nb);
void quantize_q5_k(const float* x, BlockQ5_K* y, int64_t nb);
void dequantize_q5_k(const BlockQ5_K* x, float* y, int64_t nb);

// Helpers quant.cpp defines for q4_k and shares with the codecs here (and quant_legacy.cpp).
inline constexpr float kGroupMaxEps = 1e-15f;  // ggml's threshold for "this group is all zero"
// The element of x[0..n) with the largest magnitude (the first such), with its sign; 0 if none.
float largest_magnitude(const float* x, int n);
// Round to nearest, ties to even (ggml's nearest_int).
int nearest_int(float v);
// ggml's make_qkx2_quants: x ~ scale * L - neg_min, L in [0, nmax], weighted squared error (or
// absolute error with use_mad). Returns the scale.
float fit_scale_min(int n, int nmax, const float* x, const float* w, uint8_t* L, float* neg_min, float rmin,
                    float rdelta, int nstep, bool use_mad = false);
// The q4_k/q5_k super-block header from 256 values: per sub-block of 32 a make_qkx2 fit (weights
// sqrt(mean x²) + |x|, grids rmin + 0.1 k for k <= nstep), 6-bit scales/mins packed into scales[12]
// with f16 d/dmin, and L (256 values in [0, nmax]) re-fit against the scales as stored.
void quantize_k4_header(const float* x, int nmax, float rmin, int nstep, uint8_t* scales, uint16_t* d,
                        uint16_t* dmin, uint8_t* L);

}  // namespace whale::core
