// attention_bf16.h's kernel. Per block of 16 keys: scores by vdpbf16ps of each query's bf16 pairs
// (broadcast) against the block's keys transposed as 32-bit pairs, an online softmax in f32, the
// weights rounded to bf16 pairs, then the values of two keys interleaved (unpacklo/hi_epi16) so one
// vdpbf16ps adds both keys' terms to 16 output columns. The output columns of a 32-column group
// then sit in the unpack's order (lo: 8L + e, hi: 8L + 4 + e for 128-bit lane L, e < 4) until the
// chunk ends and they are put back in order.
#include "kernels/attention_bf16.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "core/convert.h"
#include "core/error.h"
#include "kernels/cpu_features.h"
#include "kernels/simd_kernels.h"

namespace whale::kernels::attention_bf16 {
namespace {

bool available() { return WHALE_SIMD_X86 && cpu_features().avx512bf16 && max_simd_level() == SimdLevel::kAvx512; }

std::atomic<bool>& slot() {
  static std::atomic<bool> s{[] {
    const char* env = std::getenv("WHALE_BF16_ATTN");
    return !(env != nullptr && std::strcmp(env, "0") == 0) && available();
  }()};
  return s;
}

}  // namespace

bool enabled(int64_t d, int64_t dv) {
  return simd_level() == SimdLevel::kAvx512 && slot().load(std::memory_order_relaxed) && d >= 2 && d % 2 == 0 &&
         dv >= 32 && dv % 32 == 0;
}

bool set_enabled(bool on) {
  slot().store(on && available(), std::memory_order_relaxed);
  return slot().load(std::memory_order_relaxed);
}

bool on() { return slot().load(std::memory_order_relaxed); }

}  // namespace whale::kernels::attention_bf16

#if WHALE_SIMD_X86
#include <immintrin.h>

#include <cmath>
#include <limits>
#include <vector>

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include "kernels/simd_impl.h"

