// Ops by hand: RMSNorm, softmax, SiLU·mul, top-k ordering and ties, attention over two rows.
#include "kernels/ops.h"

#include <gtest/gtest.h>

#include <cmath>

#include "kernels/attention.h"
#include "kernels/cpu_features.h"
#include "kernels/simd_kernels.h"

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
  float out[2];
  const int64_t two = 2, one = 1;
  const float* qs[1] = {q};
  float* outs[1] = {out};
  attend({.q = qs, .n = &two, .nq = 1, .rows = rows, .k_offset = 0, .v_offset = 2, .d = 2, .dv = 2, .scale = 1.0f,
          .out = outs});
  const double p1 = std::exp(2.0) / (1 + std::exp(2.0));
  EXPECT_NEAR(out[0], 10 * (1 - p1), 1e-5);
  EXPECT_NEAR(out[1], 10 * p1, 1e-5);
  // Only the first row visible: the output is its value.
  attend({.q = qs, .n = &one, .nq = 1, .rows = rows, .k_offset = 0, .v_offset = 2, .d = 2, .dv = 2, .scale = 1.0f,
          .out = outs});
  EXPECT_FLOAT_EQ(out[0], 10.0f);
}

// Many queries with causal lengths over 300 rows (several 64-row blocks, scores large enough that
// the running max moves), on every SIMD level, against a two-pass softmax in double precision;
// and each query alone gives the same bits as inside the batch.
TEST(Attention, TiledOnlineSoftmaxMatchesTwoPassInDouble) {
  const SimdLevel saved = simd_level();
  for (const auto& [d, dv] : {std::pair<int64_t, int64_t>{40, 24}, {64, 48}, {128, 130}}) {
  const int64_t N = 300, width = d + dv, nq = 37;
  std::vector<float> store(static_cast<size_t>(N * width)), q(static_cast<size_t>(nq * d));
  for (size_t i = 0; i < store.size(); ++i) store[i] = static_cast<float>(std::sin(0.7 * i + 0.3) * (1 + (i % 7)));
  for (size_t i = 0; i < q.size(); ++i) q[i] = static_cast<float>(std::cos(1.3 * i) * 2.0);
  std::vector<const float*> rows(static_cast<size_t>(N));
  for (int64_t j = 0; j < N; ++j) rows[static_cast<size_t>(j)] = store.data() + j * width;
  std::vector<int64_t> n(static_cast<size_t>(nq));
  for (int64_t i = 0; i < nq; ++i) n[static_cast<size_t>(i)] = i == 0 ? 1 : (i * 97) % N + 1;
  const float scale = 0.5f;
  for (SimdLevel level : {SimdLevel::kScalar, SimdLevel::kAvx2, SimdLevel::kAvx512}) {
    if (level > max_simd_level()) continue;
    set_simd_level(level);
    std::vector<float> out(static_cast<size_t>(nq * dv)), one(static_cast<size_t>(dv));
    std::vector<const float*> qs(static_cast<size_t>(nq));
    std::vector<float*> outs(static_cast<size_t>(nq));
    for (int64_t i = 0; i < nq; ++i) qs[i] = q.data() + i * d, outs[i] = out.data() + i * dv;
    attend({.q = qs.data(), .n = n.data(), .nq = nq, .rows = rows.data(), .k_offset = 0, .v_offset = d, .d = d,
            .dv = dv, .scale = scale, .out = outs.data()});
    for (int64_t i = 0; i < nq; ++i) {
      std::vector<double> sc(static_cast<size_t>(n[i]));
      double mx = -1e300, sum = 0;
      for (int64_t j = 0; j < n[i]; ++j) {
        double dotv = 0;
        for (int64_t c = 0; c < d; ++c) dotv += static_cast<double>(q[i * d + c]) * rows[j][c];
        sc[j] = scale * dotv;
        mx = std::max(mx, sc[j]);
      }
      for (double& v : sc) sum += (v = std::exp(v - mx));
      for (int64_t e = 0; e < dv; ++e) {
        double want = 0;
        for (int64_t j = 0; j < n[i]; ++j) want += sc[j] / sum * rows[j][d + e];
        ASSERT_NEAR(out[i * dv + e], want, 2e-5 * 7) << simd_level_name(level) << " query " << i << " e " << e;
      }
      float* one_out = one.data();
      attend({.q = &qs[i], .n = &n[i], .nq = 1, .rows = rows.data(), .k_offset = 0, .v_offset = d, .d = d, .dv = dv,
              .scale = scale, .out = &one_out});
      for (int64_t e = 0; e < dv; ++e) ASSERT_EQ(one[e], out[i * dv + e]) << simd_level_name(level) << " query " << i;
    }
    // With the keys transposed beforehand: the same bits.
    const int64_t W = attention_block();
    std::vector<float> kt(static_cast<size_t>((N + W - 1) / W * W * d)), again(out.size());
    transpose_keys(rows.data(), N, 0, d, 0, (N + W - 1) / W, kt.data());
    for (int64_t i = 0; i < nq; ++i) outs[i] = again.data() + i * dv;
    attend({.q = qs.data(), .n = n.data(), .nq = nq, .rows = rows.data(), .k_offset = 0, .v_offset = d, .d = d,
            .dv = dv, .scale = scale, .out = outs.data(), .kt = kt.data()});
    EXPECT_EQ(again, out) << simd_level_name(level) << " d " << d;
  }
  }
  set_simd_level(saved);
}

