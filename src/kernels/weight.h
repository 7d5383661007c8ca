// WeightView: a weight matrix [out, in] as stored (f32, f16, bf16, FP8 with 128x128 block scales,
// or a GGUF block type), which every matmul kernel accepts without converting the whole matrix.
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace whale::kernels {

struct WeightView {
  core::Tensor w;          // [out, in] (or [in] for a vector)
  core::Tensor scale_inv;  // f32 [ceil(out/block), ceil(in/block)] for f8_e4m3, else undefined
  int64_t block = 128;
  // Optional copy of a q8_0/q4_0 w in the packed 16-row layout (packed.h), made at load time;
  // linear() uses it on AVX-512 machines. w stays the reference for every other reader.
  core::Tensor packed;

  int64_t rows() const { return w.dim(0); }
  int64_t cols() const { return w.dim(-1); }
};

// Row r of the weight as f32 values (cols() of them): the single place that knows every storage
// dtype, used by the reference kernels and by embedding lookups.
void dequantize_weight_row(const WeightView& w, int64_t r, float* out);

// A whole small weight (norms, biases, router biases) as a contiguous f32 vector.
void dequantize_weight(const WeightView& w, float* out);

}  // namespace whale::kernels
