// Row kernels of the legacy 32-element types (q4_1, q5_0, q5_1, iq4_nl) and iq4_xs over int8
// ActBlock activations, written once over the level's Isa like simd_impl.h, which every level file
// includes first (this file defines its matmul_legacy). Same rule: one per-token operation
// sequence whatever the token count, so a token's bits do not depend on its batch.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "core/quant_legacy.h"
#include "kernels/simd_impl.h"

namespace whale::kernels::simd {
namespace {  // one copy per ISA translation unit, compiled with that unit's target

#define WHALE_UNROLL _Pragma("GCC unroll 8")

// 16 bytes of nibbles as 32 bytes in element order: byte j low nibble j, byte j + 16 high nibble j.
inline __m256i unpack_nibbles(const uint8_t* qs) {
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m128i m = _mm_set1_epi8(0x0F);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m), _mm_and_si128(q, m));
}

// Byte j = 0x10 where bit j of `bits` is set, else 0: the 5th bits of a q5 block. AVX-512 (BW+VL)
// has a byte-masked move; AVX2 spreads byte j/8 of `bits` to byte j and tests bit j%8.
template <class Isa>
inline __m256i q5_high_bytes(uint32_t bits) {
  if constexpr (Isa::kW == 16) {
    return _mm256_maskz_mov_epi8(bits, _mm256_set1_epi8(0x10));
  } else {
    const __m256i spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32(static_cast<int>(bits)),
        _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,  //
                         2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
    const __m256i sel = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ULL));
    return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, sel), sel), _mm256_set1_epi8(0x10));
  }
}

// kIQ4NLValues in both 128-bit lanes, for a vpshufb lookup by nibble.
inline __m256i iq4_table() {
  return _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(core::kIQ4NLValues)));
}

template <DType K> struct LegacyBlock;
template <> struct LegacyBlock<DType::kQ4_1> { using T = core::BlockQ4_1; };
template <> struct LegacyBlock<DType::kQ5_0> { using T = core::BlockQ5_0; };
template <> struct LegacyBlock<DType::kQ5_1> { using T = core::BlockQ5_1; };
template <> struct LegacyBlock<DType::kIQ4_NL> { using T = core::BlockIQ4_NL; };

// One 32-element block per ActBlock. q4_1/q5_1: unsigned q, Σ (d q + m) x = d dot(q, xq) xd +
// m xd Σxq, the min from the activation block's sum (a scalar chain per token, two per row so
// they overlap). q5_0: as q4_0, the -16 offset starts the int32 accumulator at -16 Σxq. iq4_nl:
// the nibbles index kIQ4NLValues by vpshufb and the signed values go through signed_dot.
template <class Isa, DType K, int NT>
void rows_legacy32(const MatArgs& a) {
  using Block = typename LegacyBlock<K>::T;
  constexpr bool kMin = K == DType::kQ4_1 || K == DType::kQ5_1;
  const int64_t nb = a.cols / 32;
  const ActBlock* x[NT];
  WHALE_UNROLL for (int t = 0; t < NT; ++t) x[t] = a.xq + t * a.x_stride;
  const __m256i table = iq4_table();
  for (int64_t i = 0; i < a.rows; ++i) {
    const auto* w = reinterpret_cast<const Block*>(a.w + i * a.row_bytes);
    __m256 acc[NT][2];
    float mins[NT][2];
    WHALE_UNROLL for (int t = 0; t < NT; ++t) {
      acc[t][0] = acc[t][1] = _mm256_setzero_ps();
      mins[t][0] = mins[t][1] = 0.0f;
    }
    auto block = [&](int64_t b, int k) {
      const Block& blk = w[b];
      const float dw = _cvtsh_ss(blk.d);
      __m256i u = unpack_nibbles(blk.qs);
      if constexpr (K == DType::kQ5_0 || K == DType::kQ5_1) {
        u = _mm256_or_si256(u, q5_high_bytes<Isa>(core::q5_high_bits(blk.qh)));
      }
      if constexpr (K == DType::kIQ4_NL) {
        const __m256i ws = _mm256_shuffle_epi8(table, u);
        const __m256i aw = _mm256_sign_epi8(ws, ws);
        WHALE_UNROLL for (int t = 0; t < NT; ++t) {
          const __m256i p = signed_dot<Isa>(aw, ws, loadu256(x[t][b].qs));
          acc[t][k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(dw * x[t][b].d), acc[t][k]);
        }
      } else {
        WHALE_UNROLL for (int t = 0; t < NT; ++t) {
          __m256i start = _mm256_setzero_si256();
          if constexpr (K == DType::kQ5_0) start = _mm256_zextsi128_si256(_mm_cvtsi32_si128(-16 * x[t][b].sum));
          const __m256i p = Isa::dot_u8s8(start, u, loadu256(x[t][b].qs));
          acc[t][k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(dw * x[t][b].d), acc[t][k]);
          if constexpr (kMin) mins[t][k] += _cvtsh_ss(blk.m) * x[t][b].d * static_cast<float>(x[t][b].sum);
        }
      }
    };
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
      _mm_prefetch(reinterpret_cast<const char*>(w + b) + 1024, _MM_HINT_T0);  // see rows_q4_0
      block(b, 0), block(b + 1, 1);
    }
    if (b < nb) block(b, 0);
    WHALE_UNROLL for (int t = 0; t < NT; ++t) {
      a.y[t * a.y_stride + i] = hsum256(_mm256_add_ps(acc[t][0], acc[t][1])) + (mins[t][0] + mins[t][1]);
    }
  }
}

