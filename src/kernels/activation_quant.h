// Activations for the int8 matmul paths: a token row of f32 quantized once to blocks of 32 int8
// with an f32 scale (ggml's q8_0 with an f32 scale and the block sum that q4_k's mins need).
#pragma once

#include <cstdint>

namespace whale::kernels {

struct ActBlock {
  float d;        // x[j] ~ qs[j] * d, d = max|x| / 127
  int32_t sum;    // Σ qs[j]
  int8_t qs[32];  // in [-127, 127], so negating one never overflows
};
static_assert(sizeof(ActBlock) == 40);

// n (a multiple of 32) floats -> n/32 blocks. Rounds to nearest (ties away from zero, as roundf).
void quantize_activation_row(const float* x, int64_t n, ActBlock* out);

}  // namespace whale::kernels
