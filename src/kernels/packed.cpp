// Packing (portable C++) and the AVX-512 VNNI kernel over the packed layout (see packed.h), which
// the avx512 level's kernel table lists as its matmul_packed.
#include "kernels/packed.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "core/quant.h"
#include "core/quant_k.h"
#include "core/quant_legacy.h"
#include "kernels/simd_kernels.h"

#if WHALE_SIMD_X86
#include <immintrin.h>
#endif

namespace whale::kernels::packed {
namespace {

// The 6-bit values (0..63) of one q6_k super-block in element order.
void q6_k_values(const core::BlockQ6_K& b, uint8_t* u) {
  for (int h = 0; h < 2; ++h) {
    const uint8_t* ql = b.ql + 64 * h;
    const uint8_t* qh = b.qh + 32 * h;
    uint8_t* o = u + 128 * h;
    for (int l = 0; l < 32; ++l) {
      o[l] = static_cast<uint8_t>((ql[l] & 0xF) | ((qh[l] & 3) << 4));
      o[l + 32] = static_cast<uint8_t>((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4));
      o[l + 64] = static_cast<uint8_t>((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
      o[l + 96] = static_cast<uint8_t>((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
    }
  }
}

// Row n's header and nibbles of a q4_k or q5_k super-block (the same fields) in q4_k's layout.
template <class Block>
void pack_q4_k_part(const Block& b, int64_t n, uint8_t* out) {
  std::memcpy(out + 2 * n, &b.d, 2);
  std::memcpy(out + 32 + 2 * n, &b.dmin, 2);
  for (int j = 0; j < 8; ++j) core::q4_k_scale_min(j, b.scales, out + 64 + 16 * j + n, out + 192 + 16 * j + n);
  for (int p = 0; p < 4; ++p) {
    for (int c = 0; c < 8; ++c) std::memcpy(out + 320 + 512 * p + 64 * c + 4 * n, b.qs + 32 * p + 4 * c, 4);
  }
}

// One super-block (256 columns) of 16 rows in the q4_k / q5_k / q6_k layouts of packed.h.
void pack_superblock(core::DType dt, const uint8_t* w, int64_t row_bytes, int64_t bk, uint8_t* out) {
  std::memset(out, 0, static_cast<size_t>(8 * group_block_bytes(dt)));
  for (int64_t n = 0; n < kRows; ++n) {
    const uint8_t* row = w + n * row_bytes;
    if (dt == core::DType::kIQ4_XS) {
      // Sub-block s (an iq4_nl block of 32) as q4_0's four nibble lines at 192 + 256s.
      const auto& b = reinterpret_cast<const core::BlockIQ4_XS*>(row)[bk];
      std::memcpy(out + 2 * n, &b.d, 2);
      for (int sb = 0; sb < 8; ++sb) {
        out[64 + 16 * sb + n] = static_cast<uint8_t>(core::iq4_xs_scale(b, sb));
        for (int c = 0; c < 4; ++c) std::memcpy(out + 192 + 256 * sb + 64 * c + 4 * n, b.qs + 16 * sb + 4 * c, 4);
      }
    } else if (dt == core::DType::kQ2_K || dt == core::DType::kQ3_K) {
      // The 2-bit values: byte 4n + j of line 8Q + c is row n's stored qs[32Q + 4c + j] (bits 2i:
      // element 32(4Q + i) + 4c + j). q3_k's third bits: byte 4n + j of line c is its hmask[4c + j].
      const bool q2 = dt == core::DType::kQ2_K;
      const uint8_t* qs;
      if (q2) {
        const auto& b = reinterpret_cast<const core::BlockQ2_K*>(row)[bk];
        std::memcpy(out + 2 * n, &b.d, 2);
        std::memcpy(out + 32 + 2 * n, &b.dmin, 2);
        for (int sb = 0; sb < 16; ++sb) out[64 + 16 * sb + n] = b.scales[sb];
        qs = b.qs;
      } else {
        const auto& b = reinterpret_cast<const core::BlockQ3_K*>(row)[bk];
        std::memcpy(out + 2 * n, &b.d, 2);
        for (int sb = 0; sb < 16; ++sb) out[64 + 16 * sb + n] = static_cast<uint8_t>(core::q3_k_scale(sb, b.scales));
        for (int c = 0; c < 8; ++c) std::memcpy(out + 1344 + 64 * c + 4 * n, b.hmask + 4 * c, 4);
        qs = b.qs;
      }
      for (int line = 0; line < 16; ++line) std::memcpy(out + 320 + 64 * line + 4 * n, qs + 32 * (line / 8) + 4 * (line % 8), 4);
    } else if (dt == core::DType::kQ5_K) {
      // q4_k's layout, then the high bits: bit s of qh[l] is sub-block s's element l, so byte
      // 4n + j of line c is row n's qh[4c + j] as stored.
      const auto& b = reinterpret_cast<const core::BlockQ5_K*>(row)[bk];
      pack_q4_k_part(b, n, out);
      for (int c = 0; c < 8; ++c) std::memcpy(out + 2368 + 64 * c + 4 * n, b.qh + 4 * c, 4);
    } else if (dt == core::DType::kQ4_K) {
      pack_q4_k_part(reinterpret_cast<const core::BlockQ4_K*>(row)[bk], n, out);
    } else {
      const auto& b = reinterpret_cast<const core::BlockQ6_K*>(row)[bk];
      std::memcpy(out + 2 * n, &b.d, 2);
      for (int s = 0; s < 16; ++s) std::memcpy(out + 64 + 16 * s + n, &b.scales[s], 1);
      uint8_t u[256];
      q6_k_values(b, u);
      for (int e = 0; e < 256; ++e) {
        const int blk = e / 32, c = e % 32 / 4, j = e % 4;
        out[320 + 512 * (blk / 2) + 64 * c + 4 * n + j] |= static_cast<uint8_t>((u[e] & 15) << (4 * (blk % 2)));
        out[2368 + 512 * (blk / 4) + 64 * c + 4 * n + j] |= static_cast<uint8_t>((u[e] >> 4) << (2 * (blk % 4)));
      }
    }
  }
}

// Row n's block of a 32-element type with q4_0's nibbles (q4_1, q5_0, q5_1, iq4_nl): scale, min
// (q4_1/q5_1), the nibble lines and (q5_0/q5_1) the fifth-bit line of packed.h's layout.
template <class Block>
void pack_legacy(const Block& b, int64_t n, uint8_t* out) {
  constexpr bool kMin = requires { b.m; };
  constexpr bool kHigh = requires { b.qh; };
  std::memcpy(out + 2 * n, &b.d, 2);
  if constexpr (kMin) std::memcpy(out + 32 + 2 * n, &b.m, 2);
  uint8_t* nib = out + (kMin ? 64 : 32);
  for (int c = 0; c < 4; ++c) std::memcpy(nib + 64 * c + 4 * n, b.qs + 4 * c, 4);
  if constexpr (kHigh) {
    const uint32_t qh = core::q5_high_bits(b.qh);
    for (int c = 0; c < 4; ++c) {
      for (int j = 0; j < 4; ++j) {
        nib[256 + 4 * n + j] |= static_cast<uint8_t>(((qh >> (4 * c + j)) & 1) << c);
        nib[256 + 4 * n + j] |= static_cast<uint8_t>(((qh >> (16 + 4 * c + j)) & 1) << (4 + c));
      }
    }
  }
}

void pack_group(core::DType dt, const uint8_t* w, int64_t row_bytes, int64_t nb, uint8_t* out) {
  const int64_t gb = group_block_bytes(dt);
  if (group_block_bytes_per_superblock(dt)) {
    for (int64_t bk = 0; bk < nb / 8; ++bk) pack_superblock(dt, w, row_bytes, bk, out + 8 * gb * bk);
    return;
  }
  if (dt != core::DType::kQ8_0 && dt != core::DType::kQ4_0) {
    std::memset(out, 0, static_cast<size_t>(nb * gb));
    for (int64_t k = 0; k < nb; ++k, out += gb) {
      for (int64_t n = 0; n < kRows; ++n) {
        const uint8_t* row = w + n * row_bytes;
        switch (dt) {
          case core::DType::kQ4_1: pack_legacy(reinterpret_cast<const core::BlockQ4_1*>(row)[k], n, out); break;
          case core::DType::kQ5_0: pack_legacy(reinterpret_cast<const core::BlockQ5_0*>(row)[k], n, out); break;
          case core::DType::kQ5_1: pack_legacy(reinterpret_cast<const core::BlockQ5_1*>(row)[k], n, out); break;
          default: pack_legacy(reinterpret_cast<const core::BlockIQ4_NL*>(row)[k], n, out); break;
        }
      }
    }
    return;
  }
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

}  // namespace

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

bool packable(const WeightView& w) {
  const core::DType t = w.w.dtype();
  if (group_block_bytes(t) == 0) return false;
  const int64_t block_cols = group_block_bytes_per_superblock(t) ? 256 : 32;
  if (w.w.ndim() != 2 || w.rows() % kRows != 0 || w.cols() % block_cols != 0) return false;
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

void half_block_sums(const ActBlock* x, int64_t x_stride, int64_t T, int64_t nb, std::vector<int32_t>& out) {
  if (out.size() < static_cast<size_t>(T * nb)) out.resize(static_cast<size_t>(T * nb));
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t k = 0; k < nb; ++k) {
      int32_t s = 0;
      for (int j = 0; j < 16; ++j) s += x[t * x_stride + k].qs[j];
      out[static_cast<size_t>(t * nb + k)] = s;
    }
  }
}

#if WHALE_SIMD_X86
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")
// GCC 12 flags the deliberately undefined pass-through operand inside its own AVX-512 intrinsics.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
namespace {

// 16 scale bytes (unsigned / signed) as f32.
inline __m512 u8_f32(const uint8_t* p) {
  return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
}
inline __m512 i8_f32(const uint8_t* p) {
  return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
}

// Every loop over a kernel's tokens is unrolled, so its per-token vectors stay in registers.
#define WHALE_TOKENS _Pragma("GCC unroll 8")

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
  WHALE_TOKENS for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  for (int64_t k = 0; k < nb; ++k) {
    const uint8_t* p = g + k * 288;
    // The block ~1 KiB ahead (all 5 of its lines): measured best among 1-8 KiB on the dev machine.
    for (int l = 0; l < 5; ++l) _mm_prefetch(reinterpret_cast<const char*>(p) + 1024 + 64 * l, _MM_HINT_T0);
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    __m512i dot[NT];
    WHALE_TOKENS for (int t = 0; t < NT; ++t) dot[t] = _mm512_setzero_si512();
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) {
      const __m512i v = _mm512_loadu_si512(p + 32 + 64 * c);
      const __m512i lo = _mm512_and_si512(v, m4), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
      WHALE_TOKENS for (int t = 0; t < NT; ++t) {
        dot[t] = _mm512_dpbusd_epi32(dot[t], lo, bcast4(x[t][k].qs + 4 * c));
        dot[t] = _mm512_dpbusd_epi32(dot[t], hi, bcast4(x[t][k].qs + 16 + 4 * c));
      }
    }
    WHALE_TOKENS for (int t = 0; t < NT; ++t) {
      const __m512i exact = _mm512_sub_epi32(dot[t], _mm512_set1_epi32(8 * x[t][k].sum));  // Σ (u - 8) x
      const __m512 s = _mm512_mul_ps(dw, _mm512_set1_ps(x[t][k].d));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(exact), s, acc[t]);
    }
  }
  WHALE_TOKENS for (int t = 0; t < NT; ++t) _mm512_storeu_ps(y[t], acc[t]);
}

// The other 32-element types on q4_0's nibble lines (q4_1, q5_0, q5_1, iq4_nl): each weight as an
// unsigned byte u (the nibble; q5_0/q5_1 with the fifth bit as 16; iq4_nl's level + 128 by table)
// and the block's exact int32 dot: q5_0 Σ (u - 16) x, iq4_nl Σ (u - 128) x, then acc += dot ·
// (d_w · d_x); q4_1/q5_1 (value = d u + m): acc += Σ u x · (d_w · d_x), then acc += m · (d_x · Σx).
template <int NT, core::DType DT>
void group_legacy(const uint8_t* g, int64_t nb, const ActBlock* const* x, float* const* y) {
  constexpr bool kMin = DT == core::DType::kQ4_1 || DT == core::DType::kQ5_1;
  constexpr bool kHigh = DT == core::DType::kQ5_0 || DT == core::DType::kQ5_1;
  constexpr int64_t kNib = kMin ? 64 : 32, kGb = kNib + 256 + (kHigh ? 64 : 0);
  constexpr int32_t kOffset = DT == core::DType::kQ5_0 ? 16 : DT == core::DType::kIQ4_NL ? 128 : 0;
  __m512 acc[NT];
  WHALE_TOKENS for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
  const __m512i m4 = _mm512_set1_epi8(0x0F), b4 = _mm512_set1_epi8(0x10);
  const __m512i table = _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i*>(kIQ4NLUnsigned.v)));
  for (int64_t k = 0; k < nb; ++k) {
    const uint8_t* p = g + k * kGb;
    for (int l = 0; l < (kGb + 63) / 64; ++l)
      _mm_prefetch(reinterpret_cast<const char*>(p) + 1024 + 64 * l, _MM_HINT_T0);
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    // Byte 4n + j of the fifth-bit line: bit c is line c's low-nibble element, bit 4 + c its high one.
    [[maybe_unused]] __m512i hc = kHigh ? _mm512_loadu_si512(p + kNib + 256) : _mm512_setzero_si512();
    __m512i dot[NT];
    WHALE_TOKENS for (int t = 0; t < NT; ++t) dot[t] = _mm512_setzero_si512();
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) {
      const __m512i v = _mm512_loadu_si512(p + kNib + 64 * c);
      __m512i lo = _mm512_and_si512(v, m4), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
      if constexpr (kHigh) {
        lo = _mm512_or_si512(lo, _mm512_and_si512(_mm512_slli_epi16(hc, 4), b4));
        hi = _mm512_or_si512(hi, _mm512_and_si512(hc, b4));
        hc = _mm512_srli_epi16(hc, 1);
      }
      if constexpr (DT == core::DType::kIQ4_NL) {
        lo = _mm512_shuffle_epi8(table, lo);
        hi = _mm512_shuffle_epi8(table, hi);
      }
      WHALE_TOKENS for (int t = 0; t < NT; ++t) {
        dot[t] = _mm512_dpbusd_epi32(dot[t], lo, bcast4(x[t][k].qs + 4 * c));
        dot[t] = _mm512_dpbusd_epi32(dot[t], hi, bcast4(x[t][k].qs + 16 + 4 * c));
      }
    }
    [[maybe_unused]] const __m512 dm =
        kMin ? _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32))) : _mm512_setzero_ps();
    WHALE_TOKENS for (int t = 0; t < NT; ++t) {
      const __m512i exact = kOffset != 0 ? _mm512_sub_epi32(dot[t], _mm512_set1_epi32(kOffset * x[t][k].sum)) : dot[t];
      const __m512 s = _mm512_mul_ps(dw, _mm512_set1_ps(x[t][k].d));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(exact), s, acc[t]);
      if constexpr (kMin)
        acc[t] = _mm512_fmadd_ps(dm, _mm512_set1_ps(x[t][k].d * static_cast<float>(x[t][k].sum)), acc[t]);
    }
  }
  WHALE_TOKENS for (int t = 0; t < NT; ++t) _mm512_storeu_ps(y[t], acc[t]);
}

