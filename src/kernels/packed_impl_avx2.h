// The packed 16-row layouts (packed.h) on 256-bit vectors: the avx2 level's matmul_packed, over an
// `Isa` traits type whose dot_u8s8 is maddubs + madd (simd_isa_avx2.h) or AVX-VNNI's ymm vpdpbusd.
// Include only after `#pragma GCC target` (everything is a template on the
// TU-local Isa, as simd_impl.h).
//
// A ymm holds half of a 64-byte line: 4 columns of 8 rows. One token (decode) takes both halves of
// each line in one pass; a pass of more tokens computes a group in two halves (rows 0-7, then 8-15,
// whose bytes are then in L1/L2), so that it keeps up to 4 tokens' int32 dots and f32 accumulators
// in the 16 registers. Per (token, row) the operations and their order are
// matmul_vnni's (packed.cpp): each block's exact int32 dot, then the same f32 multiplies and fused
// multiply-adds in block order, so a token gets the same bits here as on the avx512 level, alone
// or in any batch. maddubs saturates pairs at 2^15, so there (not Isa::kWideU8) the types whose
// unsigned form reaches past 128 (q8_0, iq4_nl, iq4_xs) take |w| · sign(x, w) instead: the same exact
// integer. AVX-VNNI's vpdpbusd takes the VNNI kernel's unsigned forms.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/quant_legacy.h"
#include "kernels/packed.h"

