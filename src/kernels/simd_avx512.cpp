// The avx512 level's kernel table (F/BW/VL/VNNI): 16-wide f32 FMA for float weights, int8 products
// with vpdpbusd, the packed q8_0/q4_0 kernel (packed.cpp). Compiled for that target by pragma so
// the rest of whale stays portable.
#include "kernels/simd_kernels.h"

#if WHALE_SIMD_X86
#include <immintrin.h>

#include <cstdint>

#include "core/quant.h"
#include "kernels/packed.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")
// GCC 12 flags the deliberately undefined pass-through operand inside its own AVX-512 intrinsics.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include "kernels/simd_impl.h"
#include "kernels/simd_impl_k.h"
#include "kernels/simd_impl_legacy.h"
#include "kernels/simd_impl_iq.h"
#include "kernels/attention_impl.h"

namespace whale::kernels::simd {
namespace {

struct IsaAvx512 {
  using F = __m512;
  static constexpr int64_t kW = 16;
  static F zero() { return _mm512_setzero_ps(); }
  static F set1(float v) { return _mm512_set1_ps(v); }
  static F loadf(const float* p) { return _mm512_loadu_ps(p); }
  static void storef(float* p, F v) { _mm512_storeu_ps(p, v); }
  static F fma(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  static F add(F a, F b) { return _mm512_add_ps(a, b); }
  static float hsum(F v) {
    return hsum256(_mm256_add_ps(_mm512_castps512_ps256(v),
                                 _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
  }
  template <DType K>
  static F load(const uint8_t* row, int64_t c) {
    if constexpr (K == DType::kF32) {
      return _mm512_loadu_ps(reinterpret_cast<const float*>(row) + c);
    } else if constexpr (K == DType::kF16) {
      return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 2 * c)));
    } else if constexpr (K == DType::kBF16) {
      const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 2 * c));
      return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    } else {
      const __m256i b = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + c)));
      return _mm512_cvtph_ps(fp8_to_f16_bits(b));
    }
  }
  static __m256i dot_u8s8(__m256i acc, __m256i u, __m256i s) { return _mm256_dpbusd_epi32(acc, u, s); }
  static F round(F v) { return _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static F mul(F a, F b) { return _mm512_mul_ps(a, b); }
  static F max(F a, F b) { return _mm512_max_ps(a, b); }
  static F fnma(F a, F b, F c) { return _mm512_fnmadd_ps(a, b, c); }
  static F ldexp(F p, F n) { return _mm512_scalef_ps(p, n); }  // p · 2^n
  static float hmax(F v) { return _mm512_reduce_max_ps(v); }
  static F exp_neg(F v);
  static F min(F a, F b) { return _mm512_min_ps(a, b); }
  static F div(F a, F b) { return _mm512_div_ps(a, b); }
  // kt[c * 16 + j] = rows[j0 + j][k_offset + c] for 16 full rows (f32 or bf16, widened on load):
  // 16x16 register transposes.
  template <class R>
  static void transpose_full(const R* const* rows, int64_t j0, int64_t k_offset, int64_t d, float* kt) {
    int64_t c0 = 0;
    for (; c0 + 16 <= d; c0 += 16) {
      __m512 s[4][4];
      for (int k = 0; k < 4; ++k) {  // 4x4 transposes inside each 128-bit lane, rows 4k..4k+3
        const __m512 a = load_row<IsaAvx512>(rows[j0 + 4 * k] + k_offset + c0);
        const __m512 b = load_row<IsaAvx512>(rows[j0 + 4 * k + 1] + k_offset + c0);
        const __m512 c = load_row<IsaAvx512>(rows[j0 + 4 * k + 2] + k_offset + c0);
        const __m512 e = load_row<IsaAvx512>(rows[j0 + 4 * k + 3] + k_offset + c0);
        const __m512 t0 = _mm512_unpacklo_ps(a, b), t1 = _mm512_unpackhi_ps(a, b);
        const __m512 t2 = _mm512_unpacklo_ps(c, e), t3 = _mm512_unpackhi_ps(c, e);
        s[k][0] = _mm512_shuffle_ps(t0, t2, 0x44);
        s[k][1] = _mm512_shuffle_ps(t0, t2, 0xEE);
        s[k][2] = _mm512_shuffle_ps(t1, t3, 0x44);
        s[k][3] = _mm512_shuffle_ps(t1, t3, 0xEE);
      }
      for (int m = 0; m < 4; ++m) {  // then a 4x4 transpose of 128-bit lanes: column 4L + m
        const __m512 x0 = _mm512_shuffle_f32x4(s[0][m], s[1][m], 0x44), x1 = _mm512_shuffle_f32x4(s[0][m], s[1][m], 0xEE);
        const __m512 x2 = _mm512_shuffle_f32x4(s[2][m], s[3][m], 0x44), x3 = _mm512_shuffle_f32x4(s[2][m], s[3][m], 0xEE);
        _mm512_storeu_ps(kt + (c0 + m) * 16, _mm512_shuffle_f32x4(x0, x2, 0x88));
        _mm512_storeu_ps(kt + (c0 + 4 + m) * 16, _mm512_shuffle_f32x4(x0, x2, 0xDD));
        _mm512_storeu_ps(kt + (c0 + 8 + m) * 16, _mm512_shuffle_f32x4(x1, x3, 0x88));
        _mm512_storeu_ps(kt + (c0 + 12 + m) * 16, _mm512_shuffle_f32x4(x1, x3, 0xDD));
      }
    }
    for (; c0 < d; ++c0) {
      for (int64_t j = 0; j < 16; ++j) kt[c0 * 16 + j] = widen(rows[j0 + j][k_offset + c0]);
    }
  }
};
IsaAvx512::F IsaAvx512::exp_neg(F v) { return simd::exp_neg<IsaAvx512>(v); }