// q8_0: vpdpbusd wants one unsigned operand, so the activation bytes go in as x + 128 (xor 0x80)
// and 128 · Σw (the packed row sums) comes off the int32 result: Σ x w exactly.
template <int NT>
void group_q8_0(const uint8_t* g, int64_t nb, const ActBlock* const* x, float* const* y) {
  __m512 acc[NT];
  WHALE_TOKENS for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  for (int64_t k = 0; k < nb; ++k) {
    const uint8_t* p = g + k * 576;
    for (int l = 0; l < 9; ++l) _mm_prefetch(reinterpret_cast<const char*>(p) + 3072 + 64 * l, _MM_HINT_T0);
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    const __m512i wsum128 =
        _mm512_slli_epi32(_mm512_cvtepi16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32))), 7);
    __m512i dot[NT];
    WHALE_TOKENS for (int t = 0; t < NT; ++t) dot[t] = _mm512_setzero_si512();
#pragma GCC unroll 8
    for (int r = 0; r < 8; ++r) {
      const __m512i wv = _mm512_loadu_si512(p + 64 + 64 * r);
      WHALE_TOKENS for (int t = 0; t < NT; ++t) {
        dot[t] = _mm512_dpbusd_epi32(dot[t], _mm512_xor_si512(bcast4(x[t][k].qs + 4 * r), flip), wv);
      }
    }
    WHALE_TOKENS for (int t = 0; t < NT; ++t) {
      const __m512i exact = _mm512_sub_epi32(dot[t], wsum128);
      const __m512 s = _mm512_mul_ps(dw, _mm512_set1_ps(x[t][k].d));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(exact), s, acc[t]);
    }
  }
  WHALE_TOKENS for (int t = 0; t < NT; ++t) _mm512_storeu_ps(y[t], acc[t]);
}

