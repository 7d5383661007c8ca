// TensorSource: the tensors of a tensor-table entry, whatever file they come from (safetensors
// directory, GGUF, tensors in memory), and bind_weights, which walks the tensor table and puts
// every entry into the Weights field its role names. Each file format only says how to read one.
#pragma once

#include <vector>

#include "formats/tensor_table.h"
#include "model/weights.h"

namespace whale::model {

class TensorSource {
 public:
  virtual ~TensorSource() = default;
  // A weight matrix, re-quantized when the load options ask for it.
  virtual WeightView matrix(const formats::TensorSpec& t) = 0;
  // The tensor as stored (norms, biases, the router).
  virtual WeightView stored(const formats::TensorSpec& t) const = 0;

  // MLA's W_ukᵀ and W_uv as stored separately (MlaWeights::uk_t, uv) for this kv_b_proj entry,
  // where the file has them; false otherwise.
  virtual bool kv_b_halves(const formats::TensorSpec& kv_b, WeightView& uk_t, WeightView& uv) {
    (void)kv_b, (void)uk_t, (void)uv;
    return false;
  }

  std::vector<float> vec(const formats::TensorSpec& t) const;
};

// Sets w.arch from w.args, then fills every field of w the tensor table lists for w.args from `src`
// and packs the matrices for the int8 kernels.
// With `keep`, only the entries it accepts (LoadOptions::keep).
void bind_weights(TensorSource& src, Weights& w,
                  const std::function<bool(const formats::TensorSpec&)>& keep = {});

}  // namespace whale::model
