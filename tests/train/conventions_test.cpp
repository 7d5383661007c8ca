// Convention tests with hand-computed values (REFERENCE §1-2), independent of any other whale code:
// RMSNorm, RoPE pairing per family, YaRN frequencies and softmax scale, llama3 frequencies, and
// the MoE router (group limits, the bias choosing but not weighting, norm_topk_prob, scaling rules).
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "model/presets.h"
#include "train/nn/deepseek_moe.h"
#include "train/nn/layers.h"
#include "train/nn/rope.h"

namespace whale::train::nn {
namespace {

TEST(Conventions, RmsNormByHand) {
  RMSNorm norm(4, 1e-6);
  norm.weight.data().copy_(torch::tensor({2.0f, 1.0f, 1.0f, 0.5f}));
  const torch::Tensor y = norm.forward(torch::tensor({{1.0f, 2.0f, 3.0f, 4.0f}}));
  const double rms = std::sqrt((1 + 4 + 9 + 16) / 4.0 + 1e-6);  // sqrt(7.5 + eps)
  const double want[4] = {2 * 1 / rms, 2 / rms, 3 / rms, 0.5 * 4 / rms};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(y[0][i].item<float>(), want[i], 1e-6) << i;
}

TEST(Conventions, RopeAdjacentPairsVersusHalfSplitAtPosition1) {
  // d = 4, theta 10000: inv_freq = [1, 10000^-0.5 = 0.01]; position 1 -> angles 1 and 0.01 rad.
  const torch::Tensor inv = rope_inv_freq({}, 10000.0, 4);
  EXPECT_DOUBLE_EQ(inv[0].item<double>(), 1.0);
  EXPECT_NEAR(inv[1].item<double>(), 0.01, 1e-15);
  const auto [cos, sin] = rope_cos_sin(inv, torch::tensor({{int64_t{1}}}), 1.0, torch::kFloat64);  // [1,1,1,2]
  const torch::Tensor x = torch::tensor({1.0, 2.0, 3.0, 4.0}, torch::kFloat64).view({1, 1, 1, 4});
  const double c1 = std::cos(1.0), s1 = std::sin(1.0), c2 = std::cos(0.01), s2 = std::sin(0.01);
  // DeepSeek: pairs (x0, x1) by angle 1, (x2, x3) by angle 0.01.
  const torch::Tensor a = apply_rope_adjacent(x, cos, sin).flatten();
  const double want_a[4] = {1 * c1 - 2 * s1, 1 * s1 + 2 * c1, 3 * c2 - 4 * s2, 3 * s2 + 4 * c2};
  // Qwen2/Llama: pairs (x0, x2) by angle 1, (x1, x3) by angle 0.01.
  const torch::Tensor h = apply_rope_half(x, cos, sin).flatten();
  const double want_h[4] = {1 * c1 - 3 * s1, 2 * c2 - 4 * s2, 3 * c1 + 1 * s1, 4 * c2 + 2 * s2};
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(a[i].item<double>(), want_a[i], 1e-12) << i;
    EXPECT_NEAR(h[i].item<double>(), want_h[i], 1e-12) << i;
  }
  EXPECT_GT(std::abs(want_a[0] - want_h[0]), 0.5);  // the pairings really differ
}

TEST(Conventions, YarnSoftmaxScaleForV3) {
  const formats::ModelArgs v3 = model::find_preset("deepseek-v3").args;  // factor 40, mscale_all_dim 1
  const double m = 0.1 * std::log(40.0) + 1.0;
  EXPECT_NEAR(mla_softmax_scale(v3), std::pow(192.0, -0.5) * m * m, 1e-15);
  EXPECT_NEAR(mla_softmax_scale(v3), 0.13523377886088, 1e-13);
  // Without YaRN (or with mscale_all_dim 0) the scale is plain 1/sqrt(d_nope + d_rope).
  formats::ModelArgs plain = v3;
  plain.rope_scaling.mscale_all_dim = 0.0;
  EXPECT_DOUBLE_EQ(mla_softmax_scale(plain), std::pow(192.0, -0.5));
  // cos/sin factor m(f, mscale) / m(f, mscale_all_dim): 1 for V3 (1/1) and V2 (0.707/0.707).
  EXPECT_DOUBLE_EQ(rope_cos_sin_factor(v3.rope_scaling), 1.0);
  formats::RopeScaling odd = v3.rope_scaling;
  odd.mscale_all_dim = 0.5;
  EXPECT_NEAR(rope_cos_sin_factor(odd), m / (0.05 * std::log(40.0) + 1.0), 1e-15);
  EXPECT_DOUBLE_EQ(yarn_get_mscale(1.0, 5.0), 1.0);
}

TEST(Conventions, YarnFrequenciesForV3) {
  const formats::ModelArgs v3 = model::find_preset("deepseek-v3").args;
  // find_correction_dim(32) = 64 ln(4096 / 64 pi) / (2 ln 10^4) = 10.47 -> 10;
  // find_correction_dim(1) = 64 ln(4096 / 2 pi) / (2 ln 10^4) = 22.51 -> 23.
  EXPECT_NEAR(yarn_find_correction_dim(32, 64, 1e4, 4096), 10.472240810318, 1e-9);
  EXPECT_EQ(yarn_correction_range(32, 1, 64, 1e4, 4096), (std::pair<int64_t, int64_t>{10, 23}));
  const torch::Tensor inv = rope_inv_freq(v3.rope_scaling, 1e4, 64);
  ASSERT_EQ(inv.size(0), 32);
  for (int i = 0; i < 32; ++i) {
    const double extra = std::pow(1e4, -2.0 * i / 64);  // the original frequency
    const double inter = extra / 40.0;                  // interpolated
    double want;
    if (i <= 10) {
      want = extra;
    } else if (i >= 23) {
      want = inter;
    } else {
      const double ramp = (i - 10) / 13.0;
      want = inter * ramp + extra * (1 - ramp);
    }
    EXPECT_NEAR(inv[i].item<double>(), want, 1e-15 + 1e-12 * want) << i;
  }
}

TEST(Conventions, Llama3FrequenciesForR1DistillLlama) {
  const formats::ModelArgs a = model::find_preset("r1-distill-llama-8b").args;  // factor 8 from 8192, 1/4
  const torch::Tensor inv = rope_inv_freq(a.rope_scaling, 500000.0, 128);
  // i = 0: wavelength 2 pi < 8192/4: unchanged.
  EXPECT_DOUBLE_EQ(inv[0].item<double>(), 1.0);
  // i = 63: wavelength ~2.6e6 > 8192: divided by 8.
  EXPECT_NEAR(inv[63].item<double>(), std::pow(500000.0, -126.0 / 128) / 8, 1e-18);
  // i = 34: wavelength ~6698, between 2048 and 8192: smoothed.
  const double f = std::pow(500000.0, -68.0 / 128);
  const double wavelen = 2 * std::numbers::pi / f;
  ASSERT_GT(wavelen, 2048.0);
  ASSERT_LT(wavelen, 8192.0);
  const double smooth = (8192.0 / wavelen - 1.0) / 3.0;
  EXPECT_NEAR(inv[34].item<double>(), (1 - smooth) * f / 8 + smooth * f, 1e-15);
}

GateConfig gate(const char* scoring, const char* method, int64_t k, int64_t groups, int64_t keep, bool norm,
                double scale, bool v3_rule) {
  GateConfig g;
  g.scoring_func = scoring;
  g.topk_method = method;
  g.top_k = k;
  g.n_group = groups;
  g.topk_group = keep;
  g.norm_topk_prob = norm;
  g.routed_scaling_factor = scale;
  g.scale_after_norm = v3_rule;
  return g;
}

std::vector<int64_t> ids_of(const Routing& r) {
  const torch::Tensor s = std::get<0>(r.ids[0].sort());
  return {s.data_ptr<int64_t>(), s.data_ptr<int64_t>() + s.numel()};
}

TEST(Conventions, GroupLimitedGreedyDiffersFromPlainTopK) {
  // Softmax over 8 experts in 4 groups of 2. Plain top-2: e0 (5.0) and e4 (4.95). Keeping only the
  // best group (max score: group 0) forces e0 and e1 (4.9 < 4.95).
  const torch::Tensor logits = torch::tensor({{5.0f, 4.9f, 1.0f, 1.0f, 4.95f, 0.0f, 0.0f, 0.0f}});
  double z = 0;
  for (double l : {5.0, 4.9, 1.0, 1.0, 4.95, 0.0, 0.0, 0.0}) z += std::exp(l);
  const Routing plain = route(logits, {}, gate("softmax", "greedy", 2, 4, 1, false, 1.0, false));
  EXPECT_EQ(ids_of(plain), (std::vector<int64_t>{0, 4}));
  const Routing grouped = route(logits, {}, gate("softmax", "group_limited_greedy", 2, 4, 1, false, 2.0, false));
  EXPECT_EQ(ids_of(grouped), (std::vector<int64_t>{0, 1}));
  // V2 weights: softmax scores of the chosen times routed_scaling_factor (no renormalisation).
  EXPECT_EQ(grouped.ids[0][0].item<int64_t>(), 0);
  EXPECT_NEAR(grouped.weights[0][0].item<float>(), 2.0 * std::exp(5.0) / z, 1e-6);
  EXPECT_NEAR(grouped.weights[0][1].item<float>(), 2.0 * std::exp(4.9) / z, 1e-6);
}

TEST(Conventions, BiasChoosesButDoesNotWeight) {
  // Sigmoid scores of [2, 1, 0, -1]; bias +5 on e3 makes it the first choice, e0 the second.
  const torch::Tensor logits = torch::tensor({{2.0f, 1.0f, 0.0f, -1.0f}});
  const torch::Tensor bias = torch::tensor({0.0f, 0.0f, 0.0f, 5.0f});
  const double s0 = 1 / (1 + std::exp(-2.0)), s3 = 1 / (1 + std::exp(1.0));
  const Routing unbiased = route(logits, {}, gate("sigmoid", "noaux_tc", 2, 1, 1, true, 2.5, true));
  EXPECT_EQ(ids_of(unbiased), (std::vector<int64_t>{0, 1}));
  const Routing r = route(logits, bias, gate("sigmoid", "noaux_tc", 2, 1, 1, true, 2.5, true));
  EXPECT_EQ(r.ids[0][0].item<int64_t>(), 3);
  EXPECT_EQ(r.ids[0][1].item<int64_t>(), 0);
  // V3: unbiased scores, normalised over the chosen, times 2.5.
  EXPECT_NEAR(r.weights[0][0].item<float>(), 2.5 * s3 / (s3 + s0), 1e-6);
  EXPECT_NEAR(r.weights[0][1].item<float>(), 2.5 * s0 / (s3 + s0), 1e-6);
  // norm_topk_prob off: V3 still scales, the raw sigmoid scores times 2.5.
  const Routing raw = route(logits, bias, gate("sigmoid", "noaux_tc", 2, 1, 1, false, 2.5, true));
  EXPECT_NEAR(raw.weights[0][0].item<float>(), 2.5 * s3, 1e-6);
  EXPECT_NEAR(raw.weights[0][1].item<float>(), 2.5 * s0, 1e-6);
}

TEST(Conventions, NormTopkProbUnderTheV2Rule) {
  // V2 (modeling_deepseek.py): normalise when norm_topk_prob (top_k > 1), else scale; never both.
  const torch::Tensor logits = torch::tensor({{1.0f, 0.0f, 2.0f}});
  const double z = std::exp(1.0) + 1.0 + std::exp(2.0);
  const double p2 = std::exp(2.0) / z, p0 = std::exp(1.0) / z;
  const Routing on = route(logits, {}, gate("softmax", "greedy", 2, 1, 1, true, 16.0, false));
  EXPECT_NEAR(on.weights[0][0].item<float>(), p2 / (p2 + p0), 1e-6);
  EXPECT_NEAR(on.weights[0][1].item<float>(), p0 / (p2 + p0), 1e-6);
  const Routing off = route(logits, {}, gate("softmax", "greedy", 2, 1, 1, false, 16.0, false));
  EXPECT_NEAR(off.weights[0][0].item<float>(), 16.0 * p2, 1e-5);
  EXPECT_NEAR(off.weights[0][1].item<float>(), 16.0 * p0, 1e-5);
  // top_k = 1 never normalises (a single weight would always be 1).
  const Routing one = route(logits, {}, gate("softmax", "greedy", 1, 1, 1, true, 16.0, false));
  EXPECT_NEAR(one.weights[0][0].item<float>(), 16.0 * p2, 1e-5);
}

TEST(Conventions, NoauxGroupScoreIsTheSumOfTheTopTwo) {
  // All sigmoid scores 0.5; biases shape the choice. Group 0 = [0.9, 0.0] (max 0.9, top-2 sum 0.9),
  // group 1 = [0.8, 0.75] (max 0.8, sum 1.55). V3 keeps group 1, so e2 wins though e0 scores higher.
  const torch::Tensor logits = torch::zeros({1, 4});
  const torch::Tensor bias = torch::tensor({0.4f, -0.5f, 0.3f, 0.25f});
  const Routing r = route(logits, bias, gate("sigmoid", "noaux_tc", 1, 2, 1, true, 1.0, true));
  EXPECT_EQ(r.ids[0][0].item<int64_t>(), 2);
  const Routing plain = route(logits, bias, gate("sigmoid", "noaux_tc", 1, 1, 1, true, 1.0, true));
  EXPECT_EQ(plain.ids[0][0].item<int64_t>(), 0);
}

TEST(Conventions, DroppedGroupsCanNeverBeChosen) {
  // Kept group 0 has negative biased scores (-0.5); HF's masking with 0.0 would pick the dropped
  // group's experts (masked to 0.0 > -0.5). DeepSeek's -inf masking keeps the choice inside group 0.
  const torch::Tensor logits = torch::zeros({1, 4});
  const torch::Tensor bias = torch::tensor({-1.0f, -1.0f, -2.0f, -2.0f});
  const Routing r = route(logits, bias, gate("sigmoid", "noaux_tc", 2, 2, 1, true, 1.0, true));
  EXPECT_EQ(ids_of(r), (std::vector<int64_t>{0, 1}));
  EXPECT_NEAR(r.weights.sum().item<float>(), 1.0, 1e-6);
}

}  // namespace
}  // namespace whale::train::nn
