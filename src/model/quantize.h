// Load-time re-quantization of weight matrices (`--quant bf16|q8_0|q4_0|q2_k..q6_k`): each row is
// decoded to f32 and encoded in the target dtype, so any stored dtype (FP8 included) converts.
#pragma once

#include <optional>

#include "core/dtype.h"
#include "core/thread_pool.h"
#include "kernels/weight.h"

namespace whale::model {

// The weight in `target`, or std::nullopt when its rows are not a whole number of the target's
// blocks (the caller keeps the original, as llama.cpp's quantizer falls back for such tensors).
std::optional<kernels::WeightView> quantize_weight(const kernels::WeightView& w, core::DType target,
                                                   core::ThreadPool& pool);

}  // namespace whale::model
