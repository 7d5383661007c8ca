// The per-SIMD-level kernels as one table of function pointers per level (KernelTable), each
// level's table defined in its own file (simd_scalar.cpp, simd_avx2.cpp, simd_avx512.cpp); the
// public ops (linear, attend, dot, silu_mul, ...) call through the active one. To add an op: a
// field here, its body once per level, and one line in each level's table (docs/kernels.md).
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"
#include "kernels/activation_quant.h"
#include "kernels/attention.h"
#include "kernels/cpu_features.h"

// The x86 levels' files compile only where GCC/clang can target them by pragma; elsewhere only the
// scalar table exists and max_simd_level() is scalar.
#if defined(__x86_64__) && defined(__GNUC__)
#define WHALE_SIMD_X86 1
#else
#define WHALE_SIMD_X86 0
#endif

namespace whale::kernels::simd {

inline constexpr int kMaxTokens = 4;

// One call of the per-row matmul: y for a run of weight rows and up to kMaxTokens tokens, so a
// weight row is loaded (and unpacked) once for all of them.
struct MatArgs {
  core::DType dtype;
  const uint8_t* w;      // first weight row
  int64_t row_bytes;
  int64_t rows;          // rows to compute
  int64_t cols;
  // The first token's activations in the form the weight's dtype takes (uses_int8_activations):
  // f32 values for f32/f16/bf16/f8_e4m3 weights, cols/32 int8 blocks for the block-quantized
  // types; the other pointer is null. x_stride counts floats or ActBlocks.
  const float* x = nullptr;
  const ActBlock* xq = nullptr;
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
         t == core::DType::kQ6_K || t == core::DType::kQ2_K || t == core::DType::kQ3_K ||
         t == core::DType::kQ5_K || t == core::DType::kQ4_1 || t == core::DType::kQ5_0 ||
         t == core::DType::kQ5_1 || t == core::DType::kIQ4_NL || t == core::DType::kIQ4_XS ||
         t == core::DType::kIQ2_XXS || t == core::DType::kIQ1_S;
}

// A table entry: a function pointer with no default, so a level's table that leaves an op out
// does not compile. Null only where the field's comment allows it (an op a level lacks).
template <class Sig>
struct Op;
template <class R, class... A>
struct Op<R(A...)> {
  R (*fn)(A...);
  constexpr Op(R (*f)(A...)) : fn(f) {}
  constexpr Op(std::nullptr_t) : fn(nullptr) {}
  R operator()(A... a) const { return fn(a...); }
  explicit operator bool() const { return fn != nullptr; }
};

struct KernelTable {
  SimdLevel level;
  int64_t lanes;  // f32 lanes per vector: the key block width of attend (attention_block)

  // Rows of a matmul on the stored weight layout; false for a dtype it does not handle.
  Op<bool(const MatArgs&)> matmul;
  // n (a multiple of 32) floats -> n/32 ActBlocks; the same bytes on every level.
  Op<void(const float* x, int64_t n, ActBlock* out)> quantize_activations;
  // A matmul over the packed 16-row layouts (packed.h): packed::matmul_vnni on avx512,
  // packed_impl_avx2.h's on avx2 (the same bits); null on scalar.
  Op<void(core::DType dt, const uint8_t* packed, int64_t nb, int64_t g0, int64_t g1, const ActBlock* x,
          int64_t x_stride, int64_t T, float* y, int64_t y_stride)>
      matmul_packed;
  // y[c] += a * x[c] for c < n.
  Op<void(float a, const float* x, float* y, int64_t n)> axpy;
  // Σ a[c]·b[c] for c < n (4 independent accumulators in the SIMD versions).
  Op<float(const float* a, const float* b, int64_t n)> dot;
  // x[i] = e^(x[i] - m) (every x[i] <= m), returns Σ x[i]: the exponential attend and silu_mul use
  // (SIMD: a polynomial within ~1 ulp), exposed for its accuracy test.
  Op<float(float* x, int64_t n, float m)> exp_sum;
  // kernels::silu_mul.
  Op<void(const float* gate, const float* up, float* out, int64_t n)> silu_mul;
  // kernels::attend (attention_impl.h); kt: the keys transposed in blocks of `lanes`, or null to
  // transpose on the fly.
  Op<void(const Attention& a, const float* kt)> attend;
  // kernels::transpose_keys: blocks [b0, b1) of the transposed keys of n_rows rows.
  Op<void(const float* const* rows, int64_t n_rows, int64_t k_offset, int64_t d, int64_t b0, int64_t b1,
          float* kt)>
      transpose_keys;
  // The same over bf16 rows (a KV cache of bf16).
  Op<void(const uint16_t* const* rows, int64_t n_rows, int64_t k_offset, int64_t d, int64_t b0, int64_t b1,
          float* kt)>
      transpose_keys_bf16;
};

// Each level's table, defined in its own file.
extern const KernelTable kScalarKernels;
#if WHALE_SIMD_X86
extern const KernelTable kAvx2Kernels;
extern const KernelTable kAvx2VnniKernels;  // the avx2 level with AVX-VNNI's ymm vpdpbusd (same bits)
extern const KernelTable kAvx512Kernels;
#endif

// Whether table_for(kAvx2) is kAvx2VnniKernels: the CPU has AVX-VNNI and WHALE_AVX_VNNI is not 0.
bool avx2_uses_vnni();

// The table for `level`, or for the best level below it this CPU and build have (avx2: its AVX-VNNI
// variant where avx2_uses_vnni()).
const KernelTable& table_for(SimdLevel level);
// The table in use: chosen at start-up (the best level, lowered by WHALE_SIMD) and again by
// set_simd_level (cpu_features.cpp). Not to be switched during a call that uses it.
const KernelTable& active();

// The portable quantizer, which the AVX2 level uses as its own (defined in simd_scalar.cpp).
void quantize_activations_scalar(const float* x, int64_t n, ActBlock* out);

}  // namespace whale::kernels::simd
