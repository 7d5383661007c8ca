// Per-block absmax quantization of activation rows. Scalar on purpose: it runs once per token row,
// against rows x cols work in the product, and every SIMD path then sees the same int8 values.
#include "kernels/activation_quant.h"

#include <cmath>

namespace whale::kernels {

void quantize_activation_row(const float* x, int64_t n, ActBlock* out) {
  for (int64_t b = 0; b < n / 32; ++b, x += 32) {
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = std::fmax(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d > 0.0f ? 1.0f / d : 0.0f;
    int32_t sum = 0;
    for (int j = 0; j < 32; ++j) {
      const int q = static_cast<int>(std::lround(x[j] * id));
      out[b].qs[j] = static_cast<int8_t>(q > 127 ? 127 : (q < -127 ? -127 : q));
      sum += out[b].qs[j];
    }
    out[b].d = d;
    out[b].sum = sum;
  }
}

}  // namespace whale::kernels
