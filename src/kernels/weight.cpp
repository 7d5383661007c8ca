// Row dequantization for every storage dtype; FP8 rows apply their block's scale per 128 columns.
#include "kernels/weight.h"

#include <algorithm>

#include "core/convert.h"
#include "core/error.h"
#include "core/quant.h"

namespace whale::kernels {
namespace {

// Every e4m3 byte's value: a row decodes by table (absorbed MLA's transposed products decode kv_b
// rows on every decode step).
struct Fp8Values {
  float v[256];
  Fp8Values() {
    for (int b = 0; b < 256; ++b) v[b] = core::f8e4m3_to_f32(static_cast<uint8_t>(b));
  }
};
const Fp8Values kFp8Values;

}  // namespace

void dequantize_weight_row(const WeightView& w, int64_t r, float* out) {
  const int64_t cols = w.cols();
  const core::DType dt = w.w.dtype();
  const int64_t row_bytes = core::dtype_bytes(dt, cols);
  const auto* src = static_cast<const uint8_t*>(w.w.raw()) + r * row_bytes;
  if (dt == core::DType::kF8E4M3) {
    if (!w.scale_inv.defined() || w.scale_inv.ndim() != 2) {
      fail(ErrorKind::kInvalidArgument, "f8_e4m3 weight without a 2-d scale_inv tensor");
    }
    const float* scale = w.scale_inv.data<float>() + (r / w.block) * w.scale_inv.dim(1);
    for (int64_t c0 = 0; c0 < cols; c0 += w.block) {
      const float s = scale[c0 / w.block];
      const int64_t c1 = std::min(cols, c0 + w.block);
      for (int64_t c = c0; c < c1; ++c) out[c] = kFp8Values.v[src[c]] * s;
    }
    return;
  }
  core::convert_row(dt, src, core::DType::kF32, out, cols);
}

void dequantize_weight(const WeightView& w, float* out) {
  const int64_t rows = w.w.ndim() == 1 ? 1 : w.rows();
  for (int64_t r = 0; r < rows; ++r) dequantize_weight_row(w, r, out + r * w.cols());
}

}  // namespace whale::kernels