// q4_k, per super-block of 16 rows (2368 bytes) and sub-block s (one ActBlock): the exact int32
// dot of the unsigned nibbles q with x, then acc += dot · (d·sc_s · d_x) and acc -= (dmin·m_s) ·
// (d_x · Σx), in sub-block order (amx.cpp's tile_k does the same operations).
// q5_k (kQ5): the same with the fifth bit of sub-block s (bit s of the high-bit line) OR-ed in
// as 16, so q is unsigned 0..31.
template <int NT, bool kQ5 = false>
void group_q4_k(const uint8_t* g, int64_t nb, const ActBlock* const* x, float* const* y) {
  constexpr int64_t kSuper = kQ5 ? 2880 : 2368;
  __m512 acc[NT];
  WHALE_TOKENS for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
  const __m512i m4 = _mm512_set1_epi8(0x0F), m1 = _mm512_set1_epi8(1), m2 = _mm512_set1_epi8(2);
  for (int64_t bk = 0; bk < nb / 8; ++bk) {
    const uint8_t* p = g + bk * kSuper;
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    const __m512 dm = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32)));
#pragma GCC unroll 1
    for (int q = 0; q < 4; ++q) {
      // The next super-block's lines, spread over its four pairs.
      const char* next = reinterpret_cast<const char*>(p) + kSuper + (kQ5 ? 768 : 640) * q;
      for (int l = 0; l < (kQ5 ? 12 : 10); ++l) _mm_prefetch(next + 64 * l, _MM_HINT_T0);
      [[maybe_unused]] const __m128i hshift = _mm_cvtsi32_si128(2 * q);  // sub-blocks 2q and 2q + 1: bits 2q, 2q + 1
      const ActBlock* xs[NT][2];
      __m512i dot[NT][2];
      WHALE_TOKENS for (int t = 0; t < NT; ++t) {
        xs[t][0] = &x[t][8 * bk + 2 * q], xs[t][1] = &x[t][8 * bk + 2 * q + 1];
        dot[t][0] = dot[t][1] = _mm512_setzero_si512();
      }
#pragma GCC unroll 8
      for (int c = 0; c < 8; ++c) {
        const __m512i v = _mm512_loadu_si512(p + 320 + 512 * q + 64 * c);
        __m512i lo = _mm512_and_si512(v, m4), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
        if constexpr (kQ5) {
          const __m512i h = _mm512_srl_epi16(_mm512_loadu_si512(p + 2368 + 64 * c), hshift);
          lo = _mm512_or_si512(lo, _mm512_slli_epi16(_mm512_and_si512(h, m1), 4));
          hi = _mm512_or_si512(hi, _mm512_slli_epi16(_mm512_and_si512(h, m2), 3));
        }
        WHALE_TOKENS for (int t = 0; t < NT; ++t) {
          dot[t][0] = _mm512_dpbusd_epi32(dot[t][0], lo, bcast4(xs[t][0]->qs + 4 * c));
          dot[t][1] = _mm512_dpbusd_epi32(dot[t][1], hi, bcast4(xs[t][1]->qs + 4 * c));
        }
      }
      for (int h = 0; h < 2; ++h) {
        const int sb = 2 * q + h;
        const __m512 ds = _mm512_mul_ps(dw, u8_f32(p + 64 + 16 * sb));
        const __m512 dmn = _mm512_mul_ps(dm, u8_f32(p + 192 + 16 * sb));
        WHALE_TOKENS for (int t = 0; t < NT; ++t) {
          const ActBlock& xb = *xs[t][h];
          acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot[t][h]), _mm512_mul_ps(ds, _mm512_set1_ps(xb.d)), acc[t]);
          acc[t] = _mm512_fnmadd_ps(dmn, _mm512_set1_ps(xb.d * static_cast<float>(xb.sum)), acc[t]);
        }
      }
    }
  }
  WHALE_TOKENS for (int t = 0; t < NT; ++t) _mm512_storeu_ps(y[t], acc[t]);
}

