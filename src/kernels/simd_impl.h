// Kernel bodies shared by simd_avx2.cpp and simd_avx512.cpp, written once over an `Isa` traits type
// (float vector width, int8 dot product). Include only after `#pragma GCC target`: everything here
// is a template on the TU-local Isa, so no inline function compiled for one ISA leaks to another.
// Every kernel runs the same per-token operation sequence for any token count NT, so a token's
// result does not depend on which other tokens share its batch.
#pragma once

#include <immintrin.h>

#include <cmath>
#include <cstdint>

#include "core/quant.h"
#include "kernels/simd_kernels.h"

namespace whale::kernels::simd {
namespace {  // one copy per ISA translation unit, compiled with that unit's target

using core::DType;

// Loops over the tokens of a call (and the sub-blocks of a k-quant block) must unroll so that the
// per-token accumulators live in registers; GCC's -O2 does not do that on its own.
#define WHALE_UNROLL _Pragma("GCC unroll 8")

inline float hsum256(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline __m256i loadu256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// e4m3 byte b as the f16 with bits ((b & 0x7F) << 7) | ((b & 0x80) << 8): exactly b's value / 256
// for normals and subnormals alike (bias 15 vs 7), so F16C converts it. Works on 16-bit lanes.
template <class V>
inline V fp8_to_f16_bits(V v);
template <>
inline __m128i fp8_to_f16_bits(__m128i v) {
  return _mm_or_si128(_mm_slli_epi16(_mm_and_si128(v, _mm_set1_epi16(0x7F)), 7),
                      _mm_slli_epi16(_mm_and_si128(v, _mm_set1_epi16(0x80)), 8));
}
template <>
inline __m256i fp8_to_f16_bits(__m256i v) {
  return _mm256_or_si256(_mm256_slli_epi16(_mm256_and_si256(v, _mm256_set1_epi16(0x7F)), 7),
                         _mm256_slli_epi16(_mm256_and_si256(v, _mm256_set1_epi16(0x80)), 8));
}

// One weight element as f32 (fp8: value / 256, like the vector loads), for column tails.
template <DType K>
inline float weight_scalar(const uint8_t* row, int64_t c) {
  if constexpr (K == DType::kF32) {
    float v;
    __builtin_memcpy(&v, row + 4 * c, 4);
    return v;
  } else if constexpr (K == DType::kF16) {
    uint16_t h;
    __builtin_memcpy(&h, row + 2 * c, 2);
    return _cvtsh_ss(h);
  } else if constexpr (K == DType::kBF16) {
    uint16_t h;
    __builtin_memcpy(&h, row + 2 * c, 2);
    const uint32_t bits = static_cast<uint32_t>(h) << 16;
    float v;
    __builtin_memcpy(&v, &bits, 4);
    return v;
  } else {
    const uint32_t b = row[c];
    return _cvtsh_ss(static_cast<unsigned short>(((b & 0x7F) << 7) | ((b & 0x80) << 8)));
  }
}

// Float weights (f32, f16, bf16, fp8) times f32 activations: FMA with two accumulators per token.
// fp8 sums each column block separately and scales it by 256 * scale_inv.
template <class Isa, DType K, int NT>
void rows_float(const MatArgs& a) {
  using F = typename Isa::F;
  constexpr int64_t W = Isa::kW;
  const float* x[NT];
  WHALE_UNROLL for (int t = 0; t < NT; ++t) x[t] = a.x + t * a.x_stride;
  const int64_t bw = K == DType::kF8E4M3 ? a.block : a.cols;
  for (int64_t i = 0; i < a.rows; ++i) {
    const uint8_t* wr = a.w + i * a.row_bytes;
    const float* srow = nullptr;
    if constexpr (K == DType::kF8E4M3) srow = a.scale_inv + ((a.row0 + i) / a.block) * a.scale_cols;
    F tot[NT];
    float tail[NT];
    WHALE_UNROLL for (int t = 0; t < NT; ++t) tot[t] = Isa::zero(), tail[t] = 0.0f;
    for (int64_t c0 = 0; c0 < a.cols; c0 += bw) {
      const int64_t c1 = c0 + bw < a.cols ? c0 + bw : a.cols;
      F acc0[NT], acc1[NT];
      float ts[NT];
      WHALE_UNROLL for (int t = 0; t < NT; ++t) acc0[t] = Isa::zero(), acc1[t] = Isa::zero(), ts[t] = 0.0f;
      int64_t c = c0;
      for (; c + 2 * W <= c1; c += 2 * W) {
        _mm_prefetch(reinterpret_cast<const char*>(wr) + c * (a.row_bytes / a.cols) + 1024, _MM_HINT_T0);  // see rows_q4_0
        const F w0 = Isa::template load<K>(wr, c), w1 = Isa::template load<K>(wr, c + W);
        WHALE_UNROLL for (int t = 0; t < NT; ++t) {
          acc0[t] = Isa::fma(w0, Isa::loadf(x[t] + c), acc0[t]);
          acc1[t] = Isa::fma(w1, Isa::loadf(x[t] + c + W), acc1[t]);
        }
      }
      if (c + W <= c1) {
        const F w0 = Isa::template load<K>(wr, c);
        WHALE_UNROLL for (int t = 0; t < NT; ++t) acc0[t] = Isa::fma(w0, Isa::loadf(x[t] + c), acc0[t]);
        c += W;
      }
      for (; c < c1; ++c) {
        const float wv = weight_scalar<K>(wr, c);
        WHALE_UNROLL for (int t = 0; t < NT; ++t) ts[t] += wv * x[t][c];
      }
      if constexpr (K == DType::kF8E4M3) {
        const float s = srow[c0 / bw] * 256.0f;
        WHALE_UNROLL for (int t = 0; t < NT; ++t) {
          tot[t] = Isa::fma(Isa::add(acc0[t], acc1[t]), Isa::set1(s), tot[t]);
          tail[t] += ts[t] * s;
        }
      } else {
        WHALE_UNROLL for (int t = 0; t < NT; ++t) tot[t] = Isa::add(acc0[t], acc1[t]), tail[t] = ts[t];
      }
    }
    WHALE_UNROLL for (int t = 0; t < NT; ++t) a.y[t * a.y_stride + i] = Isa::hsum(tot[t]) + tail[t];
  }
}

// Σ over 32 int8 pairs into 8 int32 lanes (lane k = elements 4k..4k+3) of |w| and sign(x, w).
template <class Isa>
inline __m256i signed_dot(__m256i aw, __m256i ws, __m256i xq) {
  return Isa::dot_u8s8(_mm256_setzero_si256(), aw, _mm256_sign_epi8(xq, ws));
}

// 32-element blocks (q8_0, q4_0): the weight as signed int8 plus its scale.
struct UnpackQ8_0 {
  static __m256i weights(const uint8_t* row, int64_t b, float* d) {
    const auto* blk = reinterpret_cast<const core::BlockQ8_0*>(row) + b;
    *d = _cvtsh_ss(blk->d);
    return loadu256(blk->qs);
  }
};
struct UnpackQ4_0 {
  static __m256i weights(const uint8_t* row, int64_t b, float* d) {
    const auto* blk = reinterpret_cast<const core::BlockQ4_0*>(row) + b;
    *d = _cvtsh_ss(blk->d);
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk->qs));
    const __m128i m = _mm_set1_epi8(0x0F);
    const __m256i u = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m), _mm_and_si128(q, m));
    return _mm256_sub_epi8(u, _mm256_set1_epi8(8));
  }
};