namespace whale::kernels::attention_bf16 {
namespace {

constexpr int kTile = 16;  // queries per tile
constexpr int W = 16;      // keys per block
constexpr int kAhead = 2;  // blocks between a row's prefetch and its use

// What simd::exp_neg needs of an ISA (the f32 kernel's exponential, the same polynomial).
struct Isa {
  using F = __m512;
  static F set1(float v) { return _mm512_set1_ps(v); }
  static F mul(F a, F b) { return _mm512_mul_ps(a, b); }
  static F max(F a, F b) { return _mm512_max_ps(a, b); }
  static F fma(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  static F fnma(F a, F b, F c) { return _mm512_fnmadd_ps(a, b, c); }
  static F round(F v) { return _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static F ldexp(F p, F n) { return _mm512_scalef_ps(p, n); }
};

inline __m512bh bh(__m512i v) { return reinterpret_cast<__m512bh>(v); }

// 16 registers of 16 words (row j: words w0..w0+15 of its pairs) transposed in place: r[p] holds
// word p of every row. The f32 kernel's pattern on 32-bit words.
inline void transpose16(__m512i r[16]) {
  __m512i a[16], b[16];
  for (int i = 0; i < 8; ++i) {
    a[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
    a[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {  // b[4i + m], lane L: word 4L + m of rows 4i..4i+3
    b[4 * i + 0] = _mm512_unpacklo_epi64(a[4 * i], a[4 * i + 2]);
    b[4 * i + 1] = _mm512_unpackhi_epi64(a[4 * i], a[4 * i + 2]);
    b[4 * i + 2] = _mm512_unpacklo_epi64(a[4 * i + 1], a[4 * i + 3]);
    b[4 * i + 3] = _mm512_unpackhi_epi64(a[4 * i + 1], a[4 * i + 3]);
  }
  for (int m = 0; m < 4; ++m) {  // a 4x4 transpose of 128-bit lanes: word 4L + m
    const __m512i x0 = _mm512_shuffle_i32x4(b[m], b[4 + m], 0x44), x1 = _mm512_shuffle_i32x4(b[m], b[4 + m], 0xEE);
    const __m512i x2 = _mm512_shuffle_i32x4(b[8 + m], b[12 + m], 0x44),
                  x3 = _mm512_shuffle_i32x4(b[8 + m], b[12 + m], 0xEE);
    r[m] = _mm512_shuffle_i32x4(x0, x2, 0x88);
    r[4 + m] = _mm512_shuffle_i32x4(x0, x2, 0xDD);
    r[8 + m] = _mm512_shuffle_i32x4(x1, x3, 0x88);
    r[12 + m] = _mm512_shuffle_i32x4(x1, x3, 0xDD);
  }
}

// Block of rows j0..j0+count-1 (count <= 16): kt[p * 16 + j] = pair p of row j0 + j, 0 past count.
// Asks for the same lines of the rows kAhead blocks on (below `ahead_end`) as it reads these: sixteen
// rows read across are sixteen strided streams, which the hardware prefetchers do not keep ahead
// of (without this the loads waited on memory for most of a decode step's attention).
void transpose_block(const uint16_t* const* rows, int64_t j0, int64_t count, int64_t k_offset, int64_t d, uint32_t* kt,
                     int64_t ahead_end) {
  const int64_t P = d / 2;
  const int64_t a0 = j0 + kAhead * W, a1 = ahead_end < a0 + W ? ahead_end : a0 + W;
  int64_t p0 = 0;
  for (; p0 + 16 <= P; p0 += 16) {
    for (int64_t j = a0; j < a1; ++j)
      _mm_prefetch(reinterpret_cast<const char*>(rows[j] + k_offset + 2 * p0), _MM_HINT_T1);
    __m512i r[16];
    for (int j = 0; j < W; ++j)
      r[j] = j < count ? _mm512_loadu_si512(rows[j0 + j] + k_offset + 2 * p0) : _mm512_setzero_si512();
    transpose16(r);
    for (int p = 0; p < 16; ++p) _mm512_storeu_si512(kt + (p0 + p) * W, r[p]);
  }
  for (; p0 < P; ++p0) {
    for (int j = 0; j < W; ++j) {
      uint32_t w = 0;
      if (j < count) std::memcpy(&w, rows[j0 + j] + k_offset + 2 * p0, sizeof w);
      kt[p0 * W + j] = w;
    }
  }
}

// Scores of NT queries against a transposed block: s[i] = Σ_p dot(qp_i[p], kt[p]), p in order.
template <int NT>
inline void score_block(const uint32_t* qp, const uint32_t* kt, int64_t P, __m512* s) {
  __m512 acc[NT];
#pragma GCC unroll 16
  for (int i = 0; i < NT; ++i) acc[i] = _mm512_setzero_ps();
  for (int64_t p = 0; p < P; ++p) {
    const __m512bh k = bh(_mm512_loadu_si512(kt + p * W));
    const uint32_t* q = qp + p * kTile;
#pragma GCC unroll 16
    for (int i = 0; i < NT; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], bh(_mm512_set1_epi32(static_cast<int>(q[i]))), k);
  }
#pragma GCC unroll 16
  for (int i = 0; i < NT; ++i) s[i] = acc[i];
}

void scores_for(const uint32_t* qp, int64_t nt, const uint32_t* kt, int64_t P, __m512* s) {
  int64_t i = 0;
  for (; i + 16 <= nt; i += 16) score_block<16>(qp + i, kt, P, s + i);
  if (nt - i >= 8) score_block<8>(qp + i, kt, P, s + i), i += 8;
  if (nt - i >= 4) score_block<4>(qp + i, kt, P, s + i), i += 4;
  if (nt - i >= 2) score_block<2>(qp + i, kt, P, s + i), i += 2;
  if (nt - i >= 1) score_block<1>(qp + i, kt, P, s + i);
}

// o_i (unpack order) += Σ_pairs dot(pp_i[q], vi[q]) for NT queries, group by group: vi holds,
// per key pair q and 32-column group g, the lo and hi interleaves (32 words at (q·G + g)·32).
template <int NT>
inline void value_block(const uint32_t (*pp)[W / 2], float* const* o, const uint32_t* vi, int64_t pairs, int64_t G) {
  for (int64_t g = 0; g < G; ++g) {
    __m512 lo[NT], hi[NT];
#pragma GCC unroll 8
    for (int i = 0; i < NT; ++i) lo[i] = _mm512_loadu_ps(o[i] + 32 * g), hi[i] = _mm512_loadu_ps(o[i] + 32 * g + 16);
    for (int64_t q = 0; q < pairs; ++q) {
      const __m512bh vl = bh(_mm512_loadu_si512(vi + (q * G + g) * 32));
      const __m512bh vh = bh(_mm512_loadu_si512(vi + (q * G + g) * 32 + 16));
#pragma GCC unroll 8
      for (int i = 0; i < NT; ++i) {
        const __m512bh w = bh(_mm512_set1_epi32(static_cast<int>(pp[i][q])));
        lo[i] = _mm512_dpbf16_ps(lo[i], w, vl);
        hi[i] = _mm512_dpbf16_ps(hi[i], w, vh);
      }
    }
#pragma GCC unroll 8
    for (int i = 0; i < NT; ++i) _mm512_storeu_ps(o[i] + 32 * g, lo[i]), _mm512_storeu_ps(o[i] + 32 * g + 16, hi[i]);
  }
}

void values_for(const uint32_t (*pp)[W / 2], float* const* o, int64_t nt, const uint32_t* vi, int64_t pairs,
                int64_t G) {
  int64_t i = 0;
  for (; i + 8 <= nt; i += 8) value_block<8>(pp + i, o + i, vi, pairs, G);
  if (nt - i >= 4) value_block<4>(pp + i, o + i, vi, pairs, G), i += 4;
  if (nt - i >= 2) value_block<2>(pp + i, o + i, vi, pairs, G), i += 2;
  if (nt - i >= 1) value_block<1>(pp + i, o + i, vi, pairs, G);
}

// dst (column order) = src (unpack order) · scale, dv columns.
void unpermute(const float* src, int64_t dv, float scale, float* dst) {
  for (int64_t g = 0; g < dv; g += 32) {
    for (int L = 0; L < 4; ++L) {
      for (int e = 0; e < 4; ++e) {
        dst[g + 8 * L + e] = src[g + 4 * L + e] * scale;
        dst[g + 8 * L + 4 + e] = src[g + 16 + 4 * L + e] * scale;
      }
    }
  }
}

struct QueryState {
  float m, l;
  float* o;  // dv accumulators, unpack order
};

void attend_impl(const Attention& a) {
  const float neg_inf = -std::numeric_limits<float>::infinity();
  const int64_t P = a.d / 2, G = a.dv / 32;
  const uint16_t* const* rows = a.rows16;
  const bool values_in_keys = a.v_offset >= a.k_offset && a.v_offset + a.dv <= a.k_offset + a.d;
  const auto* kt_pre = reinterpret_cast<const uint32_t*>(a.kt);
  thread_local std::vector<uint32_t> kt_buf, qp_buf, vi_buf;
  thread_local std::vector<float> o_buf;
  if (kt_pre == nullptr && kt_buf.size() < static_cast<size_t>(W * P)) kt_buf.resize(static_cast<size_t>(W * P));
  if (qp_buf.size() < static_cast<size_t>(kTile * P)) qp_buf.resize(static_cast<size_t>(kTile * P));
  if (vi_buf.size() < static_cast<size_t>(W / 2 * G * 32)) vi_buf.resize(static_cast<size_t>(W / 2 * G * 32));
  if (o_buf.size() < static_cast<size_t>(kTile * a.dv)) o_buf.resize(static_cast<size_t>(kTile * a.dv));
  alignas(64) float p[kTile][W];
  alignas(64) uint32_t pp[kTile][W / 2];
  __m512 s[kTile];
  constexpr int64_t K = kAttentionChunk;
  static_assert(K % W == 0);
  for (int64_t i0 = 0; i0 < a.nq; i0 += kTile) {
    const int64_t nt = a.nq - i0 < kTile ? a.nq - i0 : kTile;
    // The tile's queries as bf16 pairs (round to nearest even), interleaved: qp[p * 16 + i].
    uint32_t* qp = qp_buf.data();
    for (int64_t i = 0; i < nt; ++i) {
      const float* q = a.q[i0 + i];
      int64_t c = 0;
      for (; c + 32 <= a.d; c += 32) {
        alignas(64) uint32_t w[16];
        _mm512_store_si512(
            w, reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(_mm512_loadu_ps(q + c + 16), _mm512_loadu_ps(q + c))));
        for (int k = 0; k < 16; ++k) qp[(c / 2 + k) * kTile + i] = w[k];
      }
      for (; c < a.d; c += 2) {
        qp[(c / 2) * kTile + i] =
            static_cast<uint32_t>(core::f32_to_bf16(q[c])) | static_cast<uint32_t>(core::f32_to_bf16(q[c + 1])) << 16;
      }
    }
    const int64_t* n = a.n + i0;
    QueryState st[kTile];
    int64_t nmax = 0;
    for (int64_t i = 0; i < nt; ++i) nmax = n[i] > nmax ? n[i] : nmax;
    const int64_t chunks = (nmax + K - 1) / K, c1 = a.chunk1 < chunks ? a.chunk1 : chunks;
    float* o[kTile];
    for (int64_t c = a.chunk0; c < c1; ++c) {
      for (int64_t i = 0; i < nt; ++i) {  // every chunk starts a fresh online softmax
        st[i] = {neg_inf, 0.0f, o_buf.data() + i * a.dv};
        std::memset(st[i].o, 0, static_cast<size_t>(a.dv) * sizeof(float));
        o[i] = st[i].o;
      }
      const int64_t jend = nmax < (c + 1) * K ? nmax : (c + 1) * K;
      for (int64_t j0 = c * K; j0 < jend; j0 += W) {
        const int64_t count = jend - j0 < W ? jend - j0 : W;
        // The value rows two blocks on (the keys' lines come with transpose_block), unless the
        // values lie inside the keys (MLA) that transpose_block asks for.
        if (!(values_in_keys && kt_pre == nullptr)) {
          for (int64_t j = j0 + kAhead * W; j < jend && j < j0 + (kAhead + 1) * W; ++j) {
            const char* v = reinterpret_cast<const char*>(rows[j] + a.v_offset);
            for (int64_t b = 0; b < a.dv * 2; b += 64) _mm_prefetch(v + b, _MM_HINT_T1);
          }
        }
        const uint32_t* kt = kt_pre != nullptr ? kt_pre + (j0 / W) * W * P : kt_buf.data();
        if (kt_pre == nullptr) transpose_block(rows, j0, count, a.k_offset, a.d, kt_buf.data(), jend);
        scores_for(qp, nt, kt, P, s);
        for (int64_t i = 0; i < nt; ++i) {
          const int64_t valid = n[i] - j0;  // this query's keys in the block
          if (valid <= 0) {
            for (int k = 0; k < W / 2; ++k) pp[i][k] = 0;
            continue;
          }
          _mm512_store_ps(p[i], _mm512_mul_ps(s[i], _mm512_set1_ps(a.scale)));
          for (int64_t j = valid; j < W; ++j) p[i][j] = neg_inf;
          const float bm = _mm512_reduce_max_ps(_mm512_load_ps(p[i]));
          if (bm > st[i].m) {
            const float alpha = std::exp(st[i].m - bm);  // 0 on the first block (m = -inf)
            if (st[i].l > 0.0f) {
              const __m512 av = _mm512_set1_ps(alpha);
              for (int64_t e = 0; e < a.dv; e += 16)
                _mm512_storeu_ps(st[i].o + e, _mm512_mul_ps(_mm512_loadu_ps(st[i].o + e), av));
            }
            st[i].l *= alpha;
            st[i].m = bm;
          }
          __m512 e = simd::exp_neg<Isa>(_mm512_sub_ps(_mm512_load_ps(p[i]), _mm512_set1_ps(st[i].m)));
          if (valid < W) e = _mm512_maskz_mov_ps(static_cast<__mmask16>((1u << valid) - 1), e);  // masked keys weigh 0
          const __m256i eb = reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(e));
          _mm256_store_si256(reinterpret_cast<__m256i*>(pp[i]), eb);
          st[i].l += _mm512_reduce_add_ps(_mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(eb), 16)));
        }
        // Two keys' values interleaved per pair: lo and hi of each 32-column group.
        const int64_t pairs = (count + 1) / 2;
        uint32_t* vi = vi_buf.data();
        for (int64_t q = 0; q < pairs; ++q) {
          const uint16_t* ra = rows[j0 + 2 * q] + a.v_offset;
          const uint16_t* rb = 2 * q + 1 < count ? rows[j0 + 2 * q + 1] + a.v_offset : nullptr;
          for (int64_t g = 0; g < G; ++g) {
            const __m512i va = _mm512_loadu_si512(ra + 32 * g);
            const __m512i vb = rb != nullptr ? _mm512_loadu_si512(rb + 32 * g) : _mm512_setzero_si512();
            _mm512_storeu_si512(vi + (q * G + g) * 32, _mm512_unpacklo_epi16(va, vb));
            _mm512_storeu_si512(vi + (q * G + g) * 32 + 16, _mm512_unpackhi_epi16(va, vb));
          }
        }
        values_for(pp, o, nt, vi, pairs, G);
      }
      for (int64_t i = 0; i < nt; ++i) {
        if (n[i] <= c * K) continue;  // no keys in this chunk
        if (n[i] <= K) {              // one chunk: the result itself
          unpermute(st[i].o, a.dv, 1.0f / st[i].l, a.out[i0 + i]);
        } else {  // one of several: [m, l, o] for merge_chunks
          float* part = a.partial[i0 + i] + c * (a.dv + 2);
          part[0] = st[i].m;
          part[1] = st[i].l;
          unpermute(st[i].o, a.dv, 1.0f, part + 2);
        }
      }
    }
  }
}

}  // namespace

void transpose(const uint16_t* const* rows, int64_t n_rows, int64_t k_offset, int64_t d, int64_t b0, int64_t b1,
               uint16_t* kt) {
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t j0 = b * W, count = n_rows - j0 < W ? n_rows - j0 : W;
    transpose_block(rows, j0, count, k_offset, d, reinterpret_cast<uint32_t*>(kt + b * W * d), n_rows);
  }
}

void attend(const Attention& a) { attend_impl(a); }

}  // namespace whale::kernels::attention_bf16

#pragma GCC pop_options

#else

namespace whale::kernels::attention_bf16 {
void transpose(const uint16_t* const*, int64_t, int64_t, int64_t, int64_t, int64_t, uint16_t*) {
  fail(ErrorKind::kInternal, "attention_bf16::transpose without x86");
}
void attend(const Attention&) { fail(ErrorKind::kInternal, "attention_bf16::attend without x86"); }
}  // namespace whale::kernels::attention_bf16

#endif
