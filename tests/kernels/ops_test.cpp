// Ops by hand: RMSNorm, softmax, SiLU·mul, top-k ordering and ties, attention over two rows.
#include "kernels/ops.h"

#include <gtest/gtest.h>

#include <cmath>

#include "kernels/attention.h"

namespace whale::kernels {
namespace {

TEST(Ops, RmsNormByHand) {
  const float x[4] = {1, 2, 3, 4}, w[4] = {1, 1, 2, 0.5f};
  float y[4];
  rms_norm(x, w, 4, 0.0f, y);
  const float rms = std::sqrt(30.0f / 4.0f);  // mean of squares 7.5
  EXPECT_NEAR(y[0], 1 / rms, 1e-6);
  EXPECT_NEAR(y[2], 3 / rms * 2, 1e-6);
  EXPECT_NEAR(y[3], 4 / rms * 0.5f, 1e-6);
}

TEST(Ops, SoftmaxSiluSigmoid) {
  float x[3] = {0, std::log(2.0f), std::log(3.0f)};  // e^x = 1, 2, 3
  softmax(x, 3);
  EXPECT_NEAR(x[0], 1.0 / 6, 1e-7);
  EXPECT_NEAR(x[2], 3.0 / 6, 1e-7);
  float big[2] = {1000, 1000};  // no overflow
  softmax(big, 2);
  EXPECT_FLOAT_EQ(big[0], 0.5f);
  const float g[2] = {0, 2}, u[2] = {5, 3};
  float o[2];
  silu_mul(g, u, o, 2);
  EXPECT_FLOAT_EQ(o[0], 0.0f);
  EXPECT_NEAR(o[1], 2 / (1 + std::exp(-2.0f)) * 3, 1e-6);
  float s[1] = {0};
  sigmoid(s, 1);
  EXPECT_FLOAT_EQ(s[0], 0.5f);
}

TEST(Ops, TopkOrderAndTies) {
  const float x[6] = {0.1f, 0.9f, 0.5f, 0.9f, -1.0f, 0.7f};
  int64_t idx[4];
  topk(x, 6, 4, idx);
  EXPECT_EQ(idx[0], 1);  // tie with 3: lower index first
  EXPECT_EQ(idx[1], 3);
  EXPECT_EQ(idx[2], 5);
  EXPECT_EQ(idx[3], 2);
}

TEST(Attention, TwoRowsByHand) {
  // Rows [k0 k1 | v0 v1]; q = (1, 0), scale 1: scores (1, 3) -> p = (1, e^2)/(1 + e^2).
  const float r0[4] = {1, 0, 10, 0}, r1[4] = {3, 1, 0, 10};
  const float* rows[2] = {r0, r1};
  const float q[2] = {1, 0};
  float out[2], scratch[2];
  attend_head({.q = q, .d = 2, .rows = rows, .n = 2, .k_offset = 0, .v_offset = 2, .dv = 2, .scale = 1.0f,
               .out = out, .scratch = scratch});
  const double p1 = std::exp(2.0) / (1 + std::exp(2.0));
  EXPECT_NEAR(out[0], 10 * (1 - p1), 1e-5);
  EXPECT_NEAR(out[1], 10 * p1, 1e-5);
  // Only the first row visible: the output is its value.
  attend_head({.q = q, .d = 2, .rows = rows, .n = 1, .k_offset = 0, .v_offset = 2, .dv = 2, .scale = 1.0f,
               .out = out, .scratch = scratch});
  EXPECT_FLOAT_EQ(out[0], 10.0f);
}

}  // namespace
}  // namespace whale::kernels
