// float_dot.h's kernels. The fp8 byte tables hold the bf16 bits of every e4m3 magnitude (all of
// them, subnormals included, are normal bf16 numbers, so vdpbf16ps's treatment of denormal inputs
// as zero never applies to a weight).
#include "kernels/float_dot.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "core/convert.h"
#include "kernels/cpu_features.h"
#include "kernels/simd_kernels.h"

namespace whale::kernels::float_dot {
namespace {

bool fp8_available() {
  const CpuFeatures& f = cpu_features();
  return WHALE_SIMD_X86 && f.avx512bf16 && f.avx512vbmi && max_simd_level() == SimdLevel::kAvx512;
}

std::atomic<bool>& fp8_slot() {
  static std::atomic<bool> slot{[] {
    const char* env = std::getenv("WHALE_BF16_DOT");
    return !(env != nullptr && std::strcmp(env, "0") == 0) && fp8_available();
  }()};
  return slot;
}

int64_t padded(int64_t cols) { return (cols + 63) / 64 * 64; }

}  // namespace

bool enabled(core::DType dt, int64_t block) {
  if (!WHALE_SIMD_X86 || simd_level() != SimdLevel::kAvx512) return false;
  if (dt == core::DType::kBF16) return true;
  return dt == core::DType::kF8E4M3 && block % 64 == 0 && fp8_slot().load(std::memory_order_relaxed);
}

bool set_fp8_enabled(bool on) {
  fp8_slot().store(on && fp8_available(), std::memory_order_relaxed);
  return fp8_slot().load(std::memory_order_relaxed);
}

// bf16: f32 per column; fp8: bf16 per column.
int64_t prepared_bytes(core::DType dt, int64_t cols) { return padded(cols) * (dt == core::DType::kBF16 ? 4 : 2); }

}  // namespace whale::kernels::float_dot

#if WHALE_SIMD_X86
#include <immintrin.h>

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512bf16,avx512vbmi")
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace whale::kernels::float_dot {
namespace {

#define WHALE_UNROLL _Pragma("GCC unroll 8")
// Weights are prefetched a page ahead of the loads (each thread streams one contiguous run of rows):
// kernels_bench's 18432x7168 decode on AMD EPYC (Zen 5, no AMX), 2 threads, read 36 -> 40-49 GB/s (bf16) and
// 27-40 -> 44-48 GB/s (fp8) against no prefetch; 512-2048 bytes ahead gained little.
constexpr int64_t kPrefetch = 4096;
inline void prefetch_line_pair(const void* p) {
  _mm_prefetch(static_cast<const char*>(p) + kPrefetch, _MM_HINT_T0);
  _mm_prefetch(static_cast<const char*>(p) + kPrefetch + 64, _MM_HINT_T0);
}

// High and low bytes of the bf16 of e4m3 magnitude m (0..127); the sign is or-ed in afterwards.
struct Fp8Tables {
  alignas(64) uint8_t hi[128];
  alignas(64) uint8_t lo[128];
  Fp8Tables() {
    for (int m = 0; m < 128; ++m) {
      const uint16_t h = core::f32_to_bf16(core::f8e4m3_to_f32(static_cast<uint8_t>(m)));
      hi[m] = static_cast<uint8_t>(h >> 8);
      lo[m] = static_cast<uint8_t>(h & 0xFF);
    }
  }
};
const Fp8Tables& fp8_tables() {
  static const Fp8Tables t;
  return t;
}

// Which columns of a 64-column chunk each of the two bf16 vectors an fp8 load becomes holds:
// unpacklo/hi_epi8 interleave within 128-bit lanes, so vector A's lane k holds columns 16k..16k+7
// and B's 16k+8..16k+15. Index j of A (word 8k + i) is column 16k + i.
inline __m512i fp8_order(int half) {
  alignas(64) uint16_t idx[32];
  for (int k = 0; k < 4; ++k) {
    for (int i = 0; i < 8; ++i) idx[8 * k + i] = static_cast<uint16_t>(16 * k + 8 * half + i);
  }
  return _mm512_load_si512(idx);
}

inline float hsum(__m512 v) { return _mm512_reduce_add_ps(v); }

// The lanes of columns [c0, c0 + 16) that are below cols.
inline __mmask16 mask16(int64_t c0, int64_t cols) {
  return c0 + 16 <= cols ? 0xFFFF : c0 < cols ? static_cast<__mmask16>((1u << (cols - c0)) - 1) : 0;
}

void prepare_for_bf16(const float* x, int64_t cols, float* out) {
  // Per 32 columns: the 16 even columns, then the 16 odd ones (as a 32-bf16 load splits them).
  alignas(64) static const int32_t even[16] = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30};
  alignas(64) static const int32_t odd[16] = {1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31};
  const __m512i ie = _mm512_load_si512(even), io = _mm512_load_si512(odd);
  for (int64_t c = 0; c < padded(cols); c += 32) {
    const __m512 a = _mm512_maskz_loadu_ps(mask16(c, cols), x + c);
    const __m512 b = _mm512_maskz_loadu_ps(mask16(c + 16, cols), x + c + 16);
    _mm512_storeu_ps(out + c, _mm512_permutex2var_ps(a, ie, b));
    _mm512_storeu_ps(out + c + 16, _mm512_permutex2var_ps(a, io, b));
  }
}

void prepare_for_fp8(const float* x, int64_t cols, uint16_t* out) {
  const __m512i ia = fp8_order(0), ib = fp8_order(1);
  for (int64_t c = 0; c < padded(cols); c += 64) {
    __m512 v[4];
    for (int q = 0; q < 4; ++q) v[q] = _mm512_maskz_loadu_ps(mask16(c + 16 * q, cols), x + c + 16 * q);
    // Round to nearest even (vcvtne2ps2bf16); words 0..31 are columns c..c+31, then c+32..c+63.
    const __m512i n0 = reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(v[1], v[0]));
    const __m512i n1 = reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(v[3], v[2]));
    _mm512_storeu_si512(out + c, _mm512_permutex2var_epi16(n0, ia, n1));
    _mm512_storeu_si512(out + c + 32, _mm512_permutex2var_epi16(n0, ib, n1));
  }
}

