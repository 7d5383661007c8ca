// Dispatch of the attention kernel (attention_impl.h) to the SIMD level in use.
#include "kernels/attention.h"

#include "kernels/cpu_features.h"
#include "kernels/simd_kernels.h"

namespace whale::kernels {

void attend(const Attention& a) {
  switch (simd_level()) {
    case SimdLevel::kAvx512: return simd::attend_avx512(a, a.kt);
    case SimdLevel::kAvx2: return simd::attend_avx2(a, a.kt);
    default: return simd::attend_scalar(a, a.kt);
  }
}

int64_t attention_block() {
  switch (simd_level()) {
    case SimdLevel::kAvx512: return 16;
    case SimdLevel::kAvx2: return 8;
    default: return 1;
  }
}

void transpose_keys(const float* const* rows, int64_t n_rows, int64_t k_offset, int64_t d, int64_t b0, int64_t b1,
                    float* kt) {
  switch (simd_level()) {
    case SimdLevel::kAvx512: return simd::transpose_keys_avx512(rows, n_rows, k_offset, d, b0, b1, kt);
    case SimdLevel::kAvx2: return simd::transpose_keys_avx2(rows, n_rows, k_offset, d, b0, b1, kt);
    default: return simd::transpose_keys_scalar(rows, n_rows, k_offset, d, b0, b1, kt);
  }
}

}  // namespace whale::kernels