// iq4_xs: 8 iq4_nl sub-blocks of 32 per 256, sub-block s scaled by d * (ls_s - 32); each lines up
// with one ActBlock.
template <class Isa, int NT>
void rows_iq4_xs(const MatArgs& a) {
  const int64_t nbk = a.cols / core::kQK_K;
  const ActBlock* x[NT];
  WHALE_UNROLL for (int t = 0; t < NT; ++t) x[t] = a.xq + t * a.x_stride;
  const __m256i table = iq4_table();
  for (int64_t i = 0; i < a.rows; ++i) {
    const auto* w = reinterpret_cast<const core::BlockIQ4_XS*>(a.w + i * a.row_bytes);
    __m256 acc[NT][2];
    WHALE_UNROLL for (int t = 0; t < NT; ++t) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
    for (int64_t bk = 0; bk < nbk; ++bk) {
      const float d = _cvtsh_ss(w[bk].d);
      WHALE_UNROLL for (int s = 0; s < 8; ++s) {
        // 136-byte blocks: one prefetch per 32 bytes of nibbles reaches every line (see rows_q4_0).
        if (s % 2 == 0) _mm_prefetch(reinterpret_cast<const char*>(w[bk].qs + 16 * s) + 1024, _MM_HINT_T0);
        const float dl = d * static_cast<float>(core::iq4_xs_scale(w[bk], s));
        const __m256i ws = _mm256_shuffle_epi8(table, unpack_nibbles(w[bk].qs + 16 * s));
        const __m256i aw = _mm256_sign_epi8(ws, ws);
        WHALE_UNROLL for (int t = 0; t < NT; ++t) {
          const ActBlock& xb = x[t][8 * bk + s];
          const __m256i p = signed_dot<Isa>(aw, ws, loadu256(xb.qs));
          acc[t][s & 1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(dl * xb.d), acc[t][s & 1]);
        }
      }
    }
    WHALE_UNROLL for (int t = 0; t < NT; ++t) a.y[t * a.y_stride + i] = hsum256(_mm256_add_ps(acc[t][0], acc[t][1]));
  }
}

template <class Isa, int NT>
bool matmul_legacy(const MatArgs& a) {
  switch (a.dtype) {
    case DType::kQ4_1: rows_legacy32<Isa, DType::kQ4_1, NT>(a); return true;
    case DType::kQ5_0: rows_legacy32<Isa, DType::kQ5_0, NT>(a); return true;
    case DType::kQ5_1: rows_legacy32<Isa, DType::kQ5_1, NT>(a); return true;
    case DType::kIQ4_NL: rows_legacy32<Isa, DType::kIQ4_NL, NT>(a); return true;
    case DType::kIQ4_XS: rows_iq4_xs<Isa, NT>(a); return true;
    default: return false;
  }
}

#undef WHALE_UNROLL

}  // namespace
}  // namespace whale::kernels::simd
