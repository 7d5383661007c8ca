// Router conventions with hand-computed values: group-limited selection differing from plain top-k,
// the correction bias changing the choice but not the weights, norm_topk_prob, the scaling factor.
#include "model/moe_gate.h"

#include <gtest/gtest.h>

#include <cmath>

namespace whale::model {
namespace {

formats::ModelArgs v3_like() {
  formats::ModelArgs a;
  a.family = formats::Family::kDeepseekV3;
  a.n_routed_experts = 8;
  a.n_group = 4;  // groups {0,1} {2,3} {4,5} {6,7}
  a.topk_group = 2;
  a.num_experts_per_tok = 2;
  a.scoring_func = formats::ScoringFunc::kSigmoid;
  a.topk_method = formats::TopkMethod::kNoauxTc;
  a.norm_topk_prob = true;
  a.routed_scaling_factor = 2.5;
  return a;
}

// Logits whose sigmoids are the given affinities.
std::vector<float> logits_for(const std::vector<float>& s) {
  std::vector<float> u;
  for (float p : s) u.push_back(std::log(p / (1 - p)));
  return u;
}

const std::vector<float> kAffinity = {0.9f, 0.1f, 0.8f, 0.7f, 0.85f, 0.05f, 0.2f, 0.3f};

TEST(MoeGate, GroupLimitedDiffersFromPlainTopK) {
  // Group scores (sum of top 2): 1.0, 1.5, 0.9, 0.5 -> keep groups 1 and 0. Plain top-2 would take
  // experts 0 (0.9) and 4 (0.85); expert 4's group is dropped, so the choice is 0 and 2 (0.8).
  const formats::ModelArgs a = v3_like();
  std::vector<float> u = logits_for(kAffinity);
  Routing r;
  route_token(a, u.data(), nullptr, r);
  EXPECT_EQ(r.experts, (std::vector<int32_t>{0, 2}));
  EXPECT_NEAR(r.weights[0], 0.9 / 1.7 * 2.5, 1e-5);
  EXPECT_NEAR(r.weights[1], 0.8 / 1.7 * 2.5, 1e-5);
  formats::ModelArgs greedy = a;
  greedy.topk_method = formats::TopkMethod::kGreedy;
  u = logits_for(kAffinity);
  route_token(greedy, u.data(), nullptr, r);
  EXPECT_EQ(r.experts, (std::vector<int32_t>{0, 4}));
}

TEST(MoeGate, BiasChoosesButDoesNotWeight) {
  // +0.3 on expert 3: biased scores 0.9 0.1 0.8 1.0 ...; groups 1 and 0 kept; choice 3 then 0.
  // Weights use the unbiased affinities 0.7 and 0.9.
  const formats::ModelArgs a = v3_like();
  std::vector<float> u = logits_for(kAffinity);
  const std::vector<float> bias = {0, 0, 0, 0.3f, 0, 0, 0, 0};
  Routing r;
  route_token(a, u.data(), bias.data(), r);
  EXPECT_EQ(r.experts, (std::vector<int32_t>{3, 0}));
  EXPECT_NEAR(r.weights[0], 0.7 / 1.6 * 2.5, 1e-5);
  EXPECT_NEAR(r.weights[1], 0.9 / 1.6 * 2.5, 1e-5);
}

TEST(MoeGate, NormTopkProbOnAndOff) {
  formats::ModelArgs a = v3_like();
  a.norm_topk_prob = false;  // V3 without normalisation: raw affinities times the scale
  std::vector<float> u = logits_for(kAffinity);
  Routing r;
  route_token(a, u.data(), nullptr, r);
  EXPECT_NEAR(r.weights[0], 0.9 * 2.5, 1e-5);
  EXPECT_NEAR(r.weights[1], 0.8 * 2.5, 1e-5);
}

TEST(MoeGate, V2SoftmaxGreedyAndGroupLimited) {
  formats::ModelArgs a;
  a.family = formats::Family::kDeepseekV2;
  a.n_routed_experts = 4;
  a.n_group = 1;
  a.topk_group = 1;
  a.num_experts_per_tok = 2;
  a.scoring_func = formats::ScoringFunc::kSoftmax;
  a.topk_method = formats::TopkMethod::kGreedy;
  a.norm_topk_prob = false;
  a.routed_scaling_factor = 16.0;
  // exp(u) = 1, 2, 3, 4 -> s = 0.1, 0.2, 0.3, 0.4.
  std::vector<float> u = {0, std::log(2.0f), std::log(3.0f), std::log(4.0f)};
  Routing r;
  route_token(a, u.data(), nullptr, r);
  EXPECT_EQ(r.experts, (std::vector<int32_t>{3, 2}));
  EXPECT_NEAR(r.weights[0], 0.4 * 16, 1e-5);  // V2 without normalisation scales
  EXPECT_NEAR(r.weights[1], 0.3 * 16, 1e-5);
  a.norm_topk_prob = true;  // V2 with normalisation does not scale (Hugging Face's MoEGate)
  u = {0, std::log(2.0f), std::log(3.0f), std::log(4.0f)};
  route_token(a, u.data(), nullptr, r);
  EXPECT_NEAR(r.weights[0], 4.0 / 7, 1e-6);
  EXPECT_NEAR(r.weights[1], 3.0 / 7, 1e-6);

  // group_limited_greedy: 8 experts in 4 groups, group score = max; keep 2 groups.
  a.n_routed_experts = 8;
  a.n_group = 4;
  a.topk_group = 2;
  a.topk_method = formats::TopkMethod::kGroupLimitedGreedy;
  a.norm_topk_prob = false;
  a.routed_scaling_factor = 1.0;
  // exp(u) = 8 1 | 2 7 | 6 6 | 1 1 (sum 32): group maxima 8, 7, 6, 1 -> keep groups 0 and 1.
  // Plain top-2 is {0, 3}; also {0, 3} here, so use k = 3: plain {0, 3, 4}, limited {0, 3, 2}.
  a.num_experts_per_tok = 3;
  const float e[8] = {8, 1, 2, 7, 6, 6, 1, 1};
  u.clear();
  for (float v : e) u.push_back(std::log(v));
  route_token(a, u.data(), nullptr, r);
  EXPECT_EQ(r.experts, (std::vector<int32_t>{0, 3, 2}));
  EXPECT_NEAR(r.weights[2], 2.0 / 32, 1e-6);
}

}  // namespace
}  // namespace whale::model
