// Reference matmuls: decode each weight row to f32, plain dot with every token. The oracle the
// fast kernels (linear.h) are tested and benchmarked against; single-threaded.
#pragma once

#include <cstdint>

#include "kernels/linear.h"

namespace whale::kernels {

void linear_ref(const WeightView& w, const LinearArgs& a);
void linear_transposed_ref(const WeightView& w, int64_t row0, int64_t row1, const float* x, float* y);

}  // namespace whale::kernels