// q6_k, per super-block (3392 bytes) and pair of ActBlocks: the unsigned 6-bit values u (nibble
// line | two bits of the high-bit line) against x; each ActBlock's two halves of 16 have their own
// scale, so each half gets its own exact dot Σ (u - 32) x = dot(u, x) - 32 Σx_half (hs: the first
// half's activation sums), then acc += dot · (d·sc_half · d_x), halves in element order.
template <int NT>
void group_q6_k(const uint8_t* g, int64_t nb, const ActBlock* const* x, const int32_t* const* hs, float* const* y) {
  __m512 acc[NT];
  WHALE_TOKENS for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
  const __m512i m4 = _mm512_set1_epi8(0x0F), m2 = _mm512_set1_epi8(3);
  for (int64_t bk = 0; bk < nb / 8; ++bk) {
    const uint8_t* p = g + bk * 3392;
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
#pragma GCC unroll 1
    for (int q = 0; q < 4; ++q) {
      const char* next = reinterpret_cast<const char*>(p) + 3392 + 896 * q;
      for (int l = 0; l < 14; ++l) _mm_prefetch(next + 64 * l, _MM_HINT_T0);
      const ActBlock* xs[NT][2];
      __m512i dot[NT][2][2];
      WHALE_TOKENS for (int t = 0; t < NT; ++t) {
        for (int i = 0; i < 2; ++i) {
          const int64_t k = 8 * bk + 2 * q + i;
          xs[t][i] = &x[t][k];
          dot[t][i][0] = _mm512_set1_epi32(-32 * hs[t][k]);
          dot[t][i][1] = _mm512_set1_epi32(-32 * (x[t][k].sum - hs[t][k]));
        }
      }
      const int shift = 4 * (q & 1);
#pragma GCC unroll 8
      for (int c = 0; c < 8; ++c) {
        const __m512i v = _mm512_loadu_si512(p + 320 + 512 * q + 64 * c);
        const __m512i hb = _mm512_srli_epi16(_mm512_loadu_si512(p + 2368 + 512 * (q / 2) + 64 * c), shift);
        const __m512i w0 = _mm512_or_si512(_mm512_and_si512(v, m4), _mm512_slli_epi16(_mm512_and_si512(hb, m2), 4));
        const __m512i w1 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(v, 4), m4),
                                           _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(hb, 2), m2), 4));
        const int half = c / 4;
        WHALE_TOKENS for (int t = 0; t < NT; ++t) {
          dot[t][0][half] = _mm512_dpbusd_epi32(dot[t][0][half], w0, bcast4(xs[t][0]->qs + 4 * c));
          dot[t][1][half] = _mm512_dpbusd_epi32(dot[t][1][half], w1, bcast4(xs[t][1]->qs + 4 * c));
        }
      }
      for (int i = 0; i < 2; ++i) {
        for (int half = 0; half < 2; ++half) {
          const int sb = 4 * q + 2 * i + half;
          const __m512 ds = _mm512_mul_ps(dw, i8_f32(p + 64 + 16 * sb));
          WHALE_TOKENS for (int t = 0; t < NT; ++t) {
            const __m512 s = _mm512_mul_ps(ds, _mm512_set1_ps(xs[t][i]->d));
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot[t][i][half]), s, acc[t]);
          }
        }
      }
    }
  }
  WHALE_TOKENS for (int t = 0; t < NT; ++t) _mm512_storeu_ps(y[t], acc[t]);
}

