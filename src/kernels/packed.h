// Packed q8_0/q4_0 weights: rows in groups of 16, interleaved four bytes at a time (the layout of an
// AMX B tile), made once at load time. One layout feeds two kernels with the same arithmetic:
// decode on AVX-512 VNNI (one vpdpbusd = 4 elements of 16 rows against one broadcast activation
// word) and prefill on AMX tiles. Both form each block's exact int32 dot product and add
// d_w·d_x·dot in f32 in block order, so a token's result is the same bits on either path and in
// any batch.
//
// Per group of 16 rows and 32-element block k (gb bytes each, groups then blocks contiguous):
//   q8_0 (gb = 576): 16 f16 scales | 16 int16 row sums Σw | 8 x 64 int8: byte 4n + j of line r is
//                    W[n][32k + 4r + j]
//   q4_0 (gb = 288): 16 f16 scales | 4 x 64 bytes: byte 4n + j of line c holds the nibbles (as
//                    stored, value + 8) of W[n][32k + 4c + j] (low) and W[n][32k + 16 + 4c + j] (high)
#pragma once

#include <cstdint>

#include "core/dtype.h"
#include "kernels/activation_quant.h"
#include "kernels/weight.h"

namespace whale::kernels::packed {

inline constexpr int64_t kRows = 16;

// q8_0 or q4_0, two dimensions, rows a multiple of 16, and a CPU with the AVX-512 VNNI kernels.
bool packable(const WeightView& w);
int64_t group_block_bytes(core::DType t);

// The packed copy of w ([rows/16, cols/32, group_block_bytes] u8), written at `offset` of
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

// y[t * y_stride + i] for groups [g0, g1) (rows 16·g0 ..) and tokens t < T on AVX-512 VNNI;
// x: T rows of cols/32 ActBlocks, x_stride apart. Runs on the calling thread. Built for x86-64
// only; callers reach it as the avx512 level's KernelTable::matmul_packed (simd_kernels.h).
void matmul_vnni(core::DType dt, const uint8_t* packed, int64_t nb, int64_t g0, int64_t g1, const ActBlock* x,
                 int64_t x_stride, int64_t T, float* y, int64_t y_stride);

}  // namespace whale::kernels::packed