template <class Isa, class Unpack, int NT>
void rows_q32(const MatArgs& a) {
  const int64_t nb = a.cols / 32;
  const ActBlock* x[NT];
  WHALE_UNROLL for (int t = 0; t < NT; ++t) x[t] = a.xq + t * a.x_stride;
  for (int64_t i = 0; i < a.rows; ++i) {
    const uint8_t* wr = a.w + i * a.row_bytes;
    __m256 acc[NT][2];
    WHALE_UNROLL for (int t = 0; t < NT; ++t) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
    auto block = [&](int64_t b, int k) {
      float dw;
      const __m256i ws = Unpack::weights(wr, b, &dw);
      const __m256i aw = _mm256_sign_epi8(ws, ws);
      WHALE_UNROLL for (int t = 0; t < NT; ++t) {
        const __m256i p = signed_dot<Isa>(aw, ws, loadu256(x[t][b].qs));
        acc[t][k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(dw * x[t][b].d), acc[t][k]);
      }
    };
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
      _mm_prefetch(reinterpret_cast<const char*>(wr) + b * (a.row_bytes / nb) + 1024, _MM_HINT_T0);  // see rows_q4_0
      block(b, 0), block(b + 1, 1);
    }
    if (b < nb) block(b, 0);
    WHALE_UNROLL for (int t = 0; t < NT; ++t) a.y[t * a.y_stride + i] = hsum256(_mm256_add_ps(acc[t][0], acc[t][1]));
  }
}

