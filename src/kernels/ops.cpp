// Row ops: scalar loops the compiler vectorises, except silu_mul, dot and axpy, which run on the
// active level's kernels (simd_kernels.h).
#include "kernels/ops.h"

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
  simd::active().silu_mul(gate, up, out, n);
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
  simd::active().axpy(a, x, y, n);
}

float dot(const float* a, const float* b, int64_t n) {
  return simd::active().dot(a, b, n);
}

}  // namespace whale::kernels
