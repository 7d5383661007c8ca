// The MoE router's decision for one token, from its router logits: DeepSeek-V2's softmax with
// greedy or group-limited selection, and V3's sigmoid with bias-steered group selection (noaux_tc).
// A pure function, so the conventions can be tested with hand-computed values.
#pragma once

#include <cstdint>
#include <vector>

#include "formats/model_args.h"

namespace whale::model {

struct Routing {
  std::vector<int32_t> experts;  // [k], best first
  std::vector<float> weights;    // [k]
  // route_token's working space, kept here so one Routing reused token after token allocates
  // nothing new: biased scores [E], group scores [n_group], kept groups, top-k indices.
  std::vector<float> choose, group_score;
  std::vector<uint8_t> keep;
  std::vector<int64_t> order, top;
};

// `logits`: the router's n_routed_experts outputs (overwritten with the affinities s_i);
// `bias`: e_score_correction_bias or null. The bias only chooses experts; weights use unbiased s_i.
void route_token(const formats::ModelArgs& a, float* logits, const float* bias, Routing& out);

}  // namespace whale::model