// q4_0 without the sign trick: the nibbles u are already unsigned, so Σ (u - 8) x = dot(u, x) - 8 Σx
// with the activation block's precomputed sum, which starts the int32 accumulator (lane 0) so no
// scalar dependency chain runs across blocks. Per block: one unpack, one u8·s8 dot per token.
template <class Isa, int NT>
void rows_q4_0(const MatArgs& a) {
  const int64_t nb = a.cols / 32;
  const ActBlock* x[NT];
  WHALE_UNROLL for (int t = 0; t < NT; ++t) x[t] = a.xq + t * a.x_stride;
  const __m128i m4 = _mm_set1_epi8(0x0F);
  for (int64_t i = 0; i < a.rows; ++i) {
    const auto* w = reinterpret_cast<const core::BlockQ4_0*>(a.w + i * a.row_bytes);
    __m256 acc[NT][2];
    WHALE_UNROLL for (int t = 0; t < NT; ++t) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
    auto block = [&](int64_t b, int k) {
      const float dw = _cvtsh_ss(w[b].d);
      const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].qs));
      const __m256i u = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m4), _mm_and_si128(q, m4));
      WHALE_UNROLL for (int t = 0; t < NT; ++t) {
        const __m256i start = _mm256_zextsi128_si256(_mm_cvtsi32_si128(-8 * x[t][b].sum));
        const __m256i p = Isa::dot_u8s8(start, u, loadu256(x[t][b].qs));
        acc[t][k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(dw * x[t][b].d), acc[t][k]);
      }
    };
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
      // Ask for the weights ~1 KB ahead: decode streams the matrix once, and the hardware
      // prefetcher alone leaves loads waiting on memory.
      _mm_prefetch(reinterpret_cast<const char*>(w + b) + 1024, _MM_HINT_T0);
      block(b, 0), block(b + 1, 1);
    }
    if (b < nb) block(b, 0);
    WHALE_UNROLL for (int t = 0; t < NT; ++t) a.y[t * a.y_stride + i] = hsum256(_mm256_add_ps(acc[t][0], acc[t][1]));
  }
}