// |v| rounded half away from zero: t = trunc(|v|), plus one when |v| - t (exact) >= 0.5.
inline __m512i round_away(__m512 v) {
  const __m512 a = _mm512_abs_ps(v);
  const __m512 t = _mm512_roundscale_ps(a, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __mmask16 up = _mm512_cmp_ps_mask(_mm512_sub_ps(a, t), _mm512_set1_ps(0.5f), _CMP_GE_OQ);
  __m512i q = _mm512_cvttps_epi32(t);
  q = _mm512_mask_add_epi32(q, up, q, _mm512_set1_epi32(1));
  q = _mm512_min_epi32(q, _mm512_set1_epi32(127));
  const __mmask16 neg = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ);
  return _mm512_mask_sub_epi32(q, neg, _mm512_setzero_si512(), q);
}

// Activation quantization that computes exactly what the scalar version does (same float
// products; round half away from zero as trunc plus a comparison of the exact fraction), so every
// level sees the same int8 values.
void quantize_activations_avx512(const float* x, int64_t n, ActBlock* out) {
  for (int64_t b = 0; b < n / 32; ++b, x += 32) {
    const __m512 x0 = _mm512_loadu_ps(x), x1 = _mm512_loadu_ps(x + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(x0), _mm512_abs_ps(x1)));
    const float d = amax / 127.0f;
    const float id = d > 0.0f ? 1.0f / d : 0.0f;
    const __m512 s = _mm512_set1_ps(id);
    const __m512i q0 = round_away(_mm512_mul_ps(x0, s)), q1 = round_away(_mm512_mul_ps(x1, s));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out[b].qs), _mm512_cvtepi32_epi8(q0));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out[b].qs + 16), _mm512_cvtepi32_epi8(q1));
    out[b].d = d;
    out[b].sum = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
  }
}

}  // namespace

constinit const KernelTable kAvx512Kernels{
    .level = SimdLevel::kAvx512,
    .lanes = IsaAvx512::kW,
    .matmul = matmul_impl<IsaAvx512>,
    .quantize_activations = quantize_activations_avx512,
    .matmul_packed = packed::matmul_vnni,
    .axpy = axpy_impl<IsaAvx512>,
    .dot = dot_impl<IsaAvx512>,
    .exp_sum = exp_sum_impl<IsaAvx512>,
    .silu_mul = silu_mul_impl<IsaAvx512>,
    .attend = attend_impl<IsaAvx512>,
    .transpose_keys = transpose_impl<IsaAvx512>,
    .transpose_keys_bf16 = transpose_impl<IsaAvx512, uint16_t>,
};

}  // namespace whale::kernels::simd
#pragma GCC pop_options

#endif
