// Matrix products with stored weights: y = x·Wᵀ over a range of W's rows (a linear layer, or one
// head's slice of it), and the transposed product y = W[rows]ᵀ·x that MLA's absorbed attention uses.
#pragma once

#include <cstdint>

#include "core/thread_pool.h"
#include "kernels/weight.h"

namespace whale::kernels {

struct LinearArgs {
  const float* x;        // [T, in], row stride x_stride
  int64_t T;
  int64_t x_stride;
  float* y;              // [T, row1 - row0], row stride y_stride
  int64_t y_stride;
  int64_t row0 = 0;      // W rows [row0, row1): output features
  int64_t row1 = -1;     // -1: all rows
};

// y[t][r - row0] = Σ_c x[t][c] · W[r][c]. Weight rows are decoded once and reused for all T tokens
// (prefill amortises the weight read); rows are split across the pool.
// `pool` may be null to run on the calling thread (e.g. inside another parallel loop).
void linear(const WeightView& w, const LinearArgs& a, core::ThreadPool* pool);

// y[c] = Σ_{r in [row0, row1)} W[r][c] · x[r - row0] for one vector x; y has cols() entries.
void linear_transposed(const WeightView& w, int64_t row0, int64_t row1, const float* x, float* y);

}  // namespace whale::kernels