// iq4_xs, per super-block (2240 bytes) and sub-block s (one ActBlock): iq4_nl's exact dot Σ (u - 128) x
// (u = level + 128 by vpshufb), then acc += dot · ((d·sc_s) · d_x), sub-blocks in order.
template <int NT>
void group_iq4_xs(const uint8_t* g, int64_t nb, const ActBlock* const* x, float* const* y) {
  __m512 acc[NT];
  WHALE_TOKENS for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  const __m512i table = _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i*>(kIQ4NLUnsigned.v)));
  for (int64_t bk = 0; bk < nb / 8; ++bk) {
    const uint8_t* p = g + bk * 2240;
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
#pragma GCC unroll 1
    for (int sb = 0; sb < 8; ++sb) {
      const char* next = reinterpret_cast<const char*>(p) + 2240 + 280 * sb;
      for (int l = 0; l < 5; ++l) _mm_prefetch(next + 64 * l, _MM_HINT_T0);
      const int64_t k = 8 * bk + sb;
      __m512i dot[NT];
      WHALE_TOKENS for (int t = 0; t < NT; ++t) dot[t] = _mm512_setzero_si512();
#pragma GCC unroll 4
      for (int c = 0; c < 4; ++c) {
        const __m512i v = _mm512_loadu_si512(p + 192 + 256 * sb + 64 * c);
        const __m512i lo = _mm512_shuffle_epi8(table, _mm512_and_si512(v, m4));
        const __m512i hi = _mm512_shuffle_epi8(table, _mm512_and_si512(_mm512_srli_epi16(v, 4), m4));
        WHALE_TOKENS for (int t = 0; t < NT; ++t) {
          dot[t] = _mm512_dpbusd_epi32(dot[t], lo, bcast4(x[t][k].qs + 4 * c));
          dot[t] = _mm512_dpbusd_epi32(dot[t], hi, bcast4(x[t][k].qs + 16 + 4 * c));
        }
      }
      const __m512 ds = _mm512_mul_ps(dw, i8_f32(p + 64 + 16 * sb));
      WHALE_TOKENS for (int t = 0; t < NT; ++t) {
        const __m512i exact = _mm512_sub_epi32(dot[t], _mm512_set1_epi32(128 * x[t][k].sum));
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(exact), _mm512_mul_ps(ds, _mm512_set1_ps(x[t][k].d)), acc[t]);
      }
    }
  }
  WHALE_TOKENS for (int t = 0; t < NT; ++t) _mm512_storeu_ps(y[t], acc[t]);
}

