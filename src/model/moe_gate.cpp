// Expert selection per REFERENCE.md §2 and Hugging Face's MoEGate for V2 and V3.
#include "model/moe_gate.h"

#include <algorithm>
#include <limits>

#include "kernels/ops.h"

namespace whale::model {

void route_token(const formats::ModelArgs& a, float* s, const float* bias, Routing& out) {
  const int64_t E = a.n_routed_experts, k = a.num_experts_per_tok, groups = a.n_group;
  const int64_t per_group = E / groups;
  if (a.scoring_func == "sigmoid") {
    kernels::sigmoid(s, E);  // s_i = sigmoid(u_i)
  } else {
    kernels::softmax(s, E);  // s_i = softmax(u)_i
  }
  std::vector<float> choose(s, s + E);
  if (bias) {
    for (int64_t e = 0; e < E; ++e) choose[e] += bias[e];
  }
  std::vector<int64_t> top(static_cast<size_t>(std::max(k, groups)));
  if (a.topk_method != "greedy" && groups > 1) {
    std::vector<float> group_score(static_cast<size_t>(groups));
    int64_t top2[2];
    for (int64_t g = 0; g < groups; ++g) {
      const float* cg = choose.data() + g * per_group;
      if (a.topk_method == "noaux_tc") {  // the sum of the group's two best biased scores
        kernels::topk(cg, per_group, 2, top2);
        group_score[g] = cg[top2[0]] + (per_group > 1 ? cg[top2[1]] : 0.0f);
      } else {  // group_limited_greedy: the group's best score
        group_score[g] = *std::max_element(cg, cg + per_group);
      }
    }
    kernels::topk(group_score.data(), groups, a.topk_group, top.data());
    std::vector<bool> keep(static_cast<size_t>(groups), false);
    for (int64_t i = 0; i < a.topk_group; ++i) keep[static_cast<size_t>(top[i])] = true;
    // Experts of dropped groups can never be chosen (DeepSeek's inference code masks with -inf).
    for (int64_t e = 0; e < E; ++e) {
      if (!keep[static_cast<size_t>(e / per_group)]) choose[e] = -std::numeric_limits<float>::infinity();
    }
  }
  kernels::topk(choose.data(), E, k, top.data());
  out.experts.resize(static_cast<size_t>(k));
  out.weights.resize(static_cast<size_t>(k));
  float sum = 0.0f;
  for (int64_t j = 0; j < k; ++j) {
    out.experts[j] = static_cast<int32_t>(top[j]);
    out.weights[j] = s[top[j]];  // unbiased affinity
    sum += s[top[j]];
  }
  const bool normalise = k > 1 && a.norm_topk_prob;
  // V3 always scales; Hugging Face's V2 gate scales only when it does not normalise.
  const bool scale = a.family == formats::Family::kDeepseekV3 || !normalise;
  for (float& wt : out.weights) {
    if (normalise) wt /= sum + 1e-20f;
    if (scale) wt *= static_cast<float>(a.routed_scaling_factor);
  }
}

}  // namespace whale::model
