// Packed q8_0/q4_0/q2_k/q3_k/q4_k/q5_k/q6_k/iq4_xs weights (and q5_0/q5_1/q4_1/iq4_nl, the fallbacks of llama.cpp's
// k-quant mixes for matrices whose width is not a multiple of 256): rows in groups of 16, interleaved
// four bytes at a time (the layout of an AMX B tile), made once at load time. One layout feeds three
// kernels with the same arithmetic: AVX-512 VNNI (one vpdpbusd = 4 elements of 16 rows against one
// broadcast activation word; decode and prefill), AMX tiles (prefill) and the avx2 level's
// (packed_impl_avx2.h: half a line, 8 rows, per ymm). All form each block's exact int32 dot product
// and add d_w·d_x·dot in f32 in block order, so a token's result is the same bits on any of them
// and in any batch.
//
// Per group of 16 rows and 32-element block k (gb bytes each, groups then blocks contiguous):
//   q8_0 (gb = 576): 16 f16 scales | 16 int16 row sums Σw | 8 x 64 int8: byte 4n + j of line r is
//                    W[n][32k + 4r + j]
//   q4_0 (gb = 288): 16 f16 scales | 4 x 64 bytes: byte 4n + j of line c holds the nibbles (as
//                    stored, value + 8) of W[n][32k + 4c + j] (low) and W[n][32k + 16 + 4c + j] (high)
//   q5_0 (gb = 352): q4_0's 288 bytes | 64 bytes of fifth bits: byte 4n + j holds, at bit c, the fifth
//                    bit of W[n][32k + 4c + j] and at bit 4 + c that of W[n][32k + 16 + 4c + j]
//   q5_1 (gb = 384), q4_1 (gb = 320): 16 f16 scales | 16 f16 mins | q4_0's 4 x 64 nibble lines | (q5_1)
//                    the fifth-bit line as q5_0's
//   iq4_nl (gb = 288): q4_0's layout; the nibbles index the non-linear levels
// The k-quants pack per 256-column super-block K (8 blocks, 8·gb bytes; 4.625 and 6.625 bits a
// weight against the stored 4.5 and 6.5625), scales kept in their stored width:
//   q4_k (gb = 296, 2368 per K): 16 f16 d | 16 f16 dmin | 8 x 16 u8 6-bit scales (sub-block s: row
//                    n at 16s + n) | 8 x 16 u8 mins | 4 pairs x 8 lines x 64: byte 4n + j of line c
//                    of pair p holds the nibbles of W[n][256K + 64p + 4c + j] (low, sub-block 2p)
//                    and W[n][256K + 64p + 32 + 4c + j] (high, sub-block 2p + 1), as stored
//   q5_k (gb = 360, 2880 per K): q4_k's 2368 bytes | 8 lines x 64 of the fifth bits: byte 4n + j of
//                    line c holds, at bit s, sub-block s's element 4c + j (row n's stored qh[4c + j])
//   q6_k (gb = 424, 3392 per K): 16 f16 d | 32 bytes padding (lines stay 64-byte aligned) |
//                    16 x 16 int8 scales (16-element sub-block s at 16s + n) | 4 pairs x 8 lines x
//                    64 of the values' low 4 bits, laid out as q4_k's | 2 quads x 8 lines x 64 of
//                    their top 2 bits: byte 4n + j of line c of quad q holds, at bits 2i, block
//                    4q + i's element 4c + j (values unsigned, 0..63 = stored + 32)
//   q2_k (gb = 168, 1344 per K): 16 f16 d | 16 f16 dmin | 16 x 16 u8 scale bytes as stored (scale low
//                    nibble, min high; sub-block s of 16 elements: row n at 16s + n) | 16 lines x 64 of
//                    the 2-bit values: byte 4n + j of line 8Q + c holds, at bits 2i, W[n][256K + 32(4Q +
//                    i) + 4c + j] (row n's stored qs[32Q + 4c + j] as it is)
//   q3_k (gb = 232, 1856 per K): 16 f16 d | 32 bytes padding | 16 x 16 int8 scales (sc - 32) | the
//                    low 2 bits as q2_k's | 8 lines x 64 of the third bits: byte 4n + j of line c holds,
//                    at bit b, that of W[n][256K + 32b + 4c + j] (row n's stored hmask[4c + j])
//   iq4_xs (gb = 280, 2240 per K): 16 f16 d | 32 bytes padding | 8 x 16 int8 scales (ls - 32; sub-block
//                    s: row n at 16s + n) | 32 bytes padding | per sub-block s, q4_0's 4 x 64 nibble
//                    lines at 192 + 256s (the nibbles index the non-linear levels, as iq4_nl's)
// Both kernels take each 32-element block's exact int32 dot (q6_k: one per 16-element half, as its
// scales; q2_k/q3_k: one per 16-element sub-block, in the order group_q2_k names) and then, in block
// order, acc += dot · (d·scale · d_x) (and for q4_k/q5_k acc -= dmin·min · d_x·Σx; q2_k the same over
// the half block), so the kernels agree bit for bit here too. AMX takes q8_0, q4_0, q4_k and q6_k (amx::supports); the
// others prefill on the VNNI kernel.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/dtype.h"
#include "core/quant_legacy.h"
#include "kernels/activation_quant.h"
#include "kernels/weight.h"