// q4_k: value = d*sc*q - dmin*m per 32-element sub-block, which lines up with one ActBlock, so
// Σ w x = Σ_s dx_s (d sc_s Σ q xq - dmin m_s Σ xq), the second term from the block sums.
template <class Isa, int NT>
void rows_q4_k(const MatArgs& a) {
  const int64_t nbk = a.cols / core::kQK_K;
  const ActBlock* x[NT];
  WHALE_UNROLL for (int t = 0; t < NT; ++t) x[t] = a.xq + t * a.x_stride;
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  for (int64_t i = 0; i < a.rows; ++i) {
    const auto* w = reinterpret_cast<const core::BlockQ4_K*>(a.w + i * a.row_bytes);
    __m256 acc[NT][2];
    float mins[NT];
    WHALE_UNROLL for (int t = 0; t < NT; ++t) acc[t][0] = acc[t][1] = _mm256_setzero_ps(), mins[t] = 0.0f;
    for (int64_t bk = 0; bk < nbk; ++bk) {
      _mm_prefetch(reinterpret_cast<const char*>(w + bk) + 1024, _MM_HINT_T0);  // see rows_q4_0
      const float d = _cvtsh_ss(w[bk].d), dmin = _cvtsh_ss(w[bk].dmin);
      const uint8_t* s = w[bk].scales;
      float sc[8], mn[8];
      for (int j = 0; j < 4; ++j) {
        sc[j] = d * static_cast<float>(s[j] & 63);
        mn[j] = dmin * static_cast<float>(s[j + 4] & 63);
        sc[j + 4] = d * static_cast<float>((s[j + 8] & 0xF) | ((s[j] >> 6) << 4));
        mn[j + 4] = dmin * static_cast<float>((s[j + 8] >> 4) | ((s[j + 4] >> 6) << 4));
      }
      WHALE_UNROLL for (int k = 0; k < 4; ++k) {
        const __m256i q = loadu256(w[bk].qs + 32 * k);
        const __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
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

// q6_k: per half of 128, group k (elements 32k..32k+31 of the half) takes its low 4 bits from
// ql (k even: low nibbles, odd: of ql+32; k >= 2: high nibbles) and 2 high bits from qh at shift
// 2k; its first 16 elements use scale 2k, the last 16 scale 2k+1, i.e. int32 lanes 0-3 and 4-7.
template <class Isa, int NT>
void rows_q6_k(const MatArgs& a) {
  const int64_t nbk = a.cols / core::kQK_K;
  const ActBlock* x[NT];
  WHALE_UNROLL for (int t = 0; t < NT; ++t) x[t] = a.xq + t * a.x_stride;
  const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3), k32 = _mm256_set1_epi8(32);
  for (int64_t i = 0; i < a.rows; ++i) {
    const auto* w = reinterpret_cast<const core::BlockQ6_K*>(a.w + i * a.row_bytes);
    __m256 acc[NT][2];
    WHALE_UNROLL for (int t = 0; t < NT; ++t) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
    for (int64_t bk = 0; bk < nbk; ++bk) {
      _mm_prefetch(reinterpret_cast<const char*>(w + bk) + 1024, _MM_HINT_T0);  // see rows_q4_0
      const float d = _cvtsh_ss(w[bk].d);
      for (int h = 0; h < 2; ++h) {
        const __m256i qa = loadu256(w[bk].ql + 64 * h), qb = loadu256(w[bk].ql + 64 * h + 32);
        const __m256i qh = loadu256(w[bk].qh + 32 * h);
        const __m128i sc8 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(w[bk].scales + 8 * h));
        const __m256 scv = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(sc8)), _mm256_set1_ps(d));
        __m256i g[4];
        g[0] = _mm256_or_si256(_mm256_and_si256(qa, m4), _mm256_slli_epi16(_mm256_and_si256(qh, m2), 4));
        g[1] = _mm256_or_si256(_mm256_and_si256(qb, m4),
                               _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m2), 4));
        g[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qa, 4), m4),
                               _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m2), 4));
        g[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qb, 4), m4),
                               _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m2), 4));
        WHALE_UNROLL for (int k = 0; k < 4; ++k) {
          const __m256i ws = _mm256_sub_epi8(g[k], k32);
          const __m256i aw = _mm256_sign_epi8(ws, ws);
          const __m256i idx = _mm256_setr_epi32(2 * k, 2 * k, 2 * k, 2 * k, 2 * k + 1, 2 * k + 1, 2 * k + 1, 2 * k + 1);
          const __m256 sk = _mm256_permutevar8x32_ps(scv, idx);
          WHALE_UNROLL for (int t = 0; t < NT; ++t) {
            const ActBlock& xb = x[t][8 * bk + 4 * h + k];
            const __m256i p = signed_dot<Isa>(aw, ws, loadu256(xb.qs));
            acc[t][k & 1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_mul_ps(sk, _mm256_set1_ps(xb.d)), acc[t][k & 1]);
          }
        }
      }
    }
    WHALE_UNROLL for (int t = 0; t < NT; ++t) a.y[t * a.y_stride + i] = hsum256(_mm256_add_ps(acc[t][0], acc[t][1]));
  }
}