namespace whale::kernels::simd {
namespace {

#define WHALE_PK_TOKENS _Pragma("GCC unroll 8")

inline __m256i pk_bcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}
inline __m256i pk_half(const uint8_t* line, int h) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(line + 32 * h));
}
inline __m256 pk_f16(const uint8_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
inline __m256 pk_u8_f32(const uint8_t* p) {
  return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}
inline __m256 pk_i8_f32(const uint8_t* p) {
  return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}
inline void pk_prefetch(const uint8_t* p, int lines) {
  for (int l = 0; l < lines; ++l) _mm_prefetch(reinterpret_cast<const char*>(p) + 64 * l, _MM_HINT_T0);
}

// iq4_nl's levels for vpshufb: + 128 as unsigned bytes where dot_u8s8 takes them (kWideU8), else signed.
template <class Isa>
inline __m256i pk_iq4_table() {
  const void* levels = Isa::kWideU8 ? static_cast<const void*>(packed::kIQ4NLUnsigned.v) : core::kIQ4NLValues;
  return _mm256_broadcastsi128_si256(_mm_loadu_si128(static_cast<const __m128i*>(levels)));
}

// Σ w x for signed w and x (|x| <= 127): |w| (<= 128 as unsigned) times x with w's sign.
template <class Isa>
inline __m256i pk_dot_signed(__m256i acc, __m256i w, __m256i x) {
  return Isa::dot_u8s8(acc, _mm256_abs_epi8(w), _mm256_sign_epi8(x, w));
}

// q8_0, q4_0, q4_1, q5_0, q5_1 and iq4_nl: one 32-element block per ActBlock (packed.cpp's
// group_q8_0 / group_q4_0 / group_legacy), rows 8h..8h+7.
template <class Isa, int NT, int kH, core::DType DT>
void pk_group_block32(const uint8_t* g, int64_t nb, int h0, const ActBlock* const* x, float* const* y) {
  constexpr bool kQ8 = DT == core::DType::kQ8_0;
  constexpr bool kMin = DT == core::DType::kQ4_1 || DT == core::DType::kQ5_1;
  constexpr bool kHigh = DT == core::DType::kQ5_0 || DT == core::DType::kQ5_1;
  constexpr bool kLut = DT == core::DType::kIQ4_NL;
  constexpr int64_t kNib = kQ8 || kMin ? 64 : 32;
  constexpr int64_t kGb = packed::group_block_bytes(DT);
  constexpr int32_t kOffset = DT == core::DType::kQ4_0 ? 8 : DT == core::DType::kQ5_0 ? 16 : kLut && Isa::kWideU8 ? 128 : 0;
  __m256 acc[NT][kH];
  WHALE_PK_TOKENS for (int t = 0; t < NT; ++t) {
    for (int i = 0; i < kH; ++i) acc[t][i] = _mm256_setzero_ps();
  }
  const __m256i m4 = _mm256_set1_epi8(0x0F), b4 = _mm256_set1_epi8(0x10);
  [[maybe_unused]] const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
  const __m256i table = pk_iq4_table<Isa>();
  for (int64_t k = 0; k < nb; ++k) {
    const uint8_t* p = g + k * kGb;
    if (h0 == 0) pk_prefetch(p + 1024, static_cast<int>((kGb + 63) / 64));
    __m256i dot[NT][kH];
    WHALE_PK_TOKENS for (int t = 0; t < NT; ++t) {
      for (int i = 0; i < kH; ++i) dot[t][i] = _mm256_setzero_si256();
    }
    if constexpr (kQ8 && Isa::kWideU8) {
      // As the VNNI kernel: x + 128 against the signed weights, 128·Σw (the packed row sums) off after.
#pragma GCC unroll 8
      for (int r = 0; r < 8; ++r) {
        for (int i = 0; i < kH; ++i) {
          const __m256i w = pk_half(p + 64 + 64 * r, h0 + i);
          WHALE_PK_TOKENS for (int t = 0; t < NT; ++t) {
            dot[t][i] = Isa::dot_u8s8(dot[t][i], _mm256_xor_si256(pk_bcast4(x[t][k].qs + 4 * r), flip), w);
          }
        }
      }
      for (int i = 0; i < kH; ++i) {
        const __m256i wsum =
            _mm256_cvtepi16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 32 + 16 * (h0 + i))));
        WHALE_PK_TOKENS for (int t = 0; t < NT; ++t) dot[t][i] = _mm256_sub_epi32(dot[t][i], _mm256_slli_epi32(wsum, 7));
      }
    } else if constexpr (kQ8) {
#pragma GCC unroll 8
      for (int r = 0; r < 8; ++r) {
        for (int i = 0; i < kH; ++i) {
          const __m256i w = pk_half(p + 64 + 64 * r, h0 + i);
          WHALE_PK_TOKENS for (int t = 0; t < NT; ++t) {
            dot[t][i] = pk_dot_signed<Isa>(dot[t][i], w, pk_bcast4(x[t][k].qs + 4 * r));
          }
        }
      }
    } else {
      [[maybe_unused]] __m256i hc[kH];
      for (int i = 0; i < kH; ++i) hc[i] = kHigh ? pk_half(p + kNib + 256, h0 + i) : _mm256_setzero_si256();
#pragma GCC unroll 4
      for (int c = 0; c < 4; ++c) {
        for (int i = 0; i < kH; ++i) {
          const __m256i v = pk_half(p + kNib + 64 * c, h0 + i);
          __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
          if constexpr (kHigh) {
            lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_slli_epi16(hc[i], 4), b4));
            hi = _mm256_or_si256(hi, _mm256_and_si256(hc[i], b4));
            hc[i] = _mm256_srli_epi16(hc[i], 1);
          }
          if constexpr (kLut) {
            lo = _mm256_shuffle_epi8(table, lo);
            hi = _mm256_shuffle_epi8(table, hi);
          }
          WHALE_PK_TOKENS for (int t = 0; t < NT; ++t) {
            if constexpr (kLut && !Isa::kWideU8) {
              dot[t][i] = pk_dot_signed<Isa>(dot[t][i], lo, pk_bcast4(x[t][k].qs + 4 * c));
              dot[t][i] = pk_dot_signed<Isa>(dot[t][i], hi, pk_bcast4(x[t][k].qs + 16 + 4 * c));
            } else {
              dot[t][i] = Isa::dot_u8s8(dot[t][i], lo, pk_bcast4(x[t][k].qs + 4 * c));
              dot[t][i] = Isa::dot_u8s8(dot[t][i], hi, pk_bcast4(x[t][k].qs + 16 + 4 * c));
            }
          }
        }
      }
    }
    for (int i = 0; i < kH; ++i) {
      const __m256 dw = pk_f16(p + 16 * (h0 + i));
      [[maybe_unused]] const __m256 dm = kMin ? pk_f16(p + 32 + 16 * (h0 + i)) : _mm256_setzero_ps();
      WHALE_PK_TOKENS for (int t = 0; t < NT; ++t) {
        const __m256i exact =
            kOffset != 0 ? _mm256_sub_epi32(dot[t][i], _mm256_set1_epi32(kOffset * x[t][k].sum)) : dot[t][i];
        const __m256 s = _mm256_mul_ps(dw, _mm256_set1_ps(x[t][k].d));
        acc[t][i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(exact), s, acc[t][i]);
        if constexpr (kMin) {
          acc[t][i] = _mm256_fmadd_ps(dm, _mm256_set1_ps(x[t][k].d * static_cast<float>(x[t][k].sum)), acc[t][i]);
        }
      }
    }
  }
  WHALE_PK_TOKENS for (int t = 0; t < NT; ++t) {
    for (int i = 0; i < kH; ++i) _mm256_storeu_ps(y[t] + 8 * (h0 + i), acc[t][i]);
  }
}