namespace whale::kernels::packed {

inline constexpr int64_t kRows = 16;

// iq4_nl's levels + 128 (1..241): the unsigned bytes vpdpbusd takes, looked up by vpshufb.
struct alignas(16) Iq4Unsigned {
  uint8_t v[16];
};
inline constexpr Iq4Unsigned kIQ4NLUnsigned = [] {
  Iq4Unsigned t{};
  for (int i = 0; i < 16; ++i) t.v[i] = static_cast<uint8_t>(core::kIQ4NLValues[i] + 128);
  return t;
}();

// One of the types above, two dimensions, rows a multiple of 16 (columns of the block size), and
// a best SIMD level with a packed kernel (avx512, avx2). WHALE_PACK=0 turns packing off.
bool packable(const WeightView& w);
// Bytes of one group per 32 columns (a group's blocks are cols/32 times this); 0: not packable.
constexpr int64_t group_block_bytes(core::DType t) {
  switch (t) {
    case core::DType::kQ8_0: return 576;
    case core::DType::kQ4_0: return 288;
    case core::DType::kIQ4_NL: return 288;
    case core::DType::kQ4_1: return 320;
    case core::DType::kQ5_0: return 352;
    case core::DType::kQ5_1: return 384;
    case core::DType::kQ4_K: return 296;  // 2368 per super-block
    case core::DType::kQ5_K: return 360;  // 2880 per super-block
    case core::DType::kQ6_K: return 424;  // 3392 per super-block
    case core::DType::kQ2_K: return 168;  // 1344 per super-block
    case core::DType::kQ3_K: return 232;  // 1856 per super-block
    case core::DType::kIQ4_XS: return 280;  // 2240 per super-block
    default: return 0;
  }
}
// The k-quants, packed per 256-column super-block (8 times group_block_bytes each).
constexpr bool group_block_bytes_per_superblock(core::DType t) {
  return t == core::DType::kQ4_K || t == core::DType::kQ5_K || t == core::DType::kQ6_K || t == core::DType::kQ2_K ||
         t == core::DType::kQ3_K || t == core::DType::kIQ4_XS;
}

// The packed copy of w ([rows/16, cols/32, group_block_bytes] u8; k-quants: super-blocks of 8), written at `offset` of
// `buffer` (a huge_page_buffer shared by a model's matrices; the result keeps it alive).
// Afterwards the kernel is asked to drop w's pages from memory (MADV_PAGEOUT: clean file pages are
// re-read if touched again, anonymous ones stay), so an mmap'd checkpoint is not resident twice.
int64_t packed_bytes(const WeightView& w);
core::Tensor pack_into(const WeightView& w, const core::Tensor& buffer, int64_t offset);
// pack_into a buffer of its own.
core::Tensor pack(const WeightView& w);

// u8 [bytes] on 2 MiB-aligned memory with transparent huge pages asked for before it is first
// written: decode streams every packed matrix once per token, and 4 KiB pages cost page walks.
core::Tensor huge_page_buffer(int64_t bytes);
// Asks the kernel to reclaim [p, p + n)'s whole pages (a mapped file's, once copied); harmless where it cannot.
void page_out(const void* p, int64_t n);

// The half-block activation sums (Σ of each ActBlock's first 16 values): out[t * nb + k] for T rows
// of nb blocks, x_stride apart (grown to fit). The packed q6_k/q3_k kernels start each 16-element
// half's dot at a multiple of it; q2_k's mins multiply it.
void half_block_sums(const ActBlock* x, int64_t x_stride, int64_t T, int64_t nb, std::vector<int32_t>& out);

// The passes of a packed matmul of T tokens (rows of nb ActBlocks, x_stride apart) over groups [g0, g1):
// chunks [c0, c1) of ~256 KiB of groups, which stay in L2 while every pass goes over them (one chunk
// of all the groups unless `chunked`), and passes of n <= step tokens from t: pass(c0, c1, t, n, hs),
// hs the passes' half-block sums (half_block_sums, from token t) for q6_k/q3_k/q2_k, else null. A
// token's numbers and their order depend on neither, so neither do its bits.
template <class Pass>
void for_each_pass(core::DType dt, int64_t nb, int64_t g0, int64_t g1, const ActBlock* x, int64_t x_stride, int64_t T,
                   int64_t step, bool chunked, Pass&& pass) {
  thread_local std::vector<int32_t> half_sums;
  const bool halves = dt == core::DType::kQ6_K || dt == core::DType::kQ2_K || dt == core::DType::kQ3_K;
  if (halves) half_block_sums(x, x_stride, T, nb, half_sums);
  constexpr int64_t kChunkBytes = int64_t{256} << 10;
  const int64_t chunk = chunked ? std::max<int64_t>(1, kChunkBytes / (nb * group_block_bytes(dt))) : g1 - g0;
  for (int64_t c0 = g0; c0 < g1; c0 += chunk) {
    const int64_t c1 = std::min(g1, c0 + chunk);
    for (int64_t t = 0; t < T; t += step) pass(c0, c1, t, std::min(step, T - t), halves ? half_sums.data() + t * nb : nullptr);
  }
}

// y[t * y_stride + i] for groups [g0, g1) (rows 16·g0 ..) and tokens t < T on AVX-512 VNNI;
// x: T rows of cols/32 ActBlocks, x_stride apart. Decode (T <= 4) passes all tokens over each group;
// prefill passes up to 8 (q4_k/q5_k 6, q6_k/q2_k/q3_k 4) over chunks of groups of ~256 KiB that stay in L2. Runs
// on the calling thread. Built for x86-64 only; callers reach it as the avx512 level's
// KernelTable::matmul_packed (simd_kernels.h).
void matmul_vnni(core::DType dt, const uint8_t* packed, int64_t nb, int64_t g0, int64_t g1, const ActBlock* x,
                 int64_t x_stride, int64_t T, float* y, int64_t y_stride);

}  // namespace whale::kernels::packed
