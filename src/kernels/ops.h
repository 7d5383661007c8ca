// Elementwise and reduction ops on f32 rows: RMSNorm, softmax, SiLU·mul, sigmoid, top-k.
#pragma once

#include <cstdint>

namespace whale::kernels {

// out = x / sqrt(mean(x²) + eps) * weight   (n values; out may alias x)
void rms_norm(const float* x, const float* weight, int64_t n, float eps, float* out);

// In place, numerically stable (max subtracted).
void softmax(float* x, int64_t n);

// out[i] = silu(gate[i]) * up[i], silu(g) = g / (1 + e^-g)   (out may alias either input)
void silu_mul(const float* gate, const float* up, float* out, int64_t n);

// In place 1 / (1 + e^-x).
void sigmoid(float* x, int64_t n);

// Indices of the k largest values, largest first; ties go to the lower index (as torch.topk does
// in practice on CPU for distinct values; ties among equal values are a tie-break choice).
void topk(const float* x, int64_t n, int64_t k, int64_t* idx);

// y += a * x
void axpy(float a, const float* x, float* y, int64_t n);

float dot(const float* a, const float* b, int64_t n);

}  // namespace whale::kernels
