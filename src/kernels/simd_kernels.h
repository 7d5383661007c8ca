// The per-ISA matmul kernels behind linear(): one call computes y for a run of weight rows and up
// to kMaxTokens tokens, so a weight row is loaded (and unpacked) once for all of them.
#pragma once

#include <cstdint>

#include "core/dtype.h"
#include "kernels/activation_quant.h"
#include "kernels/attention.h"

namespace whale::kernels::simd {

inline constexpr int kMaxTokens = 4;

struct MatArgs {
  core::DType dtype;
  const uint8_t* w;      // first weight row
  int64_t row_bytes;
  int64_t rows;          // rows to compute
  int64_t cols;
  // First token: const float* for f32/f16/bf16/f8_e4m3 weights, const ActBlock* (cols/32 blocks)
  // for the block-quantized types. x_stride counts floats or ActBlocks.
  const void* x;
  int64_t x_stride;
  int nt;                // tokens, 1..kMaxTokens
  float* y;              // y[t * y_stride + i] for row i of this run
  int64_t y_stride;
  // f8_e4m3 only: scale of (row r, column c) is scale_inv[(row0 + r) / block][c / block].
  const float* scale_inv = nullptr;
  int64_t scale_cols = 0;
  int64_t block = 128;
  int64_t row0 = 0;
};

// Block-quantized weights take ActBlock activations; the float types take f32 activations.
inline bool uses_int8_activations(core::DType t) {
  return t == core::DType::kQ8_0 || t == core::DType::kQ4_0 || t == core::DType::kQ4_K ||
         t == core::DType::kQ6_K;
}

// Each returns false for a dtype it does not handle (the caller then uses the reference).
bool matmul_scalar(const MatArgs& a);
bool matmul_avx2(const MatArgs& a);
bool matmul_avx512(const MatArgs& a);

// y[c] += a * x[c] for c < n.
void axpy_scalar(float a, const float* x, float* y, int64_t n);
void axpy_avx2(float a, const float* x, float* y, int64_t n);
void axpy_avx512(float a, const float* x, float* y, int64_t n);

// Σ a[c]·b[c] for c < n (4 independent accumulators in the SIMD versions).
float dot_scalar(const float* a, const float* b, int64_t n);
float dot_avx2(const float* a, const float* b, int64_t n);
float dot_avx512(const float* a, const float* b, int64_t n);

// x[i] = e^(x[i] - m) (every x[i] <= m), returns Σ x[i]. SIMD versions: a polynomial within ~1 ulp.
float exp_sum_scalar(float* x, int64_t n, float m);
float exp_sum_avx2(float* x, int64_t n, float m);
float exp_sum_avx512(float* x, int64_t n, float m);

// kernels::silu_mul on each level (SIMD: exp_neg's polynomial).
void silu_mul_scalar(const float* gate, const float* up, float* out, int64_t n);
void silu_mul_avx2(const float* gate, const float* up, float* out, int64_t n);
void silu_mul_avx512(const float* gate, const float* up, float* out, int64_t n);

// kernels::attend on each level (attention_impl.h); kt: the keys transposed in blocks of the
// level's width (attn_block_width), or null to transpose on the fly.
void attend_scalar(const Attention& a, const float* kt);
void attend_avx2(const Attention& a, const float* kt);
void attend_avx512(const Attention& a, const float* kt);
// Blocks [b0, b1) of the transposed keys of n_rows rows (kt as above).
void transpose_keys_scalar(const float* const* rows, int64_t n_rows, int64_t k_offset, int64_t d, int64_t b0, int64_t b1,
                           float* kt);
void transpose_keys_avx2(const float* const* rows, int64_t n_rows, int64_t k_offset, int64_t d, int64_t b0, int64_t b1,
                         float* kt);
void transpose_keys_avx512(const float* const* rows, int64_t n_rows, int64_t k_offset, int64_t d, int64_t b0, int64_t b1,
                           float* kt);

}  // namespace whale::kernels::simd
