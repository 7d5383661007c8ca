// kernels::attend and its key transposes on the active level's kernels (attention_impl.h).
#include "kernels/attention.h"

#include "kernels/simd_kernels.h"

namespace whale::kernels {

void attend(const Attention& a) { simd::active().attend(a, a.kt); }

int64_t attention_block() { return simd::active().lanes; }

void transpose_keys(const float* const* rows, int64_t n_rows, int64_t k_offset, int64_t d, int64_t b0, int64_t b1,
                    float* kt) {
  simd::active().transpose_keys(rows, n_rows, k_offset, d, b0, b1, kt);
}

void transpose_keys(const uint16_t* const* rows, int64_t n_rows, int64_t k_offset, int64_t d, int64_t b0, int64_t b1,
                    float* kt) {
  simd::active().transpose_keys_bf16(rows, n_rows, k_offset, d, b0, b1, kt);
}

}  // namespace whale::kernels
