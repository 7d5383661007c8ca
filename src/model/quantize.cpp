// Row-parallel decode-then-encode into a new owning tensor.
#include "model/quantize.h"

#include <vector>

#include "core/convert.h"
#include "core/error.h"

namespace whale::model {

std::optional<kernels::WeightView> quantize_weight(const kernels::WeightView& w, core::DType target,
                                                   core::ThreadPool& pool) {
  const core::DTypeInfo& info = core::dtype_info(target);
  if (!info.is_float || target == core::DType::kF8E4M3) {
    fail(ErrorKind::kUnsupported, "cannot quantize weights to ", info.name, " at load time");
  }
  const int64_t rows = w.w.ndim() == 1 ? 1 : w.rows(), cols = w.cols();
  if (cols % info.block_elems != 0) return std::nullopt;
  kernels::WeightView out;
  out.w = core::Tensor::empty(target, w.w.shape());
  const int64_t row_bytes = core::dtype_bytes(target, cols);
  pool.parallel_for(rows, [&](int64_t b, int64_t e, int) {
    std::vector<float> row(static_cast<size_t>(cols));
    for (int64_t r = b; r < e; ++r) {
      kernels::dequantize_weight_row(w, r, row.data());
      core::convert_row(core::DType::kF32, row.data(), target, static_cast<char*>(out.w.raw()) + r * row_bytes, cols);
    }
  });
  return out;
}

}  // namespace whale::model
