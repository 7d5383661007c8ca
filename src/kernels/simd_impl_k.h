// Row kernels for the k-quants q5_k, q3_k and q2_k (core/quant_k.h) on int8 ActBlock activations,
// shared by simd_avx2.cpp and simd_avx512.cpp. Include right after simd_impl.h (same rules: only
// after `#pragma GCC target`, templates on the TU-local Isa); simd_impl.h's matmul_nt dispatches
// here through matmul_kquant. Same per-token operation sequence for any NT (batch invariance).
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "core/quant_k.h"
#include "kernels/simd_impl.h"

namespace whale::kernels::simd {
namespace {

#define WHALE_UNROLL _Pragma("GCC unroll 8")

// The 8 floats s[2g] x4, s[2g+1] x4: int32 lanes 0-3 of a 32-element dot cover its first 16
// elements, lanes 4-7 the last 16.
inline __m256 scale_pair(__m256 s8, int g) {
  return _mm256_permutevar8x32_ps(s8, _mm256_setr_epi32(2 * g, 2 * g, 2 * g, 2 * g, 2 * g + 1, 2 * g + 1, 2 * g + 1, 2 * g + 1));
}

// q5_k: q4_k's sub-blocks of 32 (one ActBlock each, 6-bit scale and min) with a fifth bit from
// qh, bit s of qh[l] for sub-block s. Σ w x = Σ_s dx_s (d sc_s Σ q xq - dmin m_s Σ xq), the second
// term from the ActBlock sums; q in [0, 31] goes unsigned into the u8·s8 dot.
template <class Isa, int NT>
void rows_q5_k(const MatArgs& a) {
  const int64_t nbk = a.cols / core::kQK_K;
  const ActBlock* x[NT];
  WHALE_UNROLL for (int t = 0; t < NT; ++t) x[t] = a.xq + t * a.x_stride;
  const __m256i m4 = _mm256_set1_epi8(0x0F), bit4 = _mm256_set1_epi8(0x10);
  for (int64_t i = 0; i < a.rows; ++i) {
    const auto* w = reinterpret_cast<const core::BlockQ5_K*>(a.w + i * a.row_bytes);
    __m256 acc[NT][2];
    float mins[NT];
    WHALE_UNROLL for (int t = 0; t < NT; ++t) acc[t][0] = acc[t][1] = _mm256_setzero_ps(), mins[t] = 0.0f;
    for (int64_t bk = 0; bk < nbk; ++bk) {
      _mm_prefetch(reinterpret_cast<const char*>(w + bk) + 1024, _MM_HINT_T0);  // see rows_q4_0
      const float d = _cvtsh_ss(w[bk].d), dmin = _cvtsh_ss(w[bk].dmin);
      float sc[8], mn[8];
      for (int s = 0; s < 8; ++s) {
        uint8_t q, m;
        // core::q4_k_scale_min's layout, inline so the loop stays in registers.
        if (s < 4) {
          q = w[bk].scales[s] & 63, m = w[bk].scales[s + 4] & 63;
        } else {
          q = static_cast<uint8_t>((w[bk].scales[s + 4] & 0xF) | ((w[bk].scales[s - 4] >> 6) << 4));
          m = static_cast<uint8_t>((w[bk].scales[s + 4] >> 4) | ((w[bk].scales[s] >> 6) << 4));
        }
        sc[s] = d * static_cast<float>(q), mn[s] = dmin * static_cast<float>(m);
      }
      __m256i qh = loadu256(w[bk].qh);
      WHALE_UNROLL for (int k = 0; k < 4; ++k) {
        const __m256i q = loadu256(w[bk].qs + 32 * k);
        // 16-bit shifts move each byte's bit 0 (resp. 1) to bit 4; the mask drops what crossed bytes.
        const __m256i lo = _mm256_or_si256(_mm256_and_si256(q, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), bit4));
        const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4),
                                           _mm256_and_si256(_mm256_slli_epi16(qh, 3), bit4));
        qh = _mm256_srli_epi16(qh, 2);
        WHALE_UNROLL for (int t = 0; t < NT; ++t) {
          const ActBlock& xa = x[t][8 * bk + 2 * k];
          const ActBlock& xb = x[t][8 * bk + 2 * k + 1];
          const __m256i pa = Isa::dot_u8s8(_mm256_setzero_si256(), lo, loadu256(xa.qs));
          const __m256i pb = Isa::dot_u8s8(_mm256_setzero_si256(), hi, loadu256(xb.qs));
          acc[t][0] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(pa), _mm256_set1_ps(sc[2 * k] * xa.d), acc[t][0]);
          acc[t][1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(pb), _mm256_set1_ps(sc[2 * k + 1] * xb.d), acc[t][1]);
          mins[t] += mn[2 * k] * xa.d * static_cast<float>(xa.sum) + mn[2 * k + 1] * xb.d * static_cast<float>(xb.sum);
        }
      }
    }
    WHALE_UNROLL for (int t = 0; t < NT; ++t) a.y[t * a.y_stride + i] = hsum256(_mm256_add_ps(acc[t][0], acc[t][1])) - mins[t];
  }
}