// SiLU·mul on every level against the formula in double, over the whole range (large |g| too).
TEST(Ops, SiluMulOnEveryLevel) {
  const SimdLevel saved = simd_level();
  const int64_t n = 1003;
  std::vector<float> g(n), u(n), o(n);
  for (int64_t i = 0; i < n; ++i) {
    g[i] = -120.0f + 240.0f * static_cast<float>(i) / static_cast<float>(n - 1);
    u[i] = 0.5f + static_cast<float>(i % 7);
  }
  for (SimdLevel level : {SimdLevel::kScalar, SimdLevel::kAvx2, SimdLevel::kAvx512}) {
    if (level > max_simd_level()) continue;
    set_simd_level(level);
    silu_mul(g.data(), u.data(), o.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      const double want = g[i] / (1.0 + std::exp(-static_cast<double>(g[i]))) * u[i];
      ASSERT_NEAR(o[i], want, 1e-6 * std::fabs(want) + 1e-30) << simd_level_name(level) << " g " << g[i];
    }
  }
  set_simd_level(saved);
}

// The SIMD exp behind attention: e^(x - m) within 2 ulp of std::exp over [-87, 0], and the sum.
TEST(Ops, ExpSumOnEveryLevel) {
  for (SimdLevel level : {SimdLevel::kScalar, SimdLevel::kAvx2, SimdLevel::kAvx512}) {
    if (level > max_simd_level()) continue;
    const auto& fn = simd::table_for(level).exp_sum;
    for (int64_t n : {1, 7, 8, 15, 16, 17, 1001}) {
      std::vector<float> x(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) x[i] = 3.0f - 90.0f * static_cast<float>(i) / static_cast<float>(n);
      const std::vector<float> x0 = x;
      const float sum = fn(x.data(), n, 3.0f);
      double want_sum = 0;
      for (int64_t i = 0; i < n; ++i) {
        const float want = std::exp(x0[i] - 3.0f);
        want_sum += want;
        if (x0[i] - 3.0f >= -87.0f) {
          ASSERT_NEAR(x[i], want, 2.5e-7f * want) << simd_level_name(level) << " n " << n << " x " << x0[i];
        } else {
          ASSERT_LE(x[i], 2e-38f);
        }
      }
      EXPECT_NEAR(sum, want_sum, 1e-6 * want_sum);
    }
  }
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