// The activation sum of half hh (elements 16hh..16hh+15) of block k: hs holds the first halves.
inline int32_t half_sum(const ActBlock& b, const int32_t* hs, int64_t k, int hh) { return hh == 0 ? hs[k] : b.sum - hs[k]; }

// q2_k and q3_k (kQ3), per super-block (1344 / 1856 bytes), quarter Q (ActBlocks 4Q..4Q+3) and half
// hh (their words 4hh..4hh+3): the unsigned values u (q2_k 0..3; q3_k 0..7, the third bit as 4) of
// sub-blocks 2(4Q + i) + hh, i < 4, against x, each an exact int32 dot (q3_k's started at -4·Σx_half:
// Σ (u - 4) x); then for i in order acc += dot · (d·sc · d_x), and for q2_k acc -= (dmin·m) · (d_x·Σx_half).
template <int NT, bool kQ3>
void group_q2_k(const uint8_t* g, int64_t nb, const ActBlock* const* x, const int32_t* const* hs, float* const* y) {
  constexpr int64_t kSuper = kQ3 ? 1856 : 1344;
  __m512 acc[NT];
  WHALE_TOKENS for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
  const __m512i m3 = _mm512_set1_epi8(3), m4 = _mm512_set1_epi8(4);
  const __m128i lo4 = _mm_set1_epi8(0x0F);
  for (int64_t bk = 0; bk < nb / 8; ++bk) {
    const uint8_t* p = g + bk * kSuper;
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    [[maybe_unused]] const __m512 dm =
        kQ3 ? _mm512_setzero_ps() : _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32)));
