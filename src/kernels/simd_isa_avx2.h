// The avx2 levels' Isa traits (simd_impl.h): 8-wide f32, int8 products by maddubs/madd. Included
// by simd_avx2.cpp and simd_avx2vnni.cpp after their `#pragma GCC target`, so each compiles its
// own copy for its target (the TU-local namespace, as simd_impl.h).
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "kernels/simd_impl.h"

namespace whale::kernels::simd {
namespace {

struct IsaAvx2 {
  using F = __m256;
  static constexpr int64_t kW = 8;
  // dot_u8s8 takes any u8 (AVX-VNNI's vpdpbusd sums into int32), not only u <= 128 (maddubs' int16 pairs).
  static constexpr bool kWideU8 = false;
  static F zero() { return _mm256_setzero_ps(); }
  static F set1(float v) { return _mm256_set1_ps(v); }
  static F loadf(const float* p) { return _mm256_loadu_ps(p); }
  static void storef(float* p, F v) { _mm256_storeu_ps(p, v); }
  static F fma(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
  static F add(F a, F b) { return _mm256_add_ps(a, b); }
  static float hsum(F v) { return hsum256(v); }
  template <DType K>
  static F load(const uint8_t* row, int64_t c) {
    if constexpr (K == DType::kF32) {
      return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + c);
    } else if constexpr (K == DType::kF16) {
      return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * c)));
    } else if constexpr (K == DType::kBF16) {
      const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * c));
      return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    } else {
      const __m128i b = _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(row + c)));
      return _mm256_cvtph_ps(fp8_to_f16_bits(b));
    }
  }
  // u8 x s8 pairs -> int16 (cannot saturate: |u| <= 128, |s| <= 127) -> int32 lanes of 4.
  static __m256i dot_u8s8(__m256i acc, __m256i u, __m256i s) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
  }
  static F round(F v) { return _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static F mul(F a, F b) { return _mm256_mul_ps(a, b); }
  static F max(F a, F b) { return _mm256_max_ps(a, b); }
  static F fnma(F a, F b, F c) { return _mm256_fnmadd_ps(a, b, c); }
  // p · 2^n for integral n in [-126, 127]: n + 127 placed in the exponent bits.
  static F ldexp(F p, F n) {
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
  }
  static float hmax(F v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
  }
  static F exp_neg(F v);
  static F min(F a, F b) { return _mm256_min_ps(a, b); }
  static F div(F a, F b) { return _mm256_div_ps(a, b); }
};
inline IsaAvx2::F IsaAvx2::exp_neg(F v) { return simd::exp_neg<IsaAvx2>(v); }

}  // namespace
}  // namespace whale::kernels::simd