// q2_k, q3_k, q5_k: defined in simd_impl_k.h, which each level includes next.
template <class Isa, int NT>
bool matmul_kquant(const MatArgs& a);
// q4_1, q5_0, q5_1, iq4_nl, iq4_xs: defined in simd_impl_legacy.h, which each level includes next.
template <class Isa, int NT>
bool matmul_legacy(const MatArgs& a);
// iq2_xxs, iq1_s: defined in simd_impl_iq.h, which each level includes next.
template <class Isa, int NT>
bool matmul_iq(const MatArgs& a);

template <class Isa, int NT>
bool matmul_nt(const MatArgs& a) {
  switch (a.dtype) {
    case DType::kF32: rows_float<Isa, DType::kF32, NT>(a); return true;
    case DType::kF16: rows_float<Isa, DType::kF16, NT>(a); return true;
    case DType::kBF16: rows_float<Isa, DType::kBF16, NT>(a); return true;
    case DType::kF8E4M3: rows_float<Isa, DType::kF8E4M3, NT>(a); return true;
    case DType::kQ8_0: rows_q32<Isa, UnpackQ8_0, NT>(a); return true;
    case DType::kQ4_0: rows_q4_0<Isa, NT>(a); return true;
    case DType::kQ4_K: rows_q4_k<Isa, NT>(a); return true;
    case DType::kQ6_K: rows_q6_k<Isa, NT>(a); return true;
    case DType::kQ2_K: case DType::kQ3_K: case DType::kQ5_K: return matmul_kquant<Isa, NT>(a);
    case DType::kQ4_1: case DType::kQ5_0: case DType::kQ5_1: case DType::kIQ4_NL: case DType::kIQ4_XS:
      return matmul_legacy<Isa, NT>(a);
    case DType::kIQ2_XXS: case DType::kIQ1_S: return matmul_iq<Isa, NT>(a);
    default: return false;
  }
}

template <class Isa>
bool matmul_impl(const MatArgs& a) {
  switch (a.nt) {
    case 1: return matmul_nt<Isa, 1>(a);
    case 2: return matmul_nt<Isa, 2>(a);
    case 3: return matmul_nt<Isa, 3>(a);
    case 4: return matmul_nt<Isa, 4>(a);
    default: return false;
  }
}

template <class Isa>
void axpy_impl(float s, const float* x, float* y, int64_t n) {
  constexpr int64_t W = Isa::kW;
  const typename Isa::F sv = Isa::set1(s);
  int64_t c = 0;
  for (; c + W <= n; c += W) Isa::storef(y + c, Isa::fma(sv, Isa::loadf(x + c), Isa::loadf(y + c)));
  for (; c < n; ++c) y[c] += s * x[c];
}

template <typename Isa>
float dot_impl(const float* a, const float* b, int64_t n) {
  constexpr int64_t W = Isa::kW;
  typename Isa::F acc0 = Isa::zero(), acc1 = Isa::zero(), acc2 = Isa::zero(), acc3 = Isa::zero();
  int64_t c = 0;
  for (; c + 4 * W <= n; c += 4 * W) {
    acc0 = Isa::fma(Isa::loadf(a + c), Isa::loadf(b + c), acc0);
    acc1 = Isa::fma(Isa::loadf(a + c + W), Isa::loadf(b + c + W), acc1);
    acc2 = Isa::fma(Isa::loadf(a + c + 2 * W), Isa::loadf(b + c + 2 * W), acc2);
    acc3 = Isa::fma(Isa::loadf(a + c + 3 * W), Isa::loadf(b + c + 3 * W), acc3);
  }
  for (; c + W <= n; c += W) acc0 = Isa::fma(Isa::loadf(a + c), Isa::loadf(b + c), acc0);
  float sum = Isa::hsum(Isa::add(Isa::add(acc0, acc1), Isa::add(acc2, acc3)));
  for (; c < n; ++c) sum += a[c] * b[c];
  return sum;
}