// q3_k's 16 six-bit scales minus 32 as 16 int8 (core::q3_k_scale for all j at once): the low
// nibbles of bytes 0-7 then their high nibbles, each with 2 top bits from bytes 8-11 (byte 8+j%4 at
// shift 2*(j/4)).
inline __m128i q3_k_scales(const uint8_t* s) {
  uint32_t lo[2], hi;
  std::memcpy(lo, s, 8);
  std::memcpy(&hi, s + 8, 4);
  constexpr uint32_t k4 = 0x0F0F0F0F, k2 = 0x03030303;
  const uint32_t v0 = (lo[0] & k4) | ((hi & k2) << 4);
  const uint32_t v1 = (lo[1] & k4) | (((hi >> 2) & k2) << 4);
  const uint32_t v2 = ((lo[0] >> 4) & k4) | (((hi >> 4) & k2) << 4);
  const uint32_t v3 = ((lo[1] >> 4) & k4) | (((hi >> 6) & k2) << 4);
  return _mm_sub_epi8(_mm_setr_epi32(static_cast<int>(v0), static_cast<int>(v1), static_cast<int>(v2), static_cast<int>(v3)),
                      _mm_set1_epi8(32));
}

// q3_k: per half of 128, group g (elements 32g..32g+31 of the half, one ActBlock) has 2 low bits
// at shift 2g of qs and its third bit at bit 4h+g of hmask (clear means -4); its two 16-element
// scales take int32 lanes 0-3 / 4-7. Weights in [-4, 3] go through the sign trick as q6_k's do.
template <class Isa, int NT>
void rows_q3_k(const MatArgs& a) {
  const int64_t nbk = a.cols / core::kQK_K;
  const ActBlock* x[NT];
  WHALE_UNROLL for (int t = 0; t < NT; ++t) x[t] = a.xq + t * a.x_stride;
  const __m256i m3 = _mm256_set1_epi8(3), minus4 = _mm256_set1_epi8(-4);
  for (int64_t i = 0; i < a.rows; ++i) {
    const auto* w = reinterpret_cast<const core::BlockQ3_K*>(a.w + i * a.row_bytes);
    __m256 acc[NT][2];
    WHALE_UNROLL for (int t = 0; t < NT; ++t) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
    for (int64_t bk = 0; bk < nbk; ++bk) {
      _mm_prefetch(reinterpret_cast<const char*>(w + bk) + 1024, _MM_HINT_T0);  // see rows_q4_0
      const __m256 dv = _mm256_set1_ps(_cvtsh_ss(w[bk].d));
      const __m128i sc16 = q3_k_scales(w[bk].scales);
      const __m256 scv[2] = {_mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(sc16)), dv),
                             _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(sc16, 8))), dv)};
      const __m256i hm = loadu256(w[bk].hmask);
      for (int h = 0; h < 2; ++h) {
        __m256i q = loadu256(w[bk].qs + 32 * h);
        WHALE_UNROLL for (int g = 0; g < 4; ++g) {
          const __m256i bit = _mm256_set1_epi8(static_cast<char>(1 << (4 * h + g)));
          const __m256i clear = _mm256_cmpeq_epi8(_mm256_and_si256(hm, bit), _mm256_setzero_si256());
          const __m256i ws = _mm256_add_epi8(_mm256_and_si256(q, m3), _mm256_and_si256(clear, minus4));
          q = _mm256_srli_epi16(q, 2);
          const __m256i aw = _mm256_sign_epi8(ws, ws);
          const __m256 sk = scale_pair(scv[h], g);
          WHALE_UNROLL for (int t = 0; t < NT; ++t) {
            const ActBlock& xb = x[t][8 * bk + 4 * h + g];
            const __m256i p = signed_dot<Isa>(aw, ws, loadu256(xb.qs));
            acc[t][g & 1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_mul_ps(sk, _mm256_set1_ps(xb.d)), acc[t][g & 1]);
          }
        }
      }
    }
    WHALE_UNROLL for (int t = 0; t < NT; ++t) a.y[t * a.y_stride + i] = hsum256(_mm256_add_ps(acc[t][0], acc[t][1]));
  }
}