#pragma GCC unroll 1
    for (int Q = 0; Q < 2; ++Q) {
      const char* next = reinterpret_cast<const char*>(p) + kSuper + kSuper / 2 * Q;
      for (int l = 0; l < (kSuper / 2 + 63) / 64; ++l) _mm_prefetch(next + 64 * l, _MM_HINT_T0);
      [[maybe_unused]] const __m128i hshift = _mm_cvtsi32_si128(4 * Q);
#pragma GCC unroll 2
      for (int hh = 0; hh < 2; ++hh) {
        __m512i dot[NT][4];
        WHALE_TOKENS for (int t = 0; t < NT; ++t) {
          for (int i = 0; i < 4; ++i) {
            const int64_t k = 8 * bk + 4 * Q + i;
            dot[t][i] = kQ3 ? _mm512_set1_epi32(-4 * half_sum(x[t][k], hs[t], k, hh)) : _mm512_setzero_si512();
          }
        }
#pragma GCC unroll 4
        for (int c = 4 * hh; c < 4 * hh + 4; ++c) {
          const __m512i v = _mm512_loadu_si512(p + 320 + 64 * (8 * Q + c));
          [[maybe_unused]] const __m512i hb =
              kQ3 ? _mm512_srl_epi16(_mm512_loadu_si512(p + 1344 + 64 * c), hshift) : _mm512_setzero_si512();
#pragma GCC unroll 4
          for (int i = 0; i < 4; ++i) {
            __m512i w = _mm512_and_si512(_mm512_srli_epi16(v, 2 * i), m3);
            if constexpr (kQ3) {
              const __m512i b = i <= 2 ? _mm512_slli_epi16(hb, 2 - i) : _mm512_srli_epi16(hb, i - 2);
              w = _mm512_or_si512(w, _mm512_and_si512(b, m4));
            }
            WHALE_TOKENS for (int t = 0; t < NT; ++t) {
              dot[t][i] = _mm512_dpbusd_epi32(dot[t][i], w, bcast4(x[t][8 * bk + 4 * Q + i].qs + 4 * c));
            }
          }
        }
        for (int i = 0; i < 4; ++i) {
          const int sb = 2 * (4 * Q + i) + hh;
          const int64_t k = 8 * bk + 4 * Q + i;
          if constexpr (kQ3) {
            const __m512 ds = _mm512_mul_ps(dw, i8_f32(p + 64 + 16 * sb));
            WHALE_TOKENS for (int t = 0; t < NT; ++t) {
              acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot[t][i]), _mm512_mul_ps(ds, _mm512_set1_ps(x[t][k].d)), acc[t]);
            }
          } else {
            const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 64 + 16 * sb));
            const __m512 sc = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_and_si128(b, lo4)));
            const __m512 mn = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(b, 4), lo4)));
            const __m512 ds = _mm512_mul_ps(dw, sc), dmn = _mm512_mul_ps(dm, mn);
            WHALE_TOKENS for (int t = 0; t < NT; ++t) {
              const float xd = x[t][k].d;
              acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot[t][i]), _mm512_mul_ps(ds, _mm512_set1_ps(xd)), acc[t]);
              acc[t] = _mm512_fnmadd_ps(dmn, _mm512_set1_ps(xd * static_cast<float>(half_sum(x[t][k], hs[t], k, hh))),
                                        acc[t]);
            }
          }
        }
      }
    }
  }
  WHALE_TOKENS for (int t = 0; t < NT; ++t) _mm512_storeu_ps(y[t], acc[t]);
}