// e^v for v <= 0 (attention scores minus their max): v clamped at -87 (e^-87 is still a normal
// float), v = n ln2 + r with |r| <= ln2/2 (ln2 split in two for an exact product), e^r by its
// degree-7 Taylor polynomial (relative error < 1e-8 there), scaled by 2^n. About 1 ulp.
template <class Isa>
inline typename Isa::F exp_neg(typename Isa::F v) {
  using F = typename Isa::F;
  v = Isa::max(v, Isa::set1(-87.0f));
  const F n = Isa::round(Isa::mul(v, Isa::set1(1.44269504088896341f)));
  F r = Isa::fnma(n, Isa::set1(0.693359375f), v);  // ln2 high part: 8 significant bits, so n·hi is exact
  r = Isa::fnma(n, Isa::set1(-2.12194440e-4f), r);  // ln2 - hi
  F p = Isa::set1(1.0f / 5040);
  p = Isa::fma(p, r, Isa::set1(1.0f / 720));
  p = Isa::fma(p, r, Isa::set1(1.0f / 120));
  p = Isa::fma(p, r, Isa::set1(1.0f / 24));
  p = Isa::fma(p, r, Isa::set1(1.0f / 6));
  p = Isa::fma(p, r, Isa::set1(0.5f));
  p = Isa::fma(p, r, Isa::set1(1.0f));
  p = Isa::fma(p, r, Isa::set1(1.0f));
  return Isa::ldexp(p, n);
}

// x[i] = e^(x[i] - m) for x[i] <= m; returns Σ x[i] (the tail past the last whole vector on the
// same polynomial, one lane at a time through a padded vector).
template <class Isa>
float exp_sum_impl(float* x, int64_t n, float m) {
  using F = typename Isa::F;
  constexpr int64_t W = Isa::kW;
  const F mv = Isa::set1(m);
  F acc = Isa::zero();
  int64_t i = 0;
  for (; i + W <= n; i += W) {
    const F e = exp_neg<Isa>(Isa::add(Isa::loadf(x + i), Isa::mul(mv, Isa::set1(-1.0f))));
    Isa::storef(x + i, e);
    acc = Isa::add(acc, e);
  }
  if (i < n) {
    alignas(64) float tmp[W];
    for (int64_t j = 0; j < W; ++j) tmp[j] = i + j < n ? x[i + j] : m - 100.0f;
    const F e = exp_neg<Isa>(Isa::add(Isa::loadf(tmp), Isa::mul(mv, Isa::set1(-1.0f))));
    Isa::storef(tmp, e);
    for (int64_t j = 0; i + j < n; ++j) x[i + j] = tmp[j];
    float tail = 0.0f;
    for (int64_t j = 0; i + j < n; ++j) tail += tmp[j];
    return Isa::hsum(acc) + tail;
  }
  return Isa::hsum(acc);
}

// out = g / (1 + e^-g) · up; e^-g clamped to [e^-87, e^88] (exp_neg's range, finite either way).
template <class Isa>
void silu_mul_impl(const float* gate, const float* up, float* out, int64_t n) {
  using F = typename Isa::F;
  constexpr int64_t W = Isa::kW;
  const F one = Isa::set1(1.0f), neg = Isa::set1(-1.0f), hi = Isa::set1(88.0f);
  int64_t i = 0;
  for (; i + W <= n; i += W) {
    const F g = Isa::loadf(gate + i);
    const F e = exp_neg<Isa>(Isa::min(Isa::mul(g, neg), hi));
    Isa::storef(out + i, Isa::mul(Isa::div(g, Isa::add(one, e)), Isa::loadf(up + i)));
  }
  for (; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

#undef WHALE_UNROLL

}  // namespace
}  // namespace whale::kernels::simd