// q2_k: q3_k's grouping with q in [0, 3] and a 4-bit scale and min per 16 elements. The min term
// needs Σ xq over each 16 (the ActBlock sum covers 32): a dot with ones, taken once per call for
// every token and block (dx times its 8 int32 lanes of 4 elements) rather than once per row.
template <class Isa, int NT>
void rows_q2_k(const MatArgs& a) {
  const int64_t nbk = a.cols / core::kQK_K, nb = a.cols / 32;
  const ActBlock* x[NT];
  WHALE_UNROLL for (int t = 0; t < NT; ++t) x[t] = a.xq + t * a.x_stride;
  const __m256i m3 = _mm256_set1_epi8(3), ones = _mm256_set1_epi8(1);
  const __m128i m4 = _mm_set1_epi8(0x0F);
  thread_local std::vector<float> sums_buf;  // grow-only: no allocation per call in steady state
  if (sums_buf.size() < static_cast<size_t>(NT * nb * 8)) sums_buf.resize(static_cast<size_t>(NT * nb * 8));
  float* sums = sums_buf.data();
  for (int t = 0; t < NT; ++t) {
    for (int64_t b = 0; b < nb; ++b) {
      const __m256i s = Isa::dot_u8s8(_mm256_setzero_si256(), ones, loadu256(x[t][b].qs));
      _mm256_storeu_ps(sums + (t * nb + b) * 8, _mm256_mul_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(x[t][b].d)));
    }
  }
  for (int64_t i = 0; i < a.rows; ++i) {
    const auto* w = reinterpret_cast<const core::BlockQ2_K*>(a.w + i * a.row_bytes);
    __m256 acc[NT][2];
    WHALE_UNROLL for (int t = 0; t < NT; ++t) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
    for (int64_t bk = 0; bk < nbk; ++bk) {
      _mm_prefetch(reinterpret_cast<const char*>(w + bk) + 1024, _MM_HINT_T0);  // see rows_q4_0
      const __m256 dv = _mm256_set1_ps(_cvtsh_ss(w[bk].d)), mv = _mm256_set1_ps(_cvtsh_ss(w[bk].dmin));
      const __m128i s16 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[bk].scales));
      const __m128i sc = _mm_and_si128(s16, m4), mn = _mm_and_si128(_mm_srli_epi16(s16, 4), m4);
      const __m256 dl[2] = {_mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(sc)), dv),
                            _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(sc, 8))), dv)};
      const __m256 ml[2] = {_mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(mn)), mv),
                            _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(mn, 8))), mv)};
      for (int h = 0; h < 2; ++h) {
        __m256i q = loadu256(w[bk].qs + 32 * h);
        WHALE_UNROLL for (int g = 0; g < 4; ++g) {
          const __m256i u = _mm256_and_si256(q, m3);
          q = _mm256_srli_epi16(q, 2);
          const __m256 dk = scale_pair(dl[h], g), mk = scale_pair(ml[h], g);
          WHALE_UNROLL for (int t = 0; t < NT; ++t) {
            const int64_t b = 8 * bk + 4 * h + g;
            const __m256i p = Isa::dot_u8s8(_mm256_setzero_si256(), u, loadu256(x[t][b].qs));
            acc[t][0] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_mul_ps(dk, _mm256_set1_ps(x[t][b].d)), acc[t][0]);
            acc[t][1] = _mm256_fnmadd_ps(_mm256_loadu_ps(sums + (t * nb + b) * 8), mk, acc[t][1]);
          }
        }
      }
    }
    WHALE_UNROLL for (int t = 0; t < NT; ++t) a.y[t * a.y_stride + i] = hsum256(_mm256_add_ps(acc[t][0], acc[t][1]));
  }
}

template <class Isa, int NT>
bool matmul_kquant(const MatArgs& a) {
  switch (a.dtype) {
    case DType::kQ2_K: rows_q2_k<Isa, NT>(a); return true;
    case DType::kQ3_K: rows_q3_k<Isa, NT>(a); return true;
    case DType::kQ5_K: rows_q5_k<Isa, NT>(a); return true;
    default: return false;
  }
}

#undef WHALE_UNROLL

}  // namespace
}  // namespace whale::kernels::simd