// q4_k and q5_k (packed.cpp's group_q4_k): per super-block and pair q of sub-blocks.
template <class Isa, int NT, int kH, bool kQ5>
void pk_group_q4_k(const uint8_t* g, int64_t nb, int h0, const ActBlock* const* x, float* const* y) {
  constexpr int64_t kSuper = kQ5 ? 2880 : 2368;
  __m256 acc[NT][kH];
  WHALE_PK_TOKENS for (int t = 0; t < NT; ++t) {
    for (int i = 0; i < kH; ++i) acc[t][i] = _mm256_setzero_ps();
  }
  const __m256i m4 = _mm256_set1_epi8(0x0F), m1 = _mm256_set1_epi8(1), m2 = _mm256_set1_epi8(2);
  for (int64_t bk = 0; bk < nb / 8; ++bk) {
    const uint8_t* p = g + bk * kSuper;
#pragma GCC unroll 1
    for (int q = 0; q < 4; ++q) {
      if (h0 == 0) pk_prefetch(p + kSuper + (kQ5 ? 768 : 640) * q, kQ5 ? 12 : 10);
      [[maybe_unused]] const __m128i hshift = _mm_cvtsi32_si128(2 * q);
      const ActBlock* xs[NT][2];
      __m256i dot[NT][kH][2];
      WHALE_PK_TOKENS for (int t = 0; t < NT; ++t) {
        xs[t][0] = &x[t][8 * bk + 2 * q], xs[t][1] = &x[t][8 * bk + 2 * q + 1];
        for (int i = 0; i < kH; ++i) dot[t][i][0] = dot[t][i][1] = _mm256_setzero_si256();
      }
#pragma GCC unroll 8
      for (int c = 0; c < 8; ++c) {
        for (int i = 0; i < kH; ++i) {
          const __m256i v = pk_half(p + 320 + 512 * q + 64 * c, h0 + i);
          __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
          if constexpr (kQ5) {
            const __m256i hb = _mm256_srl_epi16(pk_half(p + 2368 + 64 * c, h0 + i), hshift);
            lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(hb, m1), 4));
            hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(hb, m2), 3));
          }
          WHALE_PK_TOKENS for (int t = 0; t < NT; ++t) {
            dot[t][i][0] = Isa::dot_u8s8(dot[t][i][0], lo, pk_bcast4(xs[t][0]->qs + 4 * c));
            dot[t][i][1] = Isa::dot_u8s8(dot[t][i][1], hi, pk_bcast4(xs[t][1]->qs + 4 * c));
          }
        }
      }
      for (int i = 0; i < kH; ++i) {
        const int h = h0 + i;
        const __m256 dw = pk_f16(p + 16 * h), dm = pk_f16(p + 32 + 16 * h);
        for (int j = 0; j < 2; ++j) {
          const int sb = 2 * q + j;
          const __m256 ds = _mm256_mul_ps(dw, pk_u8_f32(p + 64 + 16 * sb + 8 * h));
          const __m256 dmn = _mm256_mul_ps(dm, pk_u8_f32(p + 192 + 16 * sb + 8 * h));
          WHALE_PK_TOKENS for (int t = 0; t < NT; ++t) {
            const ActBlock& xb = *xs[t][j];
            acc[t][i] =
                _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot[t][i][j]), _mm256_mul_ps(ds, _mm256_set1_ps(xb.d)), acc[t][i]);
            acc[t][i] = _mm256_fnmadd_ps(dmn, _mm256_set1_ps(xb.d * static_cast<float>(xb.sum)), acc[t][i]);
          }
        }
      }
    }
  }
  WHALE_PK_TOKENS for (int t = 0; t < NT; ++t) {
    for (int i = 0; i < kH; ++i) _mm256_storeu_ps(y[t] + 8 * (h0 + i), acc[t][i]);
  }
}

