// Per-block absmax quantization of activation rows. The AVX-512 version computes exactly what the
// scalar one does (same float products, round half away from zero done exactly as trunc + a
// comparison of the exact fraction), so every SIMD level sees the same int8 values.
#include "kernels/activation_quant.h"

#include <cmath>

#include "kernels/cpu_features.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define WHALE_AQ_AVX512 1
#endif

namespace whale::kernels {
namespace {

void quantize_scalar(const float* x, int64_t n, ActBlock* out) {
  for (int64_t b = 0; b < n / 32; ++b, x += 32) {
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = std::fmax(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d > 0.0f ? 1.0f / d : 0.0f;
    int32_t sum = 0;
    for (int j = 0; j < 32; ++j) {
      const int q = static_cast<int>(std::lround(x[j] * id));
      out[b].qs[j] = static_cast<int8_t>(q > 127 ? 127 : (q < -127 ? -127 : q));
      sum += out[b].qs[j];
    }
    out[b].d = d;
    out[b].sum = sum;
  }
}

#ifdef WHALE_AQ_AVX512
// |v| rounded half away from zero: t = trunc(|v|), plus one when |v| - t (exact) >= 0.5.
__attribute__((target("avx512f,avx512bw"))) inline __m512i round_away(__m512 v) {
  const __m512 a = _mm512_abs_ps(v);
  const __m512 t = _mm512_roundscale_ps(a, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __mmask16 up = _mm512_cmp_ps_mask(_mm512_sub_ps(a, t), _mm512_set1_ps(0.5f), _CMP_GE_OQ);
  __m512i q = _mm512_cvttps_epi32(t);
  q = _mm512_mask_add_epi32(q, up, q, _mm512_set1_epi32(1));
  q = _mm512_min_epi32(q, _mm512_set1_epi32(127));
  const __mmask16 neg = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ);
  return _mm512_mask_sub_epi32(q, neg, _mm512_setzero_si512(), q);
}

__attribute__((target("avx512f,avx512bw"))) void quantize_avx512(const float* x, int64_t n, ActBlock* out) {
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
#endif

}  // namespace

void quantize_activation_row(const float* x, int64_t n, ActBlock* out) {
#ifdef WHALE_AQ_AVX512
  if (simd_level() == SimdLevel::kAvx512) return quantize_avx512(x, n, out);
#endif
  quantize_scalar(x, n, out);
}

}  // namespace whale::kernels