// 32 bf16 weights as f32: the even columns (low halves shifted up) and the odd ones (high halves).
template <int NT>
void rows_bf16(const Args& a) {
  const __m512i high = _mm512_set1_epi32(static_cast<int32_t>(0xFFFF0000u));
  const int64_t nchunks = (a.cols + 31) / 32;  // the last one masked
  const float* x[NT];
  WHALE_UNROLL for (int t = 0; t < NT; ++t) x[t] = reinterpret_cast<const float*>(a.x + t * a.x_stride);
  for (int64_t i = 0; i < a.rows; ++i) {
    const uint16_t* wr = reinterpret_cast<const uint16_t*>(a.w + i * a.row_bytes);
    __m512 acc[NT][4];
    WHALE_UNROLL for (int t = 0; t < NT; ++t) {
      WHALE_UNROLL for (int k = 0; k < 4; ++k) acc[t][k] = _mm512_setzero_ps();
    }
    int64_t j = 0;
    for (; (j + 2) * 32 <= a.cols; j += 2) {
      prefetch_line_pair(wr + 32 * j);
      const __m512i w0 = _mm512_loadu_si512(wr + 32 * j), w1 = _mm512_loadu_si512(wr + 32 * j + 32);
      const __m512 e0 = _mm512_castsi512_ps(_mm512_slli_epi32(w0, 16));
      const __m512 o0 = _mm512_castsi512_ps(_mm512_and_si512(w0, high));
      const __m512 e1 = _mm512_castsi512_ps(_mm512_slli_epi32(w1, 16));
      const __m512 o1 = _mm512_castsi512_ps(_mm512_and_si512(w1, high));
      WHALE_UNROLL for (int t = 0; t < NT; ++t) {
        const float* xt = x[t] + 32 * j;
        acc[t][0] = _mm512_fmadd_ps(e0, _mm512_loadu_ps(xt), acc[t][0]);
        acc[t][1] = _mm512_fmadd_ps(o0, _mm512_loadu_ps(xt + 16), acc[t][1]);
        acc[t][2] = _mm512_fmadd_ps(e1, _mm512_loadu_ps(xt + 32), acc[t][2]);
        acc[t][3] = _mm512_fmadd_ps(o1, _mm512_loadu_ps(xt + 48), acc[t][3]);
      }
    }
    for (; j < nchunks; ++j) {  // the last 32 columns or fewer (masked: the padding reads no weight)
      const int64_t left = a.cols - 32 * j;
      const __mmask32 m = left >= 32 ? 0xFFFFFFFFu : static_cast<__mmask32>((1ull << left) - 1);
      const __m512i w0 = _mm512_maskz_loadu_epi16(m, wr + 32 * j);
      const __m512 e0 = _mm512_castsi512_ps(_mm512_slli_epi32(w0, 16));
      const __m512 o0 = _mm512_castsi512_ps(_mm512_and_si512(w0, high));
      WHALE_UNROLL for (int t = 0; t < NT; ++t) {
        const float* xt = x[t] + 32 * j;
        acc[t][0] = _mm512_fmadd_ps(e0, _mm512_loadu_ps(xt), acc[t][0]);
        acc[t][1] = _mm512_fmadd_ps(o0, _mm512_loadu_ps(xt + 16), acc[t][1]);
      }
    }
    WHALE_UNROLL for (int t = 0; t < NT; ++t) {
      a.y[t * a.y_stride + i] =
          hsum(_mm512_add_ps(_mm512_add_ps(acc[t][0], acc[t][1]), _mm512_add_ps(acc[t][2], acc[t][3])));
    }
  }
}

