// The first (scalar) implementation of linear(), kept verbatim as the reference.
#include "kernels/linear_ref.h"

#include <vector>

#include "core/error.h"

namespace whale::kernels {

void linear_ref(const WeightView& w, const LinearArgs& a) {
  const int64_t row1 = a.row1 < 0 ? w.rows() : a.row1;
  if (a.row0 < 0 || row1 > w.rows() || a.row0 > row1) {
    fail(ErrorKind::kInternal, "linear: rows [", a.row0, ", ", row1, ") of a ", w.rows(), "-row weight");
  }
  const int64_t cols = w.cols();
  std::vector<float> row(static_cast<size_t>(cols));
  for (int64_t r = a.row0; r < row1; ++r) {
    dequantize_weight_row(w, r, row.data());
    for (int64_t t = 0; t < a.T; ++t) {
      const float* x = a.x + t * a.x_stride;
      float acc = 0.0f;
      for (int64_t c = 0; c < cols; ++c) acc += x[c] * row[static_cast<size_t>(c)];
      a.y[t * a.y_stride + (r - a.row0)] = acc;
    }
  }
}

void linear_transposed_ref(const WeightView& w, int64_t row0, int64_t row1, const float* x, float* y) {
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