// q6_k (packed.cpp's group_q6_k): unsigned 6-bit values, each 16-element half's dot started at
// -32 Σx_half (hs: the first halves' activation sums).
template <class Isa, int NT, int kH>
void pk_group_q6_k(const uint8_t* g, int64_t nb, int h0, const ActBlock* const* x, const int32_t* const* hs,
                   float* const* y) {
  __m256 acc[NT][kH];
  WHALE_PK_TOKENS for (int t = 0; t < NT; ++t) {
    for (int i = 0; i < kH; ++i) acc[t][i] = _mm256_setzero_ps();
  }
  const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3);
  for (int64_t bk = 0; bk < nb / 8; ++bk) {
    const uint8_t* p = g + bk * 3392;
#pragma GCC unroll 1
    for (int q = 0; q < 4; ++q) {
      if (h0 == 0) pk_prefetch(p + 3392 + 896 * q, 14);
      const ActBlock* xs[NT][2];
      __m256i dot[NT][kH][2][2];
      WHALE_PK_TOKENS for (int t = 0; t < NT; ++t) {
        for (int j = 0; j < 2; ++j) {
          const int64_t k = 8 * bk + 2 * q + j;
          xs[t][j] = &x[t][k];
          for (int i = 0; i < kH; ++i) {
            dot[t][i][j][0] = _mm256_set1_epi32(-32 * hs[t][k]);
            dot[t][i][j][1] = _mm256_set1_epi32(-32 * (x[t][k].sum - hs[t][k]));
          }
        }
      }
      const int shift = 4 * (q & 1);
#pragma GCC unroll 8
      for (int c = 0; c < 8; ++c) {
        const int half = c / 4;
        for (int i = 0; i < kH; ++i) {
          const __m256i v = pk_half(p + 320 + 512 * q + 64 * c, h0 + i);
          const __m256i hb = _mm256_srli_epi16(pk_half(p + 2368 + 512 * (q / 2) + 64 * c, h0 + i), shift);
          const __m256i w0 = _mm256_or_si256(_mm256_and_si256(v, m4), _mm256_slli_epi16(_mm256_and_si256(hb, m2), 4));
          const __m256i w1 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v, 4), m4),
                                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2), m2), 4));
          WHALE_PK_TOKENS for (int t = 0; t < NT; ++t) {
            dot[t][i][0][half] = Isa::dot_u8s8(dot[t][i][0][half], w0, pk_bcast4(xs[t][0]->qs + 4 * c));
            dot[t][i][1][half] = Isa::dot_u8s8(dot[t][i][1][half], w1, pk_bcast4(xs[t][1]->qs + 4 * c));
          }
        }
      }
      for (int i = 0; i < kH; ++i) {
        const int h = h0 + i;
        const __m256 dw = pk_f16(p + 16 * h);
        for (int j = 0; j < 2; ++j) {
          for (int half = 0; half < 2; ++half) {
            const int sb = 4 * q + 2 * j + half;
            const __m256 ds = _mm256_mul_ps(dw, pk_i8_f32(p + 64 + 16 * sb + 8 * h));
            WHALE_PK_TOKENS for (int t = 0; t < NT; ++t) {
              const __m256 s = _mm256_mul_ps(ds, _mm256_set1_ps(xs[t][j]->d));
              acc[t][i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot[t][i][j][half]), s, acc[t][i]);
            }
          }
        }
      }
    }
  }
  WHALE_PK_TOKENS for (int t = 0; t < NT; ++t) {
    for (int i = 0; i < kH; ++i) _mm256_storeu_ps(y[t] + 8 * (h0 + i), acc[t][i]);
  }
}