template <int NT>
void groups_nt(core::DType dt, const uint8_t* packed, int64_t nb, int64_t g0, int64_t g1, const ActBlock* x,
               int64_t x_stride, const int32_t* hs, float* y, int64_t y_stride) {
  const int64_t gb = group_block_bytes(dt);
  const ActBlock* xs[NT];
  const int32_t* hst[NT];
  for (int t = 0; t < NT; ++t) xs[t] = x + t * x_stride, hst[t] = hs != nullptr ? hs + t * nb : nullptr;
  for (int64_t g = g0; g < g1; ++g) {
    float* ys[NT];
    for (int t = 0; t < NT; ++t) ys[t] = y + t * y_stride + g * kRows;
    const uint8_t* pg = packed + g * nb * gb;
    if (dt == core::DType::kQ8_0) {
      group_q8_0<NT>(pg, nb, xs, ys);
    } else if (dt == core::DType::kQ4_0) {
      group_q4_0<NT>(pg, nb, xs, ys);
    } else if (dt == core::DType::kQ5_0) {
      group_legacy<NT, core::DType::kQ5_0>(pg, nb, xs, ys);
    } else if (dt == core::DType::kQ5_1) {
      group_legacy<NT, core::DType::kQ5_1>(pg, nb, xs, ys);
    } else if (dt == core::DType::kQ4_1) {
      group_legacy<NT, core::DType::kQ4_1>(pg, nb, xs, ys);
    } else if (dt == core::DType::kIQ4_NL) {
      group_legacy<NT, core::DType::kIQ4_NL>(pg, nb, xs, ys);
    } else if (dt == core::DType::kIQ4_XS) {
      group_iq4_xs<NT>(pg, nb, xs, ys);
    } else if constexpr (NT <= 6) {
      if (dt == core::DType::kQ4_K) {
        group_q4_k<NT>(pg, nb, xs, ys);
      } else if (dt == core::DType::kQ5_K) {
        group_q4_k<NT, true>(pg, nb, xs, ys);
      } else if constexpr (NT <= 4) {
        if (dt == core::DType::kQ6_K) {
          group_q6_k<NT>(pg, nb, xs, hst, ys);
        } else if (dt == core::DType::kQ2_K) {
          group_q2_k<NT, false>(pg, nb, xs, hst, ys);
        } else {
          group_q2_k<NT, true>(pg, nb, xs, hst, ys);
        }
      }
    }
  }
}

// Tokens per pass over a group: as many as keep each token's int32 dots and f32 accumulator (and
// the unpacked weights) in the 32 vector registers. Decode passes at most 4.
int64_t max_tokens(core::DType dt) {
  switch (dt) {
    case core::DType::kQ4_K: return 6;
    case core::DType::kQ5_K: return 6;
    case core::DType::kQ6_K: return 4;
    case core::DType::kQ2_K: return 4;
    case core::DType::kQ3_K: return 4;
    default: return 8;
  }
}

}  // namespace

void matmul_vnni(core::DType dt, const uint8_t* packed, int64_t nb, int64_t g0, int64_t g1, const ActBlock* x,
                 int64_t x_stride, int64_t T, float* y, int64_t y_stride) {
  // Prefill: passes of up to max_tokens tokens over chunks of groups that stay in L2 (instead of
  // streaming the whole matrix from memory per pass); decode: one pass of all tokens.
  const bool prefill = T > 4;
  for_each_pass(dt, nb, g0, g1, x, x_stride, T, prefill ? max_tokens(dt) : 4, prefill,
                [&](int64_t c0, int64_t c1, int64_t t, int64_t n, const int32_t* hs) {
                  const ActBlock* xt = x + t * x_stride;
                  float* yt = y + t * y_stride;
                  switch (n) {
                    case 1: groups_nt<1>(dt, packed, nb, c0, c1, xt, x_stride, hs, yt, y_stride); break;
                    case 2: groups_nt<2>(dt, packed, nb, c0, c1, xt, x_stride, hs, yt, y_stride); break;
                    case 3: groups_nt<3>(dt, packed, nb, c0, c1, xt, x_stride, hs, yt, y_stride); break;
                    case 4: groups_nt<4>(dt, packed, nb, c0, c1, xt, x_stride, hs, yt, y_stride); break;
                    case 5: groups_nt<5>(dt, packed, nb, c0, c1, xt, x_stride, hs, yt, y_stride); break;
                    case 6: groups_nt<6>(dt, packed, nb, c0, c1, xt, x_stride, hs, yt, y_stride); break;
                    case 7: groups_nt<7>(dt, packed, nb, c0, c1, xt, x_stride, hs, yt, y_stride); break;
                    default: groups_nt<8>(dt, packed, nb, c0, c1, xt, x_stride, hs, yt, y_stride); break;
                  }
                });
}

#undef WHALE_TOKENS
#pragma GCC pop_options
#endif

}  // namespace whale::kernels::packed
