// The attention kernel behind kernels::attend, written once over an `Isa` traits type (f32 vector
// of W lanes: loadf, storef, set1, zero, fma, mul, max, hsum, hmax, exp_neg, transpose) and
// included by simd_avx512.cpp, simd_avx2.cpp and simd_scalar.cpp after their target pragmas.
//
// Keys go in blocks of W rows at fixed positions (0, W, 2W, ...), transposed so a block's keys sit
// across the lanes: kt[c * W + j] = k_{j0 + j}[c]. A tile of up to 16 queries then scores a block
// with d FMAs each (query value broadcast times the block's column c), runs an online softmax per
// query (running max m, sum l), and adds the weighted values. Every operation on query i's numbers
// depends only on query i and the rows, so its result is the same bits whichever queries share the
// tile and whether the transposed keys were precomputed (a transpose is exact). Rows are f32 or
// bf16 (a KV cache of bf16): bf16 widens to f32 on load (a 16-bit shift, exact), so the arithmetic
// is the same f32 arithmetic on the stored values; only half the bytes are read.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "core/dtype.h"
#include "kernels/attention.h"

namespace whale::kernels::simd {
namespace {  // one copy per ISA translation unit, compiled with that unit's target

inline constexpr int kAttnTile = 16;

// One stored row value as f32: bf16 is the top half of an f32.
inline float widen(float v) { return v; }
inline float widen(uint16_t h) {
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// W consecutive row values as an f32 vector.
template <class Isa>
inline typename Isa::F load_row(const float* p) {
  return Isa::loadf(p);
}
template <class Isa>
inline typename Isa::F load_row(const uint16_t* p) {
  if constexpr (Isa::kW == 1) {
    return widen(*p);
  } else {
    return Isa::template load<core::DType::kBF16>(reinterpret_cast<const uint8_t*>(p), 0);
  }
}

// Asks for the cache lines of n row values at p (no effect on results).
template <class R>
inline void prefetch_values(const R* p, int64_t n) {
  const auto* b = reinterpret_cast<const char*>(p);
  for (int64_t i = 0; i < n * static_cast<int64_t>(sizeof(R)); i += 64) __builtin_prefetch(b + i);
}

// kt[c * W + j] = rows[j0 + j][k_offset + c] for j < count, 0 beyond (count <= W).
template <class Isa, class R>
void transpose_keys(const R* const* rows, int64_t j0, int64_t count, int64_t k_offset, int64_t d, float* kt) {
  constexpr int64_t W = Isa::kW;
  if constexpr (requires { Isa::transpose_full(rows, j0, k_offset, d, kt); }) {
    if (count == W) return Isa::transpose_full(rows, j0, k_offset, d, kt);
  }
  for (int64_t c = 0; c < d; ++c) {
    for (int64_t j = 0; j < W; ++j) kt[c * W + j] = j < count ? widen(rows[j0 + j][k_offset + c]) : 0.0f;
  }
}

struct QueryState {
  float m, l;
  float* o;  // dv accumulators
};

// Scores of NT queries against one transposed block: s[i] = Σ_c q_i[c] · kt[c], c in order. The
// queries are interleaved, qt[c * kAttnTile + i] = q_i[c], so every broadcast is one base register
// plus a constant (16 query pointers do not fit the general registers).
template <class Isa, int NT>
inline void score_block(const float* qt, const float* kt, int64_t d, typename Isa::F* s) {
  using F = typename Isa::F;
  F acc[NT];
#pragma GCC unroll 16
  for (int i = 0; i < NT; ++i) acc[i] = Isa::zero();
  for (int64_t c = 0; c < d; ++c) {
    const F k = Isa::loadf(kt + c * Isa::kW);
    const float* qc = qt + c * kAttnTile;
#pragma GCC unroll 16
    for (int i = 0; i < NT; ++i) acc[i] = Isa::fma(Isa::set1(qc[i]), k, acc[i]);
  }
#pragma GCC unroll 16
  for (int i = 0; i < NT; ++i) s[i] = acc[i];
}

template <class Isa>
void scores_for(const float* qt, int64_t nt, const float* kt, int64_t d, typename Isa::F* s) {
  int64_t i = 0;
  for (; i + 16 <= nt; i += 16) score_block<Isa, 16>(qt + i, kt, d, s + i);
  if (nt - i >= 8) score_block<Isa, 8>(qt + i, kt, d, s + i), i += 8;
  if (nt - i >= 4) score_block<Isa, 4>(qt + i, kt, d, s + i), i += 4;
  if (nt - i >= 2) score_block<Isa, 2>(qt + i, kt, d, s + i), i += 2;
  if (nt - i >= 1) score_block<Isa, 1>(qt + i, kt, d, s + i);
}

template <class Isa, int NT, class R>
inline void value_block(const float (*p)[Isa::kW], float* const* o, const R* const* rows, int64_t count,
                        int64_t v_offset, int64_t dv) {
  using F = typename Isa::F;
  constexpr int64_t W = Isa::kW;
  int64_t c0 = 0;
  for (; c0 + W <= dv; c0 += W) {
    F acc[NT];
#pragma GCC unroll 16
    for (int i = 0; i < NT; ++i) acc[i] = Isa::loadf(o[i] + c0);
    for (int64_t j = 0; j < count; ++j) {
      const F v = load_row<Isa>(rows[j] + v_offset + c0);
#pragma GCC unroll 16
      for (int i = 0; i < NT; ++i) acc[i] = Isa::fma(Isa::set1(p[i][j]), v, acc[i]);
    }
#pragma GCC unroll 16
    for (int i = 0; i < NT; ++i) Isa::storef(o[i] + c0, acc[i]);
  }
  for (; c0 < dv; ++c0) {
    for (int64_t j = 0; j < count; ++j) {
      const float v = widen(rows[j][v_offset + c0]);
      for (int i = 0; i < NT; ++i) o[i][c0] = std::fma(p[i][j], v, o[i][c0]);
    }
  }
}

template <class Isa, class R>
void values_for(const float (*p)[Isa::kW], float* const* o, int64_t nt, const R* const* rows, int64_t count,
                int64_t v_offset, int64_t dv) {
  int64_t i = 0;
  for (; i + 16 <= nt; i += 16) value_block<Isa, 16, R>(p + i, o + i, rows, count, v_offset, dv);
  if (nt - i >= 8) value_block<Isa, 8, R>(p + i, o + i, rows, count, v_offset, dv), i += 8;
  if (nt - i >= 4) value_block<Isa, 4, R>(p + i, o + i, rows, count, v_offset, dv), i += 4;
  if (nt - i >= 2) value_block<Isa, 2, R>(p + i, o + i, rows, count, v_offset, dv), i += 2;
  if (nt - i >= 1) value_block<Isa, 1, R>(p + i, o + i, rows, count, v_offset, dv);
}

// kt_pre: the set's keys already transposed (block b at kt_pre + b * W * d), or null. rows: a.rows
// or a.rows16.
template <class Isa, class R>
void attend_rows(const Attention& a, const R* const* rows, const float* kt_pre) {
  using F = typename Isa::F;
  constexpr int64_t W = Isa::kW;
  const float neg_inf = -std::numeric_limits<float>::infinity();
  thread_local std::vector<float> kt_buf, o_buf, qt_buf;
  if (kt_pre == nullptr && kt_buf.size() < static_cast<size_t>(W * a.d)) kt_buf.resize(static_cast<size_t>(W * a.d));
  if (qt_buf.size() < static_cast<size_t>(kAttnTile * a.d)) qt_buf.resize(static_cast<size_t>(kAttnTile * a.d));
  if (o_buf.size() < static_cast<size_t>(kAttnTile * a.dv)) o_buf.resize(static_cast<size_t>(kAttnTile * a.dv));
  alignas(64) float p[kAttnTile][W];
  F s[kAttnTile];
  constexpr int64_t K = kAttentionChunk;
  static_assert(K % W == 0);
  for (int64_t i0 = 0; i0 < a.nq; i0 += kAttnTile) {
    const int64_t nt = a.nq - i0 < kAttnTile ? a.nq - i0 : kAttnTile;
    const float* const* q = a.q + i0;
    float* qt = qt_buf.data();
    for (int64_t i = 0; i < nt; ++i) {
      for (int64_t c = 0; c < a.d; ++c) qt[c * kAttnTile + i] = q[i][c];
    }
    const int64_t* n = a.n + i0;
    QueryState st[kAttnTile];
    int64_t nmax = 0;
    for (int64_t i = 0; i < nt; ++i) nmax = n[i] > nmax ? n[i] : nmax;
    const int64_t chunks = (nmax + K - 1) / K, c1 = a.chunk1 < chunks ? a.chunk1 : chunks;
    for (int64_t c = a.chunk0; c < c1; ++c) {
    for (int64_t i = 0; i < nt; ++i) {  // every chunk starts a fresh online softmax
      st[i] = {neg_inf, 0.0f, o_buf.data() + i * a.dv};
      std::memset(st[i].o, 0, static_cast<size_t>(a.dv) * sizeof(float));
    }
    const int64_t jend = nmax < (c + 1) * K ? nmax : (c + 1) * K;
    for (int64_t j0 = c * K; j0 < jend; j0 += W) {
      const int64_t count = jend - j0 < W ? jend - j0 : W;  // rows that exist in this block
      // The block's value rows are read after its scores, the next block's keys after that: their
      // lines are requested now (rows are pointers, which the hardware prefetcher cannot follow;
      // without this the value loads waited on memory at depth).
      for (int64_t j = 0; j < count; ++j) prefetch_values(rows[j0 + j] + a.v_offset, a.dv);
      if (kt_pre == nullptr) {
        for (int64_t j = j0 + W; j < jend && j < j0 + 2 * W; ++j) prefetch_values(rows[j] + a.k_offset, a.d);
      }
      const float* kt = kt_pre != nullptr ? kt_pre + (j0 / W) * W * a.d : kt_buf.data();
      if (kt_pre == nullptr) transpose_keys<Isa>(rows, j0, count, a.k_offset, a.d, kt_buf.data());
      scores_for<Isa>(qt, nt, kt, a.d, s);
      for (int64_t i = 0; i < nt; ++i) {
        const int64_t valid = n[i] - j0;  // this query's keys in the block
        if (valid <= 0) {
          for (int64_t j = 0; j < W; ++j) p[i][j] = 0.0f;
          continue;
        }
        Isa::storef(p[i], Isa::mul(s[i], Isa::set1(a.scale)));
        for (int64_t j = valid; j < W; ++j) p[i][j] = neg_inf;
        const float bm = Isa::hmax(Isa::loadf(p[i]));
        if (bm > st[i].m) {
          const float alpha = std::exp(st[i].m - bm);  // 0 on the first block (m = -inf)
          if (st[i].l > 0.0f) {
            float* o = st[i].o;
            int64_t e = 0;
            for (; e + W <= a.dv; e += W) Isa::storef(o + e, Isa::mul(Isa::loadf(o + e), Isa::set1(alpha)));
            for (; e < a.dv; ++e) o[e] *= alpha;
          }
          st[i].l *= alpha;
          st[i].m = bm;
        }
        const F e = Isa::exp_neg(Isa::add(Isa::loadf(p[i]), Isa::set1(-st[i].m)));
        Isa::storef(p[i], e);
        for (int64_t j = valid; j < W; ++j) p[i][j] = 0.0f;  // masked keys weigh exactly 0
        st[i].l += Isa::hsum(Isa::loadf(p[i]));
      }
      // o_i += Σ_j p_ij v_j, key by key in order, W output values at a time.
      float* o[kAttnTile];
      for (int64_t i = 0; i < nt; ++i) o[i] = st[i].o;
      values_for<Isa>(p, o, nt, rows + j0, count, a.v_offset, a.dv);
    }
    for (int64_t i = 0; i < nt; ++i) {
      if (n[i] <= c * K) continue;  // no keys in this chunk
      if (n[i] <= K) {  // one chunk: the result itself
        float* out = a.out[i0 + i];
        const float inv = 1.0f / st[i].l;
        for (int64_t e = 0; e < a.dv; ++e) out[e] = st[i].o[e] * inv;
      } else {  // one of several: [m, l, o] for merge_chunks
        float* part = a.partial[i0 + i] + c * (a.dv + 2);
        part[0] = st[i].m;
        part[1] = st[i].l;
        std::memcpy(part + 2, st[i].o, static_cast<size_t>(a.dv) * sizeof(float));
      }
    }
    }
  }
}

template <class Isa>
void attend_impl(const Attention& a, const float* kt_pre) {
  if (a.rows16 != nullptr) return attend_rows<Isa>(a, a.rows16, kt_pre);
  attend_rows<Isa>(a, a.rows, kt_pre);
}

// The set's keys transposed block by block for blocks [b0, b1) (kt as attend_impl's kt_pre).
template <class Isa, class R = float>
void transpose_impl(const R* const* rows, int64_t n_rows, int64_t k_offset, int64_t d, int64_t b0, int64_t b1,
                    float* kt) {
  constexpr int64_t W = Isa::kW;
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t j0 = b * W, count = n_rows - j0 < W ? n_rows - j0 : W;
    transpose_keys<Isa>(rows, j0, count, k_offset, d, kt + b * W * d);
  }
}

}  // namespace
}  // namespace whale::kernels::simd
