// Expert selection per REFERENCE.md §2 and Hugging Face's MoEGate for V2 and V3.
#include "model/moe_gate.h"

#include <algorithm>
#include <limits>
#include <numeric>

#include "kernels/ops.h"

namespace whale::model {
namespace {

// kernels::topk (the k largest of x[0, n), largest first, ties to the lower index) with its index
// list in `order`, reused from call to call rather than allocated per call.
void top_k(const float* x, int64_t n, int64_t k, std::vector<int64_t>& order, int64_t* idx) {
  order.resize(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  k = std::min(k, n);
  std::partial_sort(order.begin(), order.begin() + k, order.end(), [x](int64_t a, int64_t b) {
    return x[a] > x[b] || (x[a] == x[b] && a < b);
  });
  std::copy(order.begin(), order.begin() + k, idx);
}

}  // namespace

void route_token(const formats::ModelArgs& a, float* s, const float* bias, Routing& out) {
  const int64_t E = a.n_routed_experts, k = a.num_experts_per_tok, groups = a.n_group;
  const int64_t per_group = E / groups;
  if (a.scoring_func == formats::ScoringFunc::kSigmoid) {
    kernels::sigmoid(s, E);  // s_i = sigmoid(u_i)
  } else {
    kernels::softmax(s, E);  // s_i = softmax(u)_i
  }
  std::vector<float>& choose = out.choose;  // [E] the scores that choose: s_i (+ bias_i)
  choose.assign(s, s + E);
  if (bias) {
    for (int64_t e = 0; e < E; ++e) choose[e] += bias[e];
  }
  std::vector<int64_t>& top = out.top;
  top.resize(static_cast<size_t>(std::max(k, groups)));
  if (a.topk_method != formats::TopkMethod::kGreedy && groups > 1) {
    std::vector<float>& group_score = out.group_score;
    group_score.resize(static_cast<size_t>(groups));
    int64_t top2[2];
    for (int64_t g = 0; g < groups; ++g) {
      const float* cg = choose.data() + g * per_group;
      if (a.topk_method == formats::TopkMethod::kNoauxTc) {  // the sum of the group's two best biased scores
        top_k(cg, per_group, 2, out.order, top2);
        group_score[g] = cg[top2[0]] + (per_group > 1 ? cg[top2[1]] : 0.0f);
      } else {  // group_limited_greedy: the group's best score
        group_score[g] = *std::max_element(cg, cg + per_group);
      }
    }
    top_k(group_score.data(), groups, a.topk_group, out.order, top.data());
    out.keep.assign(static_cast<size_t>(groups), 0);
    for (int64_t i = 0; i < a.topk_group; ++i) out.keep[static_cast<size_t>(top[i])] = 1;
    // Experts of dropped groups can never be chosen (DeepSeek's inference code masks with -inf).
    for (int64_t e = 0; e < E; ++e) {
      if (!out.keep[static_cast<size_t>(e / per_group)]) choose[e] = -std::numeric_limits<float>::infinity();
    }
  }
  top_k(choose.data(), E, k, out.order, top.data());
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
