// What one token costs the machine, from the loaded weights: the weight bytes a decode step reads
// (the memory roofline's denominator) and the multiply-adds of the weight matrices (prefill's).
#pragma once

#include <cstdint>

#include "model/weights.h"

namespace whale::model {

struct TokenCost {
  // Stored bytes of every matrix one decode token reads: attention, dense MLPs, the router, shared
  // experts, top-k routed experts (each MoE layer's mean expert size times k) and the output head;
  // not the embedding row, the KV cache, norms or MTP modules.
  int64_t weight_bytes = 0;
  // Multiply-adds of the same matrices for one token (their elements).
  int64_t weight_macs = 0;
};

TokenCost token_cost(const Weights& w);

}  // namespace whale::model
