// GRPO's pieces by hand: group-normalised advantages (R1), Dr. GRPO's unnormalised ones, the k3 KL
// estimator, and config errors.
#include <gtest/gtest.h>

#include <cmath>

#include "../error_of.h"
#include "train/grpo.h"

namespace whale::train {
namespace {

TEST(Grpo, AdvantagesByHand) {
  // rewards 1, 0, 0, 1: mean 0.5, population std 0.5 -> ±1.
  const auto a = group_advantages({1, 0, 0, 1}, GrpoVariant::kGrpo);
  ASSERT_EQ(a.size(), 4u);
  EXPECT_NEAR(a[0], 1.0, 1e-5);
  EXPECT_NEAR(a[1], -1.0, 1e-5);
  // rewards 2, 0, 0, 0: mean 0.5, std sqrt(0.75) -> 1.5/0.866, -0.5/0.866.
  const auto b = group_advantages({2, 0, 0, 0}, GrpoVariant::kGrpo);
  EXPECT_NEAR(b[0], 1.5 / std::sqrt(0.75), 1e-5);
  EXPECT_NEAR(b[3], -0.5 / std::sqrt(0.75), 1e-5);
  // Dr. GRPO: no std division.
  const auto c = group_advantages({2, 0, 0, 0}, GrpoVariant::kDrGrpo);
  EXPECT_DOUBLE_EQ(c[0], 1.5);
  EXPECT_DOUBLE_EQ(c[1], -0.5);
  // All equal: no signal.
  for (double x : group_advantages({1, 1, 1}, GrpoVariant::kGrpo)) EXPECT_EQ(x, 0.0);
}

TEST(Grpo, K3ByHand) {
  EXPECT_EQ(k3(-1.0, -1.0), 0.0);
  // logp = log 0.5, ref = log 0.25: ratio ref/p = 0.5 -> 0.5 - log 0.5 - 1 = 0.193147...
  EXPECT_NEAR(k3(std::log(0.5), std::log(0.25)), 0.5 - std::log(0.5) - 1.0, 1e-12);
  EXPECT_GT(k3(-3.0, -0.1), 0.0);
  EXPECT_GT(k3(-0.1, -3.0), 0.0);
}

TEST(Grpo, ConfigErrors) {
  using whale::testing::error_of;
  EXPECT_NE(error_of([] { parse_grpo_config(R"({"tasks":[{"task":"addition"}]})", "g.json"); }).find("\"init\""),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_grpo_config(R"({"init":"x","tasks":[{"task":"addition"}],"group_size":1})", "g.json"); })
                .find("group_size"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_grpo_config(R"({"init":"x","tasks":[{"task":"addition"}],"loss":{"variant":"ppo"}})", "g.json"); })
                .find("grpo, dr_grpo or dapo"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_grpo_config(R"({"init":"x","tasks":[],"bogus":1})", "g.json"); }).find("bogus"),
            std::string::npos);
  const GrpoConfig d = parse_grpo_config(R"({"init":"x","tasks":[{"task":"countdown"}],"loss":{"variant":"dapo"}})", "g.json");
  EXPECT_EQ(d.clip_high, 0.28);  // DAPO's clip-higher default
  EXPECT_EQ(d.clip_low, 0.2);
}

}  // namespace
}  // namespace whale::train