// iq4_xs (packed.cpp's group_iq4_xs): the signed levels by vpshufb, |w| · sign(x, w).
template <class Isa, int NT, int kH>
void pk_group_iq4_xs(const uint8_t* g, int64_t nb, int h0, const ActBlock* const* x, float* const* y) {
  __m256 acc[NT][kH];
  WHALE_PK_TOKENS for (int t = 0; t < NT; ++t) {
    for (int r = 0; r < kH; ++r) acc[t][r] = _mm256_setzero_ps();
  }
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const __m256i table = pk_iq4_table<Isa>();
  for (int64_t bk = 0; bk < nb / 8; ++bk) {
    const uint8_t* p = g + bk * 2240;
#pragma GCC unroll 1
    for (int sb = 0; sb < 8; ++sb) {
      if (h0 == 0) pk_prefetch(p + 2240 + 280 * sb, 5);
      const int64_t k = 8 * bk + sb;
      __m256i dot[NT][kH];
      WHALE_PK_TOKENS for (int t = 0; t < NT; ++t) {
        for (int r = 0; r < kH; ++r) dot[t][r] = _mm256_setzero_si256();
      }
#pragma GCC unroll 4
      for (int c = 0; c < 4; ++c) {
        for (int r = 0; r < kH; ++r) {
          const __m256i v = pk_half(p + 192 + 256 * sb + 64 * c, h0 + r);
          const __m256i lo = _mm256_shuffle_epi8(table, _mm256_and_si256(v, m4));
          const __m256i hi = _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(v, 4), m4));
          WHALE_PK_TOKENS for (int t = 0; t < NT; ++t) {
            if constexpr (Isa::kWideU8) {
              dot[t][r] = Isa::dot_u8s8(dot[t][r], lo, pk_bcast4(x[t][k].qs + 4 * c));
              dot[t][r] = Isa::dot_u8s8(dot[t][r], hi, pk_bcast4(x[t][k].qs + 16 + 4 * c));
            } else {
              dot[t][r] = pk_dot_signed<Isa>(dot[t][r], lo, pk_bcast4(x[t][k].qs + 4 * c));
              dot[t][r] = pk_dot_signed<Isa>(dot[t][r], hi, pk_bcast4(x[t][k].qs + 16 + 4 * c));
            }
          }
        }
      }
      for (int r = 0; r < kH; ++r) {
        const int h = h0 + r;
        const __m256 ds = _mm256_mul_ps(pk_f16(p + 16 * h), pk_i8_f32(p + 64 + 16 * sb + 8 * h));
        WHALE_PK_TOKENS for (int t = 0; t < NT; ++t) {
          const __m256i exact =
              Isa::kWideU8 ? _mm256_sub_epi32(dot[t][r], _mm256_set1_epi32(128 * x[t][k].sum)) : dot[t][r];
          acc[t][r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(exact), _mm256_mul_ps(ds, _mm256_set1_ps(x[t][k].d)), acc[t][r]);
        }
      }
    }
  }
  WHALE_PK_TOKENS for (int t = 0; t < NT; ++t) {
    for (int r = 0; r < kH; ++r) _mm256_storeu_ps(y[t] + 8 * (h0 + r), acc[t][r]);
  }
}

