// Reference-speed matmuls: decode a weight row to f32 once, dot it with every token. Quantized
// SIMD kernels (VNNI/AVX2) replace the inner loop later; this one is the oracle they must match.
#include "kernels/linear.h"

#include <vector>

#include "core/error.h"

namespace whale::kernels {

void linear(const WeightView& w, const LinearArgs& a, core::ThreadPool* pool) {
  const int64_t row1 = a.row1 < 0 ? w.rows() : a.row1;
  if (a.row0 < 0 || row1 > w.rows() || a.row0 > row1) {
    fail(ErrorKind::kInternal, "linear: rows [", a.row0, ", ", row1, ") of a ", w.rows(), "-row weight");
  }
  const int64_t cols = w.cols();
  const int64_t n_rows = row1 - a.row0;
  // Small problems run inline: waking threads costs more than the work.
  auto body = [&](int64_t b, int64_t e, int) {
    std::vector<float> row(static_cast<size_t>(cols));
    for (int64_t i = b; i < e; ++i) {
      const int64_t r = a.row0 + i;
      dequantize_weight_row(w, r, row.data());
      for (int64_t t = 0; t < a.T; ++t) {
        const float* x = a.x + t * a.x_stride;
        float acc = 0.0f;
        for (int64_t c = 0; c < cols; ++c) acc += x[c] * row[static_cast<size_t>(c)];
        a.y[t * a.y_stride + i] = acc;
      }
    }
  };
  if (pool == nullptr || n_rows * cols * a.T < 32768) {
    body(0, n_rows, 0);
  } else {
    pool->parallel_for(n_rows, body);
  }
}

void linear_transposed(const WeightView& w, int64_t row0, int64_t row1, const float* x, float* y) {
  const int64_t cols = w.cols();
  std::vector<float> row(static_cast<size_t>(cols));
  for (int64_t c = 0; c < cols; ++c) y[c] = 0.0f;
  for (int64_t r = row0; r < row1; ++r) {
    dequantize_weight_row(w, r, row.data());
    const float xr = x[r - row0];
    for (int64_t c = 0; c < cols; ++c) y[c] += xr * row[static_cast<size_t>(c)];
  }
}

}  // namespace whale::kernels
