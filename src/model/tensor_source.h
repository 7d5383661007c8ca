// TensorSource: tensors looked up by Hugging Face name, whatever file they come from (safetensors
// directory or GGUF), and bind_weights, the one place that walks a model's structure and binds
// every tensor to Weights. Each file format only says how to find a tensor.
#pragma once

#include <string>
#include <vector>

#include "model/weights.h"

namespace whale::model {

class TensorSource {
 public:
  virtual ~TensorSource() = default;
  // A weight matrix, re-quantized when the load options ask for it.
  virtual WeightView matrix(const std::string& name) = 0;
  // The tensor as stored (norms, biases, the router).
  virtual WeightView stored(const std::string& name) const = 0;

  // MLA's W_ukᵀ and W_uv as stored separately (MlaWeights::uk_t, uv) for the kv_b_proj of this
  // name, where the file has them; false otherwise.
  virtual bool kv_b_halves(const std::string& kv_b_name, WeightView& uk_t, WeightView& uv) {
    (void)kv_b_name, (void)uk_t, (void)uv;
    return false;
  }

  std::vector<float> vec(const std::string& name) const;
  MlpWeights mlp(const std::string& prefix);
};

// Fills w.embed, w.final_norm, w.lm_head and w.layers for w.args from `src`.
void bind_weights(TensorSource& src, Weights& w);

}  // namespace whale::model