// 64 fp8 bytes as two vectors of 32 bf16 in fp8_order.
struct Fp8Unpack {
  __m512i hi0, hi1, lo0, lo1;
  Fp8Unpack() {
    const Fp8Tables& t = fp8_tables();
    hi0 = _mm512_load_si512(t.hi), hi1 = _mm512_load_si512(t.hi + 64);
    lo0 = _mm512_load_si512(t.lo), lo1 = _mm512_load_si512(t.lo + 64);
  }
  void operator()(__m512i b, __m512bh* wa, __m512bh* wb) const {
    // Index bit 6 picks the second table; bit 7 (the sign) is ignored by vpermi2b.
    __m512i hi = _mm512_permutex2var_epi8(hi0, b, hi1);
    const __m512i lo = _mm512_permutex2var_epi8(lo0, b, lo1);
    hi = _mm512_ternarylogic_epi32(hi, b, _mm512_set1_epi8(static_cast<char>(0x80)), 0xF8);  // hi | (b & 0x80)
    *wa = reinterpret_cast<__m512bh>(_mm512_unpacklo_epi8(lo, hi));
    *wb = reinterpret_cast<__m512bh>(_mm512_unpackhi_epi8(lo, hi));
  }
};

// 32 prepared activations (columns in fp8_order) from word w of a token's row.
inline __m512bh xv(const uint16_t* xt, int64_t w) { return reinterpret_cast<__m512bh>(_mm512_loadu_si512(xt + w)); }

template <int NT>
void rows_fp8(const Args& a) {
  const Fp8Unpack unpack;
  const uint16_t* x[NT];
  WHALE_UNROLL for (int t = 0; t < NT; ++t) x[t] = reinterpret_cast<const uint16_t*>(a.x + t * a.x_stride);
  for (int64_t i = 0; i < a.rows; ++i) {
    const uint8_t* wr = a.w + i * a.row_bytes;
    const float* srow = a.scale_inv + ((a.row0 + i) / a.block) * a.scale_cols;
    __m512 tot[NT];
    WHALE_UNROLL for (int t = 0; t < NT; ++t) tot[t] = _mm512_setzero_ps();
    for (int64_t c0 = 0; c0 < a.cols; c0 += a.block) {
      const int64_t c1 = c0 + a.block < a.cols ? c0 + a.block : a.cols;
      __m512 acc[NT][4];
      WHALE_UNROLL for (int t = 0; t < NT; ++t) {
        WHALE_UNROLL for (int k = 0; k < 4; ++k) acc[t][k] = _mm512_setzero_ps();
      }
      int64_t c = c0;
      for (; c + 128 <= c1; c += 128) {
        prefetch_line_pair(wr + c);
        __m512bh w[4];
        unpack(_mm512_loadu_si512(wr + c), &w[0], &w[1]);
        unpack(_mm512_loadu_si512(wr + c + 64), &w[2], &w[3]);
        WHALE_UNROLL for (int t = 0; t < NT; ++t) {
          WHALE_UNROLL for (int k = 0; k < 4; ++k) acc[t][k] = _mm512_dpbf16_ps(acc[t][k], w[k], xv(x[t], c + 32 * k));
        }
      }
      for (; c < c1; c += 64) {  // 64 columns or fewer
        const int64_t left = c1 - c;
        const __mmask64 m = left >= 64 ? ~0ull : (1ull << left) - 1;
        __m512bh w[2];
        unpack(_mm512_maskz_loadu_epi8(m, wr + c), &w[0], &w[1]);
        WHALE_UNROLL for (int t = 0; t < NT; ++t) {
          acc[t][0] = _mm512_dpbf16_ps(acc[t][0], w[0], xv(x[t], c));
          acc[t][1] = _mm512_dpbf16_ps(acc[t][1], w[1], xv(x[t], c + 32));
        }
      }
      const __m512 s = _mm512_set1_ps(srow[c0 / a.block]);
      WHALE_UNROLL for (int t = 0; t < NT; ++t) {
        const __m512 sum = _mm512_add_ps(_mm512_add_ps(acc[t][0], acc[t][1]), _mm512_add_ps(acc[t][2], acc[t][3]));
        tot[t] = _mm512_fmadd_ps(sum, s, tot[t]);
      }
    }
    WHALE_UNROLL for (int t = 0; t < NT; ++t) a.y[t * a.y_stride + i] = hsum(tot[t]);
  }
}

}  // namespace

void prepare(core::DType dt, const float* x, int64_t cols, uint8_t* out) {
  if (dt == core::DType::kBF16) return prepare_for_bf16(x, cols, reinterpret_cast<float*>(out));
  prepare_for_fp8(x, cols, reinterpret_cast<uint16_t*>(out));
}

void matmul(const Args& a) {
  const bool bf16 = a.dtype == core::DType::kBF16;
  switch (a.nt) {
    case 1: return bf16 ? rows_bf16<1>(a) : rows_fp8<1>(a);
    case 2: return bf16 ? rows_bf16<2>(a) : rows_fp8<2>(a);
    case 3: return bf16 ? rows_bf16<3>(a) : rows_fp8<3>(a);
    default: return bf16 ? rows_bf16<4>(a) : rows_fp8<4>(a);
  }
}

}  // namespace whale::kernels::float_dot
#pragma GCC pop_options

#else
namespace whale::kernels::float_dot {
void prepare(core::DType, const float*, int64_t, uint8_t*) {}
void matmul(const Args&) {}
}  // namespace whale::kernels::float_dot
#endif
