// Packing (portable C++) and the AVX-512 VNNI kernel over the packed layout (see packed.h), which
// the avx512 level's kernel table lists as its matmul_packed.
#include "kernels/packed.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "core/error.h"
#include "core/quant.h"
#include "kernels/simd_kernels.h"

#if WHALE_SIMD_X86
#include <immintrin.h>
#endif

namespace whale::kernels::packed {
namespace {

void pack_group(core::DType dt, const uint8_t* w, int64_t row_bytes, int64_t nb, uint8_t* out) {
  const int64_t gb = group_block_bytes(dt);
  for (int64_t k = 0; k < nb; ++k, out += gb) {
    for (int64_t n = 0; n < kRows; ++n) {
      const uint8_t* row = w + n * row_bytes;
      if (dt == core::DType::kQ8_0) {
        const auto& b = reinterpret_cast<const core::BlockQ8_0*>(row)[k];
        std::memcpy(out + 2 * n, &b.d, 2);
        int16_t sum = 0;
        for (int j = 0; j < 32; ++j) sum = static_cast<int16_t>(sum + b.qs[j]);
        std::memcpy(out + 32 + 2 * n, &sum, 2);
        for (int r = 0; r < 8; ++r) std::memcpy(out + 64 + 64 * r + 4 * n, b.qs + 4 * r, 4);
      } else {
        const auto& b = reinterpret_cast<const core::BlockQ4_0*>(row)[k];
        std::memcpy(out + 2 * n, &b.d, 2);
        for (int c = 0; c < 4; ++c) std::memcpy(out + 32 + 64 * c + 4 * n, b.qs + 4 * c, 4);
      }
    }
  }
}

// Asks the kernel to reclaim [p, p + n)'s whole pages; harmless where it cannot.
void page_out(const void* p, int64_t n) {
#ifdef MADV_PAGEOUT
  const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t b = (reinterpret_cast<uintptr_t>(p) + page - 1) / page * page;
  const uintptr_t e = (reinterpret_cast<uintptr_t>(p) + static_cast<uintptr_t>(n)) / page * page;
  if (e > b) madvise(reinterpret_cast<void*>(b), e - b, MADV_PAGEOUT);
#else
  (void)p, (void)n;
#endif
}

}  // namespace

int64_t group_block_bytes(core::DType t) { return t == core::DType::kQ8_0 ? 576 : 288; }

bool packable(const WeightView& w) {
  const core::DType t = w.w.dtype();
  if (t != core::DType::kQ8_0 && t != core::DType::kQ4_0) return false;
  if (w.w.ndim() != 2 || w.rows() % kRows != 0 || w.cols() % 32 != 0) return false;
  if (const char* env = std::getenv("WHALE_PACK"); env != nullptr && std::strcmp(env, "0") == 0) return false;
  return static_cast<bool>(simd::table_for(max_simd_level()).matmul_packed);
}

int64_t packed_bytes(const WeightView& w) { return w.rows() / kRows * (w.cols() / 32) * group_block_bytes(w.w.dtype()); }

core::Tensor huge_page_buffer(int64_t bytes) {
  constexpr size_t kHuge = size_t{2} << 20;
  const size_t n = (static_cast<size_t>(bytes) + kHuge - 1) / kHuge * kHuge;
  void* p = std::aligned_alloc(kHuge, n == 0 ? kHuge : n);
  if (p == nullptr) fail(ErrorKind::kIo, "out of memory allocating ", bytes, " bytes of packed weights");
#ifdef MADV_HUGEPAGE
  madvise(p, n == 0 ? kHuge : n, MADV_HUGEPAGE);
#endif
  std::shared_ptr<const void> owner(p, [](const void* q) { std::free(const_cast<void*>(q)); });
  return core::Tensor(core::DType::kU8, core::Shape{bytes}, p, std::move(owner));
}

core::Tensor pack_into(const WeightView& w, const core::Tensor& buffer, int64_t offset) {
  const core::DType dt = w.w.dtype();
  const int64_t groups = w.rows() / kRows, nb = w.cols() / 32, gb = group_block_bytes(dt);
  const int64_t row_bytes = core::dtype_bytes(dt, w.cols());
  if (offset < 0 || offset + packed_bytes(w) > buffer.numel()) {
    fail(ErrorKind::kInternal, "packed weights: ", packed_bytes(w), " bytes at ", offset, " overflow a ",
         buffer.numel(), "-byte buffer");
  }
  auto* dst = static_cast<uint8_t*>(buffer.raw()) + offset;
  const auto* src = static_cast<const uint8_t*>(w.w.raw());
  for (int64_t g = 0; g < groups; ++g) pack_group(dt, src + g * kRows * row_bytes, row_bytes, nb, dst + g * nb * gb);
  page_out(src, w.rows() * row_bytes);
  return core::Tensor(core::DType::kU8, core::Shape{groups, nb, gb}, dst, buffer.owner());
}

core::Tensor pack(const WeightView& w) { return pack_into(w, huge_page_buffer(packed_bytes(w)), 0); }

#if WHALE_SIMD_X86
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")
// GCC 12 flags the deliberately undefined pass-through operand inside its own AVX-512 intrinsics.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
namespace {

inline __m512i bcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

// One group of 16 rows for NT tokens: acc_t += (d_w · d_x) · dot_k for each block k, where dot_k
// is the exact int32 product (the same numbers and f32 operations as amx.cpp's tiles).
template <int NT>
void group_q4_0(const uint8_t* g, int64_t nb, const ActBlock* const* x, float* const* y) {
  __m512 acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  for (int64_t k = 0; k < nb; ++k) {
    const uint8_t* p = g + k * 288;
    // The block ~1 KiB ahead (all 5 of its lines): measured best among 1-8 KiB on the dev machine.
    for (int l = 0; l < 5; ++l) _mm_prefetch(reinterpret_cast<const char*>(p) + 1024 + 64 * l, _MM_HINT_T0);
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    __m512i dot[NT];
    for (int t = 0; t < NT; ++t) dot[t] = _mm512_setzero_si512();
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) {
      const __m512i v = _mm512_loadu_si512(p + 32 + 64 * c);
      const __m512i lo = _mm512_and_si512(v, m4), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
      for (int t = 0; t < NT; ++t) {
        dot[t] = _mm512_dpbusd_epi32(dot[t], lo, bcast4(x[t][k].qs + 4 * c));
        dot[t] = _mm512_dpbusd_epi32(dot[t], hi, bcast4(x[t][k].qs + 16 + 4 * c));
      }
    }
    for (int t = 0; t < NT; ++t) {
      const __m512i exact = _mm512_sub_epi32(dot[t], _mm512_set1_epi32(8 * x[t][k].sum));  // Σ (u - 8) x
      const __m512 s = _mm512_mul_ps(dw, _mm512_set1_ps(x[t][k].d));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(exact), s, acc[t]);
    }
  }
  for (int t = 0; t < NT; ++t) _mm512_storeu_ps(y[t], acc[t]);
}

