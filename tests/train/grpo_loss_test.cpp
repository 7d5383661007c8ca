// GRPO's pure steps by hand: advantages (group-normalised, Dr. GRPO's without std, zero-variance
// groups), group selection for DAPO's dynamic sampling, the overlong penalty, micro-batch packing,
// the three loss normalisations with and without the KL term, the loss metrics, and which
// rollouts samples.jsonl keeps.
#include <gtest/gtest.h>

#include <cmath>

#include "train/grpo_advantages.h"
#include "train/grpo_loss.h"
#include "train/grpo_rollout.h"

namespace whale::train {
namespace {

TEST(GrpoAdvantages, GroupNormalisedByHand) {
  // rewards 3, 1: mean 2, population std 1 -> ±1/(1 + 1e-6); DAPO normalises the same way.
  for (GrpoVariant v : {GrpoVariant::kGrpo, GrpoVariant::kDapo}) {
    const auto a = group_advantages({3, 1}, v);
    ASSERT_EQ(a.size(), 2u);
    EXPECT_DOUBLE_EQ(a[0], 1.0 / (1.0 + 1e-6));
    EXPECT_DOUBLE_EQ(a[1], -1.0 / (1.0 + 1e-6));
  }
  // rewards 1, 0, 0, 0, 0: mean 0.2, std 0.4 -> 0.8/0.4 = 2, -0.2/0.4 = -0.5 (up to the 1e-6).
  const auto b = group_advantages({1, 0, 0, 0, 0}, GrpoVariant::kGrpo);
  EXPECT_NEAR(b[0], 2.0, 1e-5);
  EXPECT_NEAR(b[4], -0.5, 1e-5);
}

TEST(GrpoAdvantages, DrGrpoHasNoStdDivision) {
  const auto a = group_advantages({3, 1, 2}, GrpoVariant::kDrGrpo);
  EXPECT_DOUBLE_EQ(a[0], 1.0);
  EXPECT_DOUBLE_EQ(a[1], -1.0);
  EXPECT_DOUBLE_EQ(a[2], 0.0);
  // A tiny spread stays tiny (GRPO would blow it up to about ±1).
  const auto b = group_advantages({0.0, 0.5, 1.0}, GrpoVariant::kDrGrpo);
  EXPECT_DOUBLE_EQ(b[0], -0.5);
  EXPECT_DOUBLE_EQ(b[2], 0.5);
}

TEST(GrpoAdvantages, ZeroVarianceGroupsGiveZero) {
  for (GrpoVariant v : {GrpoVariant::kGrpo, GrpoVariant::kDrGrpo, GrpoVariant::kDapo}) {
    for (double x : group_advantages({0.7, 0.7, 0.7, 0.7}, v)) EXPECT_EQ(x, 0.0);
  }
  // Nearly equal rewards: the 1e-6 is added to the std (not the variance), so the advantages stay
  // bounded: ±5e-10 / (5e-10 + 1e-6).
  const auto a = group_advantages({1.0, 1.0 + 1e-9}, GrpoVariant::kGrpo);
  EXPECT_NEAR(a[1], 5e-10 / (5e-10 + 1e-6), 1e-9);
  EXPECT_LT(std::abs(a[0]), 1e-3);
}

TEST(GrpoAdvantages, SelectGroupsDropsUniformOnesOnlyForDapo) {
  const std::vector<double> r = {1, 1, 0, 1, 0, 0};  // groups of 2: uniform, mixed, uniform
  const GroupSelection g = select_groups(r, 2, GrpoVariant::kGrpo);
  EXPECT_EQ(g.kept, (std::vector<size_t>{0, 1, 2}));
  EXPECT_EQ(g.uniform, 2u);
  EXPECT_EQ(select_groups(r, 2, GrpoVariant::kDrGrpo).kept, (std::vector<size_t>{0, 1, 2}));
  const GroupSelection d = select_groups(r, 2, GrpoVariant::kDapo);
  EXPECT_EQ(d.kept, (std::vector<size_t>{1}));
  EXPECT_EQ(d.uniform, 2u);
  EXPECT_EQ(select_groups({0.5, 0.5, 0.5}, 3, GrpoVariant::kDapo).kept.size(), 0u);
}

TEST(GrpoAdvantages, OverlongPenaltyByHand) {
  // max_tokens 100, buffer 20, penalty 1: 0 through length 80, then -1/20 per token.
  EXPECT_EQ(overlong_reward(50, 100, 20, 1.0), 0.0);
  EXPECT_EQ(overlong_reward(80, 100, 20, 1.0), 0.0);
  EXPECT_DOUBLE_EQ(overlong_reward(81, 100, 20, 1.0), -0.05);
  EXPECT_DOUBLE_EQ(overlong_reward(90, 100, 20, 1.0), -0.5);
  EXPECT_DOUBLE_EQ(overlong_reward(100, 100, 20, 2.0), -2.0);
  EXPECT_EQ(overlong_reward(100, 100, 0, 1.0), 0.0);  // off
}

TEST(GrpoLoss, PackMicroBatchesByHand) {
  const std::vector<int32_t> pa = {1, 2}, ca = {3, 4, 5}, pb = {6}, cb = {7}, pc = {8, 9, 10}, cc = {11, 12, 13, 14};
  const std::vector<int32_t> pd = {15}, cd = {};
  // Lengths 5, 2, 7, 1: sorted (stable) D, B | A, C.
  const std::vector<UpdateRow> rows = {{&pa, &ca, 0.5}, {&pb, &cb, -1.0}, {&pc, &cc, 2.0}, {&pd, &cd, 0.25}};
  const std::vector<MicroBatch> m = pack_micro_batches(rows, /*pad=*/99, /*micro=*/2);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_TRUE(torch::equal(m[0].tokens, torch::tensor({15, 99, 6, 7}, torch::kInt64).view({2, 2})));
  EXPECT_TRUE(torch::equal(m[0].mask, torch::tensor({0.0f, 1.0f}).view({2, 1})));
  EXPECT_TRUE(torch::equal(m[0].ntok, torch::tensor({1.0f, 1.0f})));  // an empty completion counts 1
  EXPECT_TRUE(torch::equal(m[0].A, torch::tensor({0.25f, -1.0f}).view({2, 1})));
  EXPECT_TRUE(torch::equal(m[1].tokens, torch::tensor({1, 2, 3, 4, 5, 99, 99, 8, 9, 10, 11, 12, 13, 14}, torch::kInt64).view({2, 7})));
  EXPECT_TRUE(torch::equal(m[1].mask, torch::tensor({0.f, 1.f, 1.f, 1.f, 0.f, 0.f, 0.f, 0.f, 1.f, 1.f, 1.f, 1.f}).view({2, 6})));
  EXPECT_TRUE(torch::equal(m[1].ntok, torch::tensor({3.0f, 4.0f})));
  EXPECT_TRUE(torch::equal(m[1].A, torch::tensor({0.5f, 2.0f}).view({2, 1})));
  EXPECT_TRUE(torch::equal(m[1].positions[1], torch::arange(7, torch::kInt64)));
  EXPECT_FALSE(m[1].old_logp.defined());
  EXPECT_FALSE(m[1].ref_logp.defined());
}

TEST(GrpoLoss, TokenLogpByHand) {
  // Logits at t predict the token at t + 1: softmax([0, ln 3]) = [1/4, 3/4] -> token 1: ln 3/4;
  // softmax([ln 2, 0]) = [2/3, 1/3] -> token 0: ln 2/3. The last position predicts nothing.
  const torch::Tensor logits = torch::tensor({0.0, std::log(3.0), std::log(2.0), 0.0, 5.0, -5.0}, torch::kFloat32).view({1, 3, 2});
  const torch::Tensor tokens = torch::tensor({0, 1, 0}, torch::kInt64).view({1, 3});
  const torch::Tensor lp = token_logp(logits, tokens);
  ASSERT_EQ(lp.sizes(), (std::vector<int64_t>{1, 2}));
  EXPECT_NEAR(lp[0][0].item<double>(), std::log(0.75), 1e-6);
  EXPECT_NEAR(lp[0][1].item<double>(), std::log(2.0 / 3.0), 1e-6);
}

// Two rows of two positions; row 1 scores only its second token.
MicroBatch hand_batch() {
  MicroBatch m;
  m.mask = torch::tensor({1.0f, 1.0f, 0.0f, 1.0f}).view({2, 2});
  m.ntok = torch::tensor({2.0f, 1.0f});
  m.A = torch::tensor({1.0f, -1.0f}).view({2, 1});
  return m;
}

torch::Tensor logs(std::initializer_list<double> p) {
  std::vector<double> v;
  for (double x : p) v.push_back(std::log(x));
  return torch::tensor(v, torch::kFloat32).view({2, 2});
}

TEST(GrpoLoss, ThreeNormalisationsByHand) {
  MicroBatch m = hand_batch();
  const torch::Tensor logp = logs({0.5, 0.25, 0.8, 0.1});
  m.old_logp = logs({0.4, 0.25, 0.5, 0.2});
  // ratio [[1.25, 1], [1.6, 0.5]]; clip range [0.8, 1.28]. Row 0 (A = 1): min(ρ, clip ρ) = 1.25, 1;
  // row 1 (A = -1): min(-1.6, -1.28) = -1.6, min(-0.5, -0.8) = -0.8. Per-token loss = -that:
  // [[-1.25, -1], [1.6 (masked), 0.8]].
  LossSpec spec{.clip_low = 0.2, .clip_high = 0.28, .beta = 0, .rows = 4, .tokens = 6, .max_tokens = 5};
  spec.variant = GrpoVariant::kGrpo;  // Σ_rows (Σ_t / n_tok) / rows = (-2.25/2 + 0.8/1) / 4
  PolicyLoss l = policy_loss(m, logp, spec);
  EXPECT_NEAR(l.loss.item<double>(), (-2.25 / 2 + 0.8) / 4, 1e-6);
  EXPECT_TRUE(torch::allclose(l.ratio, torch::tensor({1.25f, 1.0f, 1.6f, 0.5f}).view({2, 2})));
  EXPECT_FALSE(l.kl.defined());
  spec.variant = GrpoVariant::kDapo;  // Σ / tokens of the whole batch
  EXPECT_NEAR(policy_loss(m, logp, spec).loss.item<double>(), -1.45 / 6, 1e-6);
  spec.variant = GrpoVariant::kDrGrpo;  // Σ / (rows · max_tokens)
  EXPECT_NEAR(policy_loss(m, logp, spec).loss.item<double>(), -1.45 / 20, 1e-6);

  // With a reference: + β·k3, k3 = e^d - d - 1, d = ref - logp: 0 and 1 - ln 2 in row 0, 7 - ln 8
  // for row 1's scored token.
  m.ref_logp = logs({0.5, 0.5, 0.8, 0.8});
  spec.beta = 0.1;
  spec.variant = GrpoVariant::kDapo;
  l = policy_loss(m, logp, spec);
  ASSERT_TRUE(l.kl.defined());
  EXPECT_NEAR(l.kl[0][1].item<double>(), 1 - std::log(2.0), 1e-6);
  EXPECT_NEAR(l.kl[1][1].item<double>(), 7 - std::log(8.0), 1e-5);
  EXPECT_NEAR(l.loss.item<double>(), (-1.45 + 0.1 * (1 - std::log(2.0)) + 0.1 * (7 - std::log(8.0))) / 6, 1e-6);
}

TEST(GrpoLoss, OnPolicyRatioIsOneWithTheSurrogateGradient) {
  // Without old_logp, π_old = π_θ.detach(): ratio 1, and d loss / d logp = -A·mask / (n_tok · rows)
  // for GRPO.
  const MicroBatch m = hand_batch();
  const torch::Tensor logp = logs({0.5, 0.25, 0.8, 0.1}).requires_grad_(true);
  const LossSpec spec{.variant = GrpoVariant::kGrpo, .rows = 4, .tokens = 3, .max_tokens = 5};
  const PolicyLoss l = policy_loss(m, logp, spec);
  EXPECT_TRUE(torch::equal(l.ratio, torch::ones({2, 2})));
  EXPECT_NEAR(l.loss.item<double>(), (-2.0 / 2 + 1.0 / 1) / 4, 1e-7);
  l.loss.backward();
  EXPECT_TRUE(torch::allclose(logp.grad(), torch::tensor({-0.125f, -0.125f, 0.0f, 0.25f}).view({2, 2})));
}

// Gradient of a whole update batch on a toy policy (logits = a table row per token) for the given
// rows and normalisers, summed over micro-batches of 2 as update() does.
torch::Tensor batch_gradient(const std::vector<UpdateRow>& rows, const LossSpec& spec) {
  torch::manual_seed(3);
  torch::Tensor table = torch::randn({6, 6}).requires_grad_(true);
  for (const MicroBatch& m : pack_micro_batches(rows, 0, 2)) {
    const torch::Tensor logits = table.index({m.tokens});
    policy_loss(m, token_logp(logits, m.tokens), spec).loss.backward();
  }
  return table.grad();
}

TEST(GrpoLoss, SkippingUniformGroupsKeepsTheGradient) {
  // Two groups of two: rewards {1, 0} (informative) and {1, 1} (uniform, advantage 0).
  const std::vector<int32_t> p1{1, 2}, c1{3, 4}, c2{5}, p2{2}, c3{4, 4, 1}, c4{3};
  const std::vector<UpdateRow> rows = {{&p1, &c1, 1.0, false}, {&p1, &c2, -1.0, false},
                                       {&p2, &c3, 0.0, true}, {&p2, &c4, 0.0, true}};
  const std::vector<UpdateRow> kept = backward_rows(rows, true);
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(backward_rows(rows, false).size(), 4u);
  for (GrpoVariant v : {GrpoVariant::kGrpo, GrpoVariant::kDapo, GrpoVariant::kDrGrpo}) {
    const LossSpec all{.variant = v, .rows = 4, .tokens = 7, .max_tokens = 3};  // beta 0
    const torch::Tensor full = batch_gradient(rows, all);
    EXPECT_TRUE(torch::allclose(batch_gradient(kept, all), full, 1e-6, 1e-7)) << static_cast<int>(v);
    // Normalisers taken over the kept rows only would change the step (what backward_rows forbids).
    const LossSpec kept_only{.variant = v, .rows = 2, .tokens = 3, .max_tokens = 3};
    EXPECT_FALSE(torch::allclose(batch_gradient(kept, kept_only), full, 1e-4, 1e-6)) << static_cast<int>(v);
  }
}

TEST(GrpoLoss, StatsByHand) {
  MicroBatch m = hand_batch();
  const torch::Tensor logp = logs({0.5, 0.25, 0.8, 0.1});
  m.old_logp = logs({0.4, 0.25, 0.5, 0.2});
  m.ref_logp = logs({0.5, 0.5, 0.8, 0.8});
  const LossSpec spec{.variant = GrpoVariant::kDapo, .clip_low = 0.2, .clip_high = 0.28, .beta = 0.1, .rows = 4, .tokens = 6};
  const PolicyLoss l = policy_loss(m, logp, spec);
  const torch::Tensor logits = torch::zeros({2, 3, 4});  // uniform over 4: entropy ln 4 everywhere
  LossStats s;
  add_loss_stats(s, m, logits, logp, l, spec);
  add_loss_stats(s, m, logits, logp, l, spec);  // sums over micro-batches
  EXPECT_NEAR(s.loss, 2 * l.loss.item<double>(), 1e-9);
  EXPECT_NEAR(s.sampled_logp, 2 * std::log(0.5 * 0.25 * 0.1) / 6, 1e-6);
  EXPECT_NEAR(s.kl, 2 * (1 - std::log(2.0) + 7 - std::log(8.0)) / 6, 1e-5);
  EXPECT_NEAR(s.clip_fraction, 2 * 1.0 / 6, 1e-9);  // only row 1's ratio 0.5 is scored and outside
  EXPECT_NEAR(s.entropy, 2 * 3 * std::log(4.0) / 6, 1e-6);
}

TEST(GrpoRollout, SamplesAreTheFirstAndTheFirstCorrect) {
  auto rollouts = [](std::initializer_list<bool> correct) {
    std::vector<Rollout> r;
    for (bool c : correct) r.push_back({.correct = c});
    return r;
  };
  EXPECT_EQ(sample_indices(rollouts({false, false, true, true})), (std::vector<size_t>{0, 2}));
  EXPECT_EQ(sample_indices(rollouts({true, false, true})), (std::vector<size_t>{0}));
  EXPECT_EQ(sample_indices(rollouts({false, false})), (std::vector<size_t>{0}));
  EXPECT_TRUE(sample_indices({}).empty());
  std::vector<Rollout> r = rollouts({false, true});
  r[0].reward = 0.5;
  r[1].reward = 1.5;
  EXPECT_EQ(rollout_rewards(r), (std::vector<double>{0.5, 1.5}));
}

}  // namespace
}  // namespace whale::train
