// AVX-512 row kernels for bf16 and fp8 (e4m3, 128x128 block scales) weights that read each weight
// byte once with few instructions, so decode runs at memory speed (docs/kernels.md#float-weights):
// - bf16: exact f32 products, as the avx512 table's float kernel, on activations laid out per 32
//   columns as [even columns, odd columns] so a 32-weight load needs one AND and one shift;
// - fp8: each byte becomes the bf16 of its value by two byte-table lookups (vpermi2b), multiplied
//   by the activations rounded to bf16 (vdpbf16ps, f32 sums; AVX512-BF16 and VBMI), then by its
//   block's scale_inv. Activations rounded to bf16 are what llama.cpp's bf16 path takes too; DeepSeek's
//   own fp8 GEMM rounds them to fp8. WHALE_BF16_DOT=0 keeps fp8 on the f32 kernel.
// Used by linear() at the avx512 level. Each token's operation sequence is the same for any batch,
// so prefill and decode give a token the same bits.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace whale::kernels::float_dot {

// Whether linear() takes this module for dt at the current SIMD level: bf16 at avx512; fp8 at
// avx512 when the CPU has AVX512-BF16 and VBMI, WHALE_BF16_DOT is not 0 and the scale block is a
// multiple of 64 columns.
bool enabled(core::DType dt, int64_t block = 128);
// For tests and benchmarks: switch the fp8 path (WHALE_BF16_DOT) on or off; returns whether it is
// on afterwards (false where the CPU lacks it).
bool set_fp8_enabled(bool on);

// Bytes of one token's prepared activations for `cols` columns (columns padded to 64 with zeros).
int64_t prepared_bytes(core::DType dt, int64_t cols);
// One token's activations in the layout matmul reads (the header's comment); out has prepared_bytes.
void prepare(core::DType dt, const float* x, int64_t cols, uint8_t* out);

inline constexpr int kMaxTokens = 4;

struct Args {
  core::DType dtype;  // kBF16 or kF8E4M3
  const uint8_t* w;   // first weight row
  int64_t row_bytes;
  int64_t rows, cols;
  const uint8_t* x;  // nt tokens' prepared activations, x_stride bytes apart
  int64_t x_stride;
  int nt;    // 1..kMaxTokens
  float* y;  // y[t * y_stride + i] for row i of this run
  int64_t y_stride;
  // fp8: scale of (row r, column c) is scale_inv[(row0 + r) / block][c / block].
  const float* scale_inv = nullptr;
  int64_t scale_cols = 0, block = 128, row0 = 0;
};
void matmul(const Args& a);

}  // namespace whale::kernels::float_dot
