// Row kernels of the codebook types iq2_xxs and iq1_s (core/quant_iq.h) over int8 ActBlock
// activations, written once over the level's Isa like simd_impl_legacy.h (include after
// simd_impl.h, whose matmul_nt dispatches here through matmul_iq). Each 32-element group lines
// up with one ActBlock: its 32 weights are built as exact int8 (four 8-byte grid rows), dotted
// exactly in int32, and scaled in f32, one per-token operation sequence whatever the token count.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "core/quant_iq.h"
#include "kernels/simd_impl.h"

namespace whale::kernels::simd {
namespace {  // one copy per ISA translation unit, compiled with that unit's target

#define WHALE_UNROLL _Pragma("GCC unroll 8")

// iq2_xxs's sign rows: index i (7 bits) -> 8 bytes of +1 or -1, byte j -1 where bit j of
// kIQ2XXSSigns[i] = i | parity(i) << 7 is set (the 8th sign keeps the count of minus signs even).
struct IqSignRows {
  uint64_t v[128];
};
constexpr IqSignRows make_iq_sign_rows() {
  IqSignRows t{};
  for (int i = 0; i < 128; ++i) {
    const int bits = i | ((__builtin_popcount(static_cast<unsigned>(i)) & 1) << 7);
    for (int j = 0; j < 8; ++j) t.v[i] |= static_cast<uint64_t>((bits >> j) & 1 ? 0xFF : 0x01) << (8 * j);
  }
  return t;
}
inline constexpr IqSignRows kIqSignRows = make_iq_sign_rows();

inline __m256i iq_rows(const uint64_t* grid, uint32_t i0, uint32_t i1, uint32_t i2, uint32_t i3) {
  return _mm256_setr_epi64x(static_cast<long long>(grid[i0]), static_cast<long long>(grid[i1]),
                            static_cast<long long>(grid[i2]), static_cast<long long>(grid[i3]));
}

// Group g of a block: the magnitudes |w| (unsigned) and the signed weights w, and the f32 scale
// (core::iq_group's values and scale).
template <DType K>
inline float iq_weights(const uint8_t* blk, int g, __m256i* aw, __m256i* ws) {
  if constexpr (K == DType::kIQ2_XXS) {
    const auto& b = *reinterpret_cast<const core::BlockIQ2_XXS*>(blk);
    uint32_t aux[2];
    std::memcpy(aux, b.qs + 4 * g, 8);
    *aw = iq_rows(core::kIQ2XXSGrid, aux[0] & 0xFF, (aux[0] >> 8) & 0xFF, (aux[0] >> 16) & 0xFF, aux[0] >> 24);
    // The signs as ±1 bytes straight from a 1 KiB table (the same bits as core::kIQ2XXSSigns).
    const __m256i sign = iq_rows(kIqSignRows.v, aux[1] & 127, (aux[1] >> 7) & 127, (aux[1] >> 14) & 127, (aux[1] >> 21) & 127);
    *ws = _mm256_sign_epi8(*aw, sign);
    return _cvtsh_ss(b.d) * (0.5f + static_cast<float>(aux[1] >> 28)) * 0.25f;
  } else {
    const auto& b = *reinterpret_cast<const core::BlockIQ1_S*>(blk);
    const uint32_t qh = b.qh[g];
    const uint8_t* qs = b.qs + 4 * g;
    const __m256i grid = iq_rows(core::kIQ1SGrid, qs[0] | (qh & 7) << 8, qs[1] | ((qh >> 3) & 7) << 8,
                                 qs[2] | ((qh >> 6) & 7) << 8, qs[3] | ((qh >> 9) & 7) << 8);
    // 8 grid ± 1 in [-9, 9]: 8 with the grid value's sign (0 where it is 0), plus the delta's sign.
    *ws = _mm256_add_epi8(_mm256_sign_epi8(_mm256_set1_epi8(8), grid), _mm256_set1_epi8((qh & 0x8000) ? -1 : 1));
    *aw = _mm256_abs_epi8(*ws);
    return _cvtsh_ss(b.d) * static_cast<float>(2 * ((qh >> 12) & 7) + 1) * 0.125f;
  }
}

template <class Isa, DType K, int NT>
void rows_iq(const MatArgs& a) {
  constexpr int64_t kBytes = K == DType::kIQ2_XXS ? 66 : 50;
  const int64_t nbk = a.cols / 256;
  const ActBlock* x[NT];
  WHALE_UNROLL for (int t = 0; t < NT; ++t) x[t] = a.xq + t * a.x_stride;
  for (int64_t i = 0; i < a.rows; ++i) {
    const uint8_t* w = a.w + i * a.row_bytes;
    __m256 acc[NT][2];
    WHALE_UNROLL for (int t = 0; t < NT; ++t) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
    for (int64_t bk = 0; bk < nbk; ++bk) {
      _mm_prefetch(reinterpret_cast<const char*>(w + bk * kBytes) + 1024, _MM_HINT_T0);  // see rows_q4_0
      WHALE_UNROLL for (int g = 0; g < 8; ++g) {
        __m256i aw, ws;
        const float s = iq_weights<K>(w + bk * kBytes, g, &aw, &ws);
        WHALE_UNROLL for (int t = 0; t < NT; ++t) {
          const ActBlock& xb = x[t][8 * bk + g];
          const __m256i p = signed_dot<Isa>(aw, ws, loadu256(xb.qs));
          acc[t][g & 1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(s * xb.d), acc[t][g & 1]);
        }
      }
    }
    WHALE_UNROLL for (int t = 0; t < NT; ++t) a.y[t * a.y_stride + i] = hsum256(_mm256_add_ps(acc[t][0], acc[t][1]));
  }
}

template <class Isa, int NT>
bool matmul_iq(const MatArgs& a) {
  switch (a.dtype) {
    case DType::kIQ2_XXS: rows_iq<Isa, DType::kIQ2_XXS, NT>(a); return true;
    case DType::kIQ1_S: rows_iq<Isa, DType::kIQ1_S, NT>(a); return true;
    default: return false;
  }
}

#undef WHALE_UNROLL

}  // namespace
}  // namespace whale::kernels::simd