// q2_k and q3_k (packed.cpp's group_q2_k): per super-block, quarter Q and half hh of the words.
template <class Isa, int NT, int kH, bool kQ3>
void pk_group_q2_k(const uint8_t* g, int64_t nb, int h0, const ActBlock* const* x, const int32_t* const* hs,
                   float* const* y) {
  constexpr int64_t kSuper = kQ3 ? 1856 : 1344;
  __m256 acc[NT][kH];
  WHALE_PK_TOKENS for (int t = 0; t < NT; ++t) {
    for (int r = 0; r < kH; ++r) acc[t][r] = _mm256_setzero_ps();
  }
  const __m256i m3 = _mm256_set1_epi8(3), m4 = _mm256_set1_epi8(4);
  const __m128i lo4 = _mm_set1_epi8(0x0F);
  auto half_sum = [&](int t, int64_t k, int hh) { return hh == 0 ? hs[t][k] : x[t][k].sum - hs[t][k]; };
  for (int64_t bk = 0; bk < nb / 8; ++bk) {
    const uint8_t* p = g + bk * kSuper;
#pragma GCC unroll 1
    for (int Q = 0; Q < 2; ++Q) {
      if (h0 == 0) pk_prefetch(p + kSuper + kSuper / 2 * Q, static_cast<int>((kSuper / 2 + 63) / 64));
      [[maybe_unused]] const __m128i hshift = _mm_cvtsi32_si128(4 * Q);
#pragma GCC unroll 2
      for (int hh = 0; hh < 2; ++hh) {
        __m256i dot[NT][kH][4];
        WHALE_PK_TOKENS for (int t = 0; t < NT; ++t) {
          for (int i = 0; i < 4; ++i) {
            const int64_t k = 8 * bk + 4 * Q + i;
            const __m256i start = kQ3 ? _mm256_set1_epi32(-4 * half_sum(t, k, hh)) : _mm256_setzero_si256();
            for (int r = 0; r < kH; ++r) dot[t][r][i] = start;
          }
        }
#pragma GCC unroll 4
        for (int c = 4 * hh; c < 4 * hh + 4; ++c) {
          for (int r = 0; r < kH; ++r) {
            const __m256i v = pk_half(p + 320 + 64 * (8 * Q + c), h0 + r);
            [[maybe_unused]] const __m256i hb =
                kQ3 ? _mm256_srl_epi16(pk_half(p + 1344 + 64 * c, h0 + r), hshift) : _mm256_setzero_si256();
#pragma GCC unroll 4
            for (int i = 0; i < 4; ++i) {
              __m256i w = _mm256_and_si256(_mm256_srli_epi16(v, 2 * i), m3);
              if constexpr (kQ3) {
                const __m256i b = i <= 2 ? _mm256_slli_epi16(hb, 2 - i) : _mm256_srli_epi16(hb, i - 2);
                w = _mm256_or_si256(w, _mm256_and_si256(b, m4));
              }
              WHALE_PK_TOKENS for (int t = 0; t < NT; ++t) {
                dot[t][r][i] = Isa::dot_u8s8(dot[t][r][i], w, pk_bcast4(x[t][8 * bk + 4 * Q + i].qs + 4 * c));
              }
            }
          }
        }
        for (int r = 0; r < kH; ++r) {
          const int h = h0 + r;
          const __m256 dw = pk_f16(p + 16 * h);
          for (int i = 0; i < 4; ++i) {
            const int sb = 2 * (4 * Q + i) + hh;
            const int64_t k = 8 * bk + 4 * Q + i;
            if constexpr (kQ3) {
              const __m256 ds = _mm256_mul_ps(dw, pk_i8_f32(p + 64 + 16 * sb + 8 * h));
              WHALE_PK_TOKENS for (int t = 0; t < NT; ++t) {
                acc[t][r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot[t][r][i]), _mm256_mul_ps(ds, _mm256_set1_ps(x[t][k].d)),
                                            acc[t][r]);
              }
            } else {
              const __m256 dm = pk_f16(p + 32 + 16 * h);
              const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + 64 + 16 * sb + 8 * h));
              const __m256 sc = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_and_si128(b, lo4)));
              const __m256 mn = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(b, 4), lo4)));
              const __m256 ds = _mm256_mul_ps(dw, sc), dmn = _mm256_mul_ps(dm, mn);
              WHALE_PK_TOKENS for (int t = 0; t < NT; ++t) {
                const float xd = x[t][k].d;
                acc[t][r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot[t][r][i]), _mm256_mul_ps(ds, _mm256_set1_ps(xd)), acc[t][r]);
                acc[t][r] = _mm256_fnmadd_ps(dmn, _mm256_set1_ps(xd * static_cast<float>(half_sum(t, k, hh))), acc[t][r]);
              }
            }
          }
        }
      }
    }
  }
  WHALE_PK_TOKENS for (int t = 0; t < NT; ++t) {
    for (int r = 0; r < kH; ++r) _mm256_storeu_ps(y[t] + 8 * (h0 + r), acc[t][r]);
  }
}

