// RoPE conventions by hand: DeepSeek rotates adjacent pairs (2i, 2i+1), Qwen2/Llama rotate
// (i, i + d/2); YaRN's frequency blend and attention factor; Llama-3's frequency bands.
#include "kernels/rope.h"

#include <gtest/gtest.h>

#include <cmath>

namespace whale::kernels {
namespace {

TEST(Rope, AdjacentVersusHalfPairing) {
  // d = 4, base 100: inv_freq = {1, 0.1}; position 1: angles 1 and 0.1.
  RopeTable t;
  rope_default_freqs(4, 100.0, t.inv_freq);
  ASSERT_FLOAT_EQ(t.inv_freq[0], 1.0f);
  ASSERT_FLOAT_EQ(t.inv_freq[1], 0.1f);
  const float c0 = std::cos(1.0f), s0 = std::sin(1.0f), c1 = std::cos(0.1f), s1 = std::sin(0.1f);
  float x[4] = {1, 2, 3, 4};
  t.pairing = RopePairing::kAdjacent;  // pairs (x0, x1) by angle 1, (x2, x3) by angle 0.1
  rope_apply(t, 1, x);
  EXPECT_NEAR(x[0], 1 * c0 - 2 * s0, 1e-6);
  EXPECT_NEAR(x[1], 2 * c0 + 1 * s0, 1e-6);
  EXPECT_NEAR(x[2], 3 * c1 - 4 * s1, 1e-6);
  EXPECT_NEAR(x[3], 4 * c1 + 3 * s1, 1e-6);
  float y[4] = {1, 2, 3, 4};
  t.pairing = RopePairing::kHalf;  // pairs (x0, x2) by angle 1, (x1, x3) by angle 0.1
  rope_apply(t, 1, y);
  EXPECT_NEAR(y[0], 1 * c0 - 3 * s0, 1e-6);
  EXPECT_NEAR(y[2], 3 * c0 + 1 * s0, 1e-6);
  EXPECT_NEAR(y[1], 2 * c1 - 4 * s1, 1e-6);
  EXPECT_NEAR(y[3], 4 * c1 + 2 * s1, 1e-6);
  float z[4] = {1, 2, 3, 4};
  rope_apply(t, 0, z);  // position 0 is the identity
  EXPECT_FLOAT_EQ(z[3], 4.0f);
}

TEST(Rope, YarnMscaleAndSoftmaxFactor) {
  EXPECT_DOUBLE_EQ(yarn_mscale(1.0, 1.0), 1.0);
  EXPECT_NEAR(yarn_mscale(40.0, 1.0), 0.1 * std::log(40.0) + 1.0, 1e-12);  // 1.36889
  EXPECT_NEAR(yarn_mscale(40.0, 0.707), 0.0707 * std::log(40.0) + 1.0, 1e-12);
  // DeepSeek-V3: softmax scale 192^-1/2 * mscale(40, 1)^2 = 0.0721688 * 1.873855 = 0.1352338
  const double m = yarn_mscale(40.0, 1.0);
  EXPECT_NEAR(m * m / std::sqrt(192.0), 0.1352338, 1e-6);
}

TEST(Rope, YarnBlendsBetweenExtrapolationAndInterpolation) {
  // V3 rope dims: d = 64, base 10000, factor 40, original 4096, beta 32/1.
  const YarnParams p{40.0, 4096, 32.0, 1.0};
  std::vector<float> f, base;
  rope_yarn_freqs(64, 10000.0, p, f);
  rope_default_freqs(64, 10000.0, base);
  // correction dims: low = floor(64 ln(4096/(32*2pi)) / (2 ln 10000)) = floor(10.39) = 10,
  // high = ceil(64 ln(4096/(2pi)) / (2 ln 10000)) = ceil(22.50) = 23.
  for (int i = 0; i <= 10; ++i) EXPECT_FLOAT_EQ(f[i], base[i]) << i;            // extrapolated
  for (int i = 23; i < 32; ++i) EXPECT_NEAR(f[i], base[i] / 40.0, base[i] * 1e-7) << i;  // interpolated
  // In between, a linear ramp: i = 16 is (16-10)/13 of the way to interpolation.
  const double ramp = 6.0 / 13.0;
  EXPECT_NEAR(f[16], base[16] * (1 - ramp) + base[16] / 40.0 * ramp, 1e-9);
}

TEST(Rope, Llama3Bands) {
  const Llama3Params p{8.0, 1.0, 4.0, 8192};
  std::vector<float> f, base;
  rope_llama3_freqs(128, 500000.0, p, f);
  rope_default_freqs(128, 500000.0, base);
  // High frequencies (wavelength < 8192/4 = 2048) are unchanged; low (> 8192) divided by 8.
  EXPECT_FLOAT_EQ(f[0], base[0]);
  EXPECT_FLOAT_EQ(f[63], static_cast<float>(base[63] / 8.0));
  for (int i = 0; i < 64; ++i) {
    const double wl = 2 * M_PI / base[i];
    if (wl < 2048) {
      EXPECT_FLOAT_EQ(f[i], base[i]);
    }
    if (wl > 8192) {
      EXPECT_FLOAT_EQ(f[i], static_cast<float>(base[i] / 8.0));
    }
    if (wl >= 2048 && wl <= 8192) {
      const double smooth = (8192 / wl - 1) / 3;
      EXPECT_NEAR(f[i], (1 - smooth) * base[i] / 8 + smooth * base[i], 1e-9);
    }
  }
}

// The forward pass rebuilds its table every call into the same vector: a longer vector full of
// other values is resized to d/2 in place and holds exactly what a fresh one would.
TEST(Rope, TablesFillTheGivenStorage) {
  std::vector<float> out(40, 99.0f);
  const float* before = out.data();
  rope_default_freqs(8, 100.0, out);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out.data(), before);
  EXPECT_FLOAT_EQ(out[0], 1.0f);
  EXPECT_FLOAT_EQ(out[1], 0.31622776f);  // 100^(-2/8)
  EXPECT_FLOAT_EQ(out[2], 0.1f);
  EXPECT_FLOAT_EQ(out[3], 0.031622776f);
  const YarnParams p{40.0, 4096, 32.0, 1.0};
  std::vector<float> fresh, reused(100, -1.0f);
  rope_yarn_freqs(64, 10000.0, p, fresh);
  rope_yarn_freqs(64, 10000.0, p, reused);
  EXPECT_EQ(reused, fresh);
  const Llama3Params l{8.0, 1.0, 4.0, 8192};
  rope_llama3_freqs(128, 500000.0, l, fresh);
  rope_llama3_freqs(128, 500000.0, l, reused);
  EXPECT_EQ(reused.size(), 64u);
  EXPECT_EQ(reused, fresh);
}

}  // namespace
}  // namespace whale::kernels
