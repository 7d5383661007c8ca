// Per-block absmax quantization of activation rows, on the active level's kernel (simd_scalar.cpp,
// simd_avx512.cpp). Every level computes exactly the same bytes, so the int8 matmuls of all
// levels see the same activations.
#include "kernels/activation_quant.h"

#include "kernels/simd_kernels.h"

namespace whale::kernels {

void quantize_activation_row(const float* x, int64_t n, ActBlock* out) { simd::active().quantize_activations(x, n, out); }

}  // namespace whale::kernels
