// What a model costs: parameters in total and active per token (MoE reads only the routed
// experts it picks), MTP parameters, bytes per dtype, and KV-cache bytes per token of context.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "core/dtype.h"
#include "formats/model_args.h"

namespace whale::model {

struct ModelSummary {
  int64_t total_params = 0;   // main model (embeddings, layers, head), without MTP modules
  int64_t active_params = 0;  // main model parameters one token touches
  int64_t mtp_params = 0;     // the multi-token-prediction modules
  int64_t n_tensors = 0;
  std::map<core::DType, int64_t> bytes_by_dtype;  // stored bytes, FP8 scales included
  // KV cache per token of context, all layers, 16-bit values.
  int64_t kv_values_per_token = 0;       // what whale caches (MLA: latent + rope key)
  int64_t kv_bytes_per_token = 0;
  int64_t mha_kv_bytes_per_token = 0;    // standard multi-head attention with the same heads
};

ModelSummary summarize(const formats::ModelArgs& args);

// "671.0B", "2.4B", "15.7M"
std::string format_count(int64_t n);

}  // namespace whale::model