template <class Isa, int NT>
void pk_groups(core::DType dt, const uint8_t* packed, int64_t nb, int64_t g0, int64_t g1, const ActBlock* x,
               int64_t x_stride, const int32_t* hs, float* y, int64_t y_stride) {
  const int64_t gb = packed::group_block_bytes(dt);
  const ActBlock* xs[NT];
  const int32_t* hst[NT];
  for (int t = 0; t < NT; ++t) xs[t] = x + t * x_stride, hst[t] = hs != nullptr ? hs + t * nb : nullptr;
  for (int64_t g = g0; g < g1; ++g) {
    float* ys[NT];
    for (int t = 0; t < NT; ++t) ys[t] = y + t * y_stride + g * packed::kRows;
    const uint8_t* pg = packed + g * nb * gb;
    // One token: both halves of each line in one pass; more: a pass per half (registers).
    constexpr int kH = NT == 1 ? 2 : 1;
    for (int h = 0; h < 2; h += kH) {
      switch (dt) {
        case core::DType::kQ8_0: pk_group_block32<Isa, NT, kH, core::DType::kQ8_0>(pg, nb, h, xs, ys); break;
        case core::DType::kQ4_0: pk_group_block32<Isa, NT, kH, core::DType::kQ4_0>(pg, nb, h, xs, ys); break;
        case core::DType::kQ4_1: pk_group_block32<Isa, NT, kH, core::DType::kQ4_1>(pg, nb, h, xs, ys); break;
        case core::DType::kQ5_0: pk_group_block32<Isa, NT, kH, core::DType::kQ5_0>(pg, nb, h, xs, ys); break;
        case core::DType::kQ5_1: pk_group_block32<Isa, NT, kH, core::DType::kQ5_1>(pg, nb, h, xs, ys); break;
        case core::DType::kIQ4_NL: pk_group_block32<Isa, NT, kH, core::DType::kIQ4_NL>(pg, nb, h, xs, ys); break;
        default:
          if (dt == core::DType::kQ4_K) {
            pk_group_q4_k<Isa, NT, kH, false>(pg, nb, h, xs, ys);
          } else if (dt == core::DType::kIQ4_XS) {
            pk_group_iq4_xs<Isa, NT, kH>(pg, nb, h, xs, ys);
          } else if constexpr (NT <= 2) {
            if (dt == core::DType::kQ5_K) {
              pk_group_q4_k<Isa, NT, kH, true>(pg, nb, h, xs, ys);
            } else if (dt == core::DType::kQ6_K) {
              pk_group_q6_k<Isa, NT, kH>(pg, nb, h, xs, hst, ys);
            } else if (dt == core::DType::kQ2_K) {
              pk_group_q2_k<Isa, NT, kH, false>(pg, nb, h, xs, hst, ys);
            } else {
              pk_group_q2_k<Isa, NT, kH, true>(pg, nb, h, xs, hst, ys);
            }
          }
          break;
      }
    }
  }
}

// KernelTable::matmul_packed for the avx2 level (packed::matmul_vnni's contract): decode passes
// its tokens over each group; prefill (more than a pass) walks chunks of ~256 KiB of groups that
// stay in L2 while every pass goes over them.
template <class Isa>
void matmul_packed_avx2(core::DType dt, const uint8_t* packed, int64_t nb, int64_t g0, int64_t g1, const ActBlock* x,
                        int64_t x_stride, int64_t T, float* y, int64_t y_stride) {
  // Tokens per pass: as many as keep their dots and accumulators (and the unpacked line) in registers.
  const int64_t step =
      dt == core::DType::kQ4_K || dt == core::DType::kIQ4_XS || !packed::group_block_bytes_per_superblock(dt) ? 4 : 2;
  packed::for_each_pass(dt, nb, g0, g1, x, x_stride, T, step, T > step,
                        [&](int64_t c0, int64_t c1, int64_t t, int64_t n, const int32_t* hs) {
                          const ActBlock* xt = x + t * x_stride;
                          float* yt = y + t * y_stride;
                          switch (n) {
                            case 1: pk_groups<Isa, 1>(dt, packed, nb, c0, c1, xt, x_stride, hs, yt, y_stride); break;
                            case 2: pk_groups<Isa, 2>(dt, packed, nb, c0, c1, xt, x_stride, hs, yt, y_stride); break;
                            case 3: pk_groups<Isa, 3>(dt, packed, nb, c0, c1, xt, x_stride, hs, yt, y_stride); break;
                            default: pk_groups<Isa, 4>(dt, packed, nb, c0, c1, xt, x_stride, hs, yt, y_stride); break;
                          }
                        });
}

#undef WHALE_PK_TOKENS

}  // namespace
}  // namespace whale::kernels::simd
