// MoE balancing in training by hand: expert loads over real tokens, MaxVio, the balance loss per
// sequence versus per batch, and the auxiliary-loss-free bias rule.
#include <gtest/gtest.h>

#include "train/moe_balance.h"

namespace whale::train {
namespace {

TEST(MoeBalance, MaxVioByHand) {
  EXPECT_DOUBLE_EQ(max_vio(torch::tensor({3.0, 1.0, 2.0, 2.0}, torch::kFloat64)), 0.5);  // (3 - 2) / 2
  EXPECT_DOUBLE_EQ(max_vio(torch::tensor({2.0, 2.0}, torch::kFloat64)), 0.0);
  EXPECT_DOUBLE_EQ(max_vio(torch::zeros({4}, torch::kFloat64)), 0.0);  // nothing routed
}

TEST(MoeBalance, ExpertLoadsCountRealTokensOnly) {
  nn::Routing r;
  r.ids = torch::tensor({0, 1, 1, 2, 3, 3}, torch::kInt64).view({3, 2});  // 3 tokens, top-2
  const std::map<int64_t, nn::Routing> routing = {{0, r}, {2, r}};      // layer 2: an MTP module
  const torch::Tensor real_main = torch::tensor({true, true, false});
  const torch::Tensor real_mtp = torch::tensor({false, true, true});
  const auto loads = expert_loads(routing, real_main, real_mtp, /*main_layers=*/2, /*E=*/4);
  ASSERT_EQ(loads.size(), 2u);
  EXPECT_TRUE(torch::equal(loads.at(0), torch::tensor({1.0, 2.0, 1.0, 0.0}, torch::kFloat64)));
  EXPECT_TRUE(torch::equal(loads.at(2), torch::tensor({0.0, 1.0, 1.0, 2.0}, torch::kFloat64)));
}

TEST(MoeBalance, LossPerSequenceAndPerBatchByHand) {
  // 2 tokens, 2 experts, top-1; token 0 goes to expert 0 (s = .75/.25), token 1 to expert 1 (.5/.5).
  nn::Routing r;
  r.scores = torch::tensor({0.75f, 0.25f, 0.5f, 0.5f}).view({2, 2});
  r.ids = torch::tensor({0, 1}, torch::kInt64).view({2, 1});
  const torch::Tensor real = torch::tensor({true, true});
  // Batch (one group): f = E/(K·T)·count = [1, 1], P = [.625, .375] -> 1.
  EXPECT_NEAR(balance_loss(r, real, 1, 1).item<double>(), 1.0, 1e-6);
  // Per sequence of one token: f = [2, 0], P = [.75, .25] -> 1.5; f = [0, 2], P = [.5, .5] -> 1; mean 1.25.
  EXPECT_NEAR(balance_loss(r, real, 2, 1).item<double>(), 1.25, 1e-6);
  // Padding is not counted: only token 0, f = [2, 0], P = [.75, .25] -> 1.5.
  EXPECT_NEAR(balance_loss(r, torch::tensor({true, false}), 1, 1).item<double>(), 1.5, 1e-6);
  // Unnormalised scores are normalised per token first.
  r.scores = r.scores * 4;
  EXPECT_NEAR(balance_loss(r, real, 1, 1).item<double>(), 1.0, 1e-6);
}

TEST(MoeBalance, BiasRuleByHand) {
  const std::map<int64_t, torch::Tensor> loads = {{0, torch::tensor({3.0, 1.0, 2.0, 2.0}, torch::kFloat64)},
                                                  {5, torch::tensor({1.0, 1.0, 1.0, 1.0}, torch::kFloat64)}};
  std::map<int64_t, torch::Tensor> biases = {{0, torch::zeros({4})}};  // layer 5 has no bias (not noaux_tc)
  BalanceStats s = update_biases(loads, biases, /*gamma=*/0.1);
  // b += γ·sign(mean − load): mean 2 -> [-0.1, +0.1, 0, 0].
  EXPECT_TRUE(torch::allclose(biases.at(0), torch::tensor({-0.1f, 0.1f, 0.0f, 0.0f})));
  EXPECT_EQ(s.maxvio, (std::vector<double>{0.5, 0.0}));
  EXPECT_DOUBLE_EQ(s.maxvio_sum, 0.5);
  EXPECT_FLOAT_EQ(s.bias_min, -0.1f);
  EXPECT_FLOAT_EQ(s.bias_max, 0.1f);
  // γ = 0 (aux_loss / none): the bias stays, the statistics are still measured.
  s = update_biases(loads, biases, /*gamma=*/0.0);
  EXPECT_TRUE(torch::allclose(biases.at(0), torch::tensor({-0.1f, 0.1f, 0.0f, 0.0f})));
  EXPECT_FLOAT_EQ(s.bias_max, 0.1f);
}

}  // namespace
}  // namespace whale::train
