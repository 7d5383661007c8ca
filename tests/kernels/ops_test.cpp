// Ops by hand: RMSNorm, softmax, SiLU·mul, top-k ordering and ties, attention over two rows.
#include "kernels/ops.h"

#include <gtest/gtest.h>

#include <cmath>

#include "kernels/attention.h"
#include "kernels/cpu_features.h"

#include <vector>

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

namespace whale::kernels {
namespace {

// dot and axpy on every SIMD level the machine has, against double-precision sums, for lengths
// around the vector widths and their 4-way unrolls (tails included).
TEST(Ops, DotAndAxpyOnEveryLevel) {
  const SimdLevel saved = simd_level();
  for (SimdLevel level : {SimdLevel::kScalar, SimdLevel::kAvx2, SimdLevel::kAvx512}) {
    if (level > max_simd_level()) continue;
    set_simd_level(level);
    for (int64_t n : {0, 1, 7, 8, 15, 16, 17, 31, 63, 64, 65, 100, 512, 576}) {
      std::vector<float> a(n), b(n), y(n), y0(n);
      double want = 0;
      for (int64_t i = 0; i < n; ++i) {
        a[i] = std::sin(0.37 * i + 1.0);
        b[i] = std::cos(0.11 * i) * 2.0f;
        y[i] = y0[i] = 0.25f * i;
        want += static_cast<double>(a[i]) * b[i];
      }
      EXPECT_NEAR(dot(a.data(), b.data(), n), want, 1e-5 * (1 + n)) << simd_level_name(level) << " n=" << n;
      axpy(0.5f, a.data(), y.data(), n);
      for (int64_t i = 0; i < n; ++i) EXPECT_FLOAT_EQ(y[i], y0[i] + 0.5f * a[i]) << simd_level_name(level);
    }
  }
  set_simd_level(saved);
}

}  // namespace
}  // namespace whale::kernels