// q8_0: vpdpbusd wants one unsigned operand, so the activation bytes go in as x + 128 (xor 0x80)
// and 128 · Σw (the packed row sums) comes off the int32 result: Σ x w exactly.
template <int NT>
void group_q8_0(const uint8_t* g, int64_t nb, const ActBlock* const* x, float* const* y) {
  __m512 acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  for (int64_t k = 0; k < nb; ++k) {
    const uint8_t* p = g + k * 576;
    for (int l = 0; l < 9; ++l) _mm_prefetch(reinterpret_cast<const char*>(p) + 3072 + 64 * l, _MM_HINT_T0);
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    const __m512i wsum128 =
        _mm512_slli_epi32(_mm512_cvtepi16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32))), 7);
    __m512i dot[NT];
    for (int t = 0; t < NT; ++t) dot[t] = _mm512_setzero_si512();
#pragma GCC unroll 8
    for (int r = 0; r < 8; ++r) {
      const __m512i wv = _mm512_loadu_si512(p + 64 + 64 * r);
      for (int t = 0; t < NT; ++t) dot[t] = _mm512_dpbusd_epi32(dot[t], _mm512_xor_si512(bcast4(x[t][k].qs + 4 * r), flip), wv);
    }
    for (int t = 0; t < NT; ++t) {
      const __m512i exact = _mm512_sub_epi32(dot[t], wsum128);
      const __m512 s = _mm512_mul_ps(dw, _mm512_set1_ps(x[t][k].d));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(exact), s, acc[t]);
    }
  }
  for (int t = 0; t < NT; ++t) _mm512_storeu_ps(y[t], acc[t]);
}

template <int NT>
void groups_nt(core::DType dt, const uint8_t* packed, int64_t nb, int64_t g0, int64_t g1, const ActBlock* x,
               int64_t x_stride, float* y, int64_t y_stride) {
  const int64_t gb = group_block_bytes(dt);
  const ActBlock* xs[NT];
  for (int t = 0; t < NT; ++t) xs[t] = x + t * x_stride;
  for (int64_t g = g0; g < g1; ++g) {
    float* ys[NT];
    for (int t = 0; t < NT; ++t) ys[t] = y + t * y_stride + g * kRows;
    if (dt == core::DType::kQ8_0) {
      group_q8_0<NT>(packed + g * nb * gb, nb, xs, ys);
    } else {
      group_q4_0<NT>(packed + g * nb * gb, nb, xs, ys);
    }
  }
}

}  // namespace

void matmul_vnni(core::DType dt, const uint8_t* packed, int64_t nb, int64_t g0, int64_t g1, const ActBlock* x,
                 int64_t x_stride, int64_t T, float* y, int64_t y_stride) {
  for (int64_t t = 0; t < T; t += 4) {
    const ActBlock* xt = x + t * x_stride;
    float* yt = y + t * y_stride;
    switch (std::min<int64_t>(4, T - t)) {
      case 1: groups_nt<1>(dt, packed, nb, g0, g1, xt, x_stride, yt, y_stride); break;
      case 2: groups_nt<2>(dt, packed, nb, g0, g1, xt, x_stride, yt, y_stride); break;
      case 3: groups_nt<3>(dt, packed, nb, g0, g1, xt, x_stride, yt, y_stride); break;
      default: groups_nt<4>(dt, packed, nb, g0, g1, xt, x_stride, yt, y_stride); break;
    }
  }
}

#pragma GCC pop_options
#endif

}  // namespace whale::kernels::packed
