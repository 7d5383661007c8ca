// iq2_xxs and iq1_s decoding (the grids are in quant_iq_grids.cpp, generated).
#include "core/quant_iq.h"

#include <cstring>

#include "core/error.h"
#include "core/convert.h"

namespace whale::core {

bool is_iq_codebook(DType t) { return t == DType::kIQ2_XXS || t == DType::kIQ1_S; }

float iq_group(DType t, const void* blk, int g, int8_t* q) {
  if (t == DType::kIQ2_XXS) {
    const auto& b = *static_cast<const BlockIQ2_XXS*>(blk);
    uint32_t aux[2];
    std::memcpy(aux, b.qs + 4 * g, 8);
    for (int k = 0; k < 4; ++k) {
      const uint64_t row = kIQ2XXSGrid[(aux[0] >> (8 * k)) & 0xFF];
      const uint8_t signs = kIQ2XXSSigns[(aux[1] >> (7 * k)) & 127];
      for (int j = 0; j < 8; ++j) {
        const auto m = static_cast<int8_t>((row >> (8 * j)) & 0xFF);
        q[8 * k + j] = (signs >> j) & 1 ? static_cast<int8_t>(-m) : m;
      }
    }
    return f16_to_f32(b.d) * (0.5f + static_cast<float>(aux[1] >> 28)) * 0.25f;
  }
  const auto& b = *static_cast<const BlockIQ1_S*>(blk);
  const uint16_t qh = b.qh[g];
  const int8_t delta = (qh & 0x8000) ? -1 : 1;
  for (int k = 0; k < 4; ++k) {
    const uint64_t row = kIQ1SGrid[b.qs[4 * g + k] | (((qh >> (3 * k)) & 7) << 8)];
    for (int j = 0; j < 8; ++j) {
      const auto v = static_cast<int8_t>((row >> (8 * j)) & 0xFF);
      q[8 * k + j] = static_cast<int8_t>(8 * v + delta);
    }
  }
  return f16_to_f32(b.d) * static_cast<float>(2 * ((qh >> 12) & 7) + 1) * 0.125f;
}

void dequantize_row_iq(DType t, const void* src, float* dst, int64_t n) {
  if (!is_iq_codebook(t) || n % 256 != 0) {
    fail(ErrorKind::kInvalidArgument, "dequantize_row: ", n, " elements of ", dtype_name(t),
         " (a whole number of 256-element blocks of iq2_xxs or iq1_s)");
  }
  const int64_t bytes = dtype_info(t).block_bytes;
  const auto* p = static_cast<const uint8_t*>(src);
  int8_t q[32];
  for (int64_t b = 0; b < n / 256; ++b) {
    for (int g = 0; g < 8; ++g) {
      float* y = dst + 256 * b + 32 * g;
      // iq2_xxs: ggml's y = db * grid * (±1) with q = ±grid is the same product. iq1_s: ggml's
      // y = dl * (grid ± 1/8) is (dl / 8) * (8 grid ± 1) exactly, both scalings powers of two, so
      // the one rounding of the product is the same.
      const float s = iq_group(t, p + b * bytes, g, q);
      for (int j = 0; j < 32; ++j) y[j] = s * static_cast<float>(q[j]);
    }
  }
}

}  // namespace whale::core
