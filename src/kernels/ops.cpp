// Row ops: scalar loops the compiler vectorises, except dot/axpy, which dispatch to the SIMD kernels.
#include "kernels/ops.h"

#include "kernels/cpu_features.h"
#include "kernels/simd_kernels.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace whale::kernels {

void rms_norm(const float* x, const float* weight, int64_t n, float eps, float* out) {
  double ss = 0.0;
  for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  const float inv = 1.0f / std::sqrt(static_cast<float>(ss / static_cast<double>(n)) + eps);
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * inv * weight[i];
}

void softmax(float* x, int64_t n) {
  if (n <= 0) return;
  const float mx = *std::max_element(x, x + n);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void silu_mul(const float* gate, const float* up, float* out, int64_t n) {
  switch (simd_level()) {
    case SimdLevel::kAvx512: return simd::silu_mul_avx512(gate, up, out, n);
    case SimdLevel::kAvx2: return simd::silu_mul_avx2(gate, up, out, n);
    default: return simd::silu_mul_scalar(gate, up, out, n);
  }
}

void sigmoid(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = 1.0f / (1.0f + std::exp(-x[i]));
}

void topk(const float* x, int64_t n, int64_t k, int64_t* idx) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  k = std::min(k, n);
  std::partial_sort(order.begin(), order.begin() + k, order.end(), [x](int64_t a, int64_t b) {
    return x[a] > x[b] || (x[a] == x[b] && a < b);
  });
  std::copy(order.begin(), order.begin() + k, idx);
}

// axpy and dot carry attention (scores and the weighted sum of values over the whole context):
// the SIMD level chosen at run time, like the matmuls.
void axpy(float a, const float* x, float* y, int64_t n) {
  switch (simd_level()) {
    case SimdLevel::kAvx512: return simd::axpy_avx512(a, x, y, n);
    case SimdLevel::kAvx2: return simd::axpy_avx2(a, x, y, n);
    default: return simd::axpy_scalar(a, x, y, n);
  }
}

float dot(const float* a, const float* b, int64_t n) {
  switch (simd_level()) {
    case SimdLevel::kAvx512: return simd::dot_avx512(a, b, n);
    case SimdLevel::kAvx2: return simd::dot_avx2(a, b, n);
    default: return simd::dot_scalar(a, b, n);
  }
}

}  // namespace whale::kernels
