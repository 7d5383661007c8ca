// Attention over bf16 rows (a bf16 KV cache). The f32 kernel against the same attention over f32
// rows holding the rows' widened values: bf16 widens exactly, so every level must give the same
// bits, with keys transposed on the fly, transposed beforehand, and through AttentionWork's shared
// transposes. The AVX-512 BF16 kernel (attention_bf16.h, bf16 queries and weights) against the
// exact attention in double of the bf16-rounded queries, within the bound its weight rounding
// allows, and the same bits for a query in any call, transposed ahead or not.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/convert.h"
#include "core/thread_pool.h"
#include "kernels/attention.h"
#include "kernels/attention_bf16.h"
#include "kernels/attention_work.h"
#include "kernels/cpu_features.h"

namespace whale::kernels {
namespace {

struct Rows {
  std::vector<uint16_t> b16;  // the stored rows
  std::vector<float> f32;     // the same values widened
  std::vector<const uint16_t*> p16;
  std::vector<const float*> p32;
};

Rows make_rows(int64_t n, int64_t width) {
  Rows r;
  r.b16.resize(static_cast<size_t>(n * width));
  r.f32.resize(r.b16.size());
  for (size_t i = 0; i < r.b16.size(); ++i) {
    r.b16[i] = core::f32_to_bf16(static_cast<float>(std::sin(0.7 * i + 0.3) * (1 + (i % 7))));
    r.f32[i] = core::bf16_to_f32(r.b16[i]);
  }
  for (int64_t j = 0; j < n; ++j) {
    r.p16.push_back(r.b16.data() + j * width);
    r.p32.push_back(r.f32.data() + j * width);
  }
  return r;
}

// nq queries of d values (cos(1.3 i)·amp), query i seeing rows [0, n_i) of N: query 0 one row, the
// others spread over all N.
struct Queries {
  std::vector<float> q;
  std::vector<int64_t> n;
  std::vector<const float*> ptr;
};

Queries make_queries(int64_t nq, int64_t d, int64_t N, double amp) {
  Queries s;
  s.q.resize(static_cast<size_t>(nq * d));
  for (size_t i = 0; i < s.q.size(); ++i) s.q[i] = static_cast<float>(std::cos(1.3 * i) * amp);
  for (int64_t i = 0; i < nq; ++i) {
    s.n.push_back(i == 0 ? 1 : (i * 97) % N + 1);
    s.ptr.push_back(s.q.data() + i * d);
  }
  return s;
}

// Turns the AVX-512 BF16 kernel off (or on, where the CPU has it) for one test.
struct Bf16Kernel {
  explicit Bf16Kernel(bool on) : was(attention_bf16::on()) { attention_bf16::set_enabled(on); }
  ~Bf16Kernel() { attention_bf16::set_enabled(was); }
  bool was;
};

TEST(AttentionBf16, SameBitsAsF32RowsOfTheWidenedValues) {
  const Bf16Kernel off(false);
  const SimdLevel saved = simd_level();
  // d and dv off the 16-lane grid too (tails), 300 rows (a partial last block), 37 queries (3 tiles).
  for (const auto& [d, dv] : {std::pair<int64_t, int64_t>{40, 24}, {64, 48}, {128, 130}, {576, 512}}) {
    const int64_t N = 300, nq = 37;
    const Rows rows = make_rows(N, d + dv);
    const Queries qq = make_queries(nq, d, N, 2.0);
    const std::vector<int64_t>& n = qq.n;
    const std::vector<const float*>& qs = qq.ptr;
    for (SimdLevel level : {SimdLevel::kScalar, SimdLevel::kAvx2, SimdLevel::kAvx512}) {
      if (level > max_simd_level()) continue;
      set_simd_level(level);
      const auto run = [&](bool bf16, const float* kt) {
        std::vector<float> out(static_cast<size_t>(nq * dv), -1.0f);
        std::vector<float*> outs(static_cast<size_t>(nq));
        for (int64_t i = 0; i < nq; ++i) outs[static_cast<size_t>(i)] = out.data() + i * dv;
        attend({.q = qs.data(), .n = n.data(), .nq = nq, .rows = bf16 ? nullptr : rows.p32.data(), .k_offset = 0,
                .v_offset = d, .d = d, .dv = dv, .scale = 0.125f, .out = outs.data(), .kt = kt,
                .rows16 = bf16 ? rows.p16.data() : nullptr});
        return out;
      };
      const std::vector<float> want = run(false, nullptr);
      EXPECT_EQ(run(true, nullptr), want) << simd_level_name(level) << " d " << d;
      // Transposed beforehand: the bf16 transpose is the f32 one, and attention gives the same bits.
      const int64_t W = attention_block(), blocks = (N + W - 1) / W;
      std::vector<float> kt32(static_cast<size_t>(blocks * W * d)), kt16(kt32.size(), -1.0f);
      transpose_keys(rows.p32.data(), N, 0, d, 0, blocks, kt32.data());
      transpose_keys(rows.p16.data(), N, 0, d, 0, blocks, kt16.data());
      EXPECT_EQ(kt16, kt32) << simd_level_name(level) << " d " << d;
      EXPECT_EQ(run(true, kt16.data()), want) << simd_level_name(level) << " d " << d;
    }
  }
  set_simd_level(saved);
}

// GQA-shaped sets (K and V of two heads in one row) through AttentionWork: more than 16 queries
// per set (the shared transposed keys) and a one-query set (keys transposed on the fly), over 700
// rows (three key chunks, run as separate units on the pool and merged): the same bits as each
// query attended alone, and on the f32 kernel the same bits from bf16 and f32 rows.
void check_work_sets(bool bf16_kernel) {
  const int64_t N = 700, d = 64, KV = 2, width = 2 * KV * d;
  const Rows rows = make_rows(N, width);
  std::vector<float> q(static_cast<size_t>(40 * d));
  for (size_t i = 0; i < q.size(); ++i) q[i] = static_cast<float>(std::cos(0.9 * i));
  core::ThreadPool pool(2);
  // Lengths across all three chunks (1 .. N); the one-query set sees all N rows.
  const auto len = [&](int64_t h, int64_t i) -> int64_t { return h == 0 ? (i * 17) % N + 1 : N; };
  const auto run = [&](bool bf16) {
    AttentionWork work;
    std::vector<float> out(static_cast<size_t>(41 * d), -1.0f);
    for (int64_t h = 0; h < KV; ++h) {
      const size_t set = bf16 ? work.add_set(rows.p16, h * d, KV * d + h * d, d, d, 0.2f)
                              : work.add_set(rows.p32, h * d, KV * d + h * d, d, d, 0.2f);
      const int64_t count = h == 0 ? 40 : 1;
      for (int64_t i = 0; i < count; ++i) {
        work.add_query(set, q.data() + i * d, len(h, i), out.data() + (h * 40 + i) * d);
      }
    }
    work.run(pool);
    return out;
  };
  const std::vector<float> got = run(true);
  if (!bf16_kernel) EXPECT_EQ(got, run(false));
  for (int64_t k = 0; k < 41; ++k) {  // each query alone through attend
    const int64_t h = k < 40 ? 0 : 1, i = k < 40 ? k : 0, n = len(h, i);
    const float* qp = q.data() + i * d;
    std::vector<float> one(static_cast<size_t>(d));
    float* op = one.data();
    attend({.q = &qp, .n = &n, .nq = 1, .rows = nullptr, .k_offset = h * d, .v_offset = KV * d + h * d, .d = d,
            .dv = d, .scale = 0.2f, .out = &op, .rows16 = rows.p16.data()});
    for (int64_t e = 0; e < d; ++e) ASSERT_EQ(one[e], got[k * d + e]) << "query " << k << " n " << n;
  }
}

TEST(AttentionBf16, WorkSetsGiveTheSameBitsAsF32) {
  const Bf16Kernel off(false);
  check_work_sets(false);
}

// The exact attention (double) of bf16-rounded queries over the stored rows: query i sees rows
// [0, n_i), keys at 0 (d values), values at d (dv values).
std::vector<double> exact(const Rows& rows, const std::vector<float>& q, const std::vector<int64_t>& n, int64_t d,
                          int64_t dv, float scale) {
  const int64_t nq = static_cast<int64_t>(n.size()), width = d + dv;
  std::vector<double> out(static_cast<size_t>(nq * dv), 0.0);
  for (int64_t i = 0; i < nq; ++i) {
    std::vector<double> s(static_cast<size_t>(n[i]));
    double m = -1e300;
    for (int64_t j = 0; j < n[i]; ++j) {
      double acc = 0;
      for (int64_t c = 0; c < d; ++c) {
        acc += double(core::bf16_to_f32(core::f32_to_bf16(q[i * d + c]))) * rows.f32[j * width + c];
      }
      s[j] = acc * scale;
      m = std::max(m, s[j]);
    }
    double l = 0;
    for (double& v : s) l += (v = std::exp(v - m));
    for (int64_t j = 0; j < n[i]; ++j) {
      for (int64_t e = 0; e < dv; ++e) out[i * dv + e] += s[j] / l * rows.f32[j * width + d + e];
    }
  }
  return out;
}

// The BF16 kernel: every output within 2^-7 · max|v| of the exact attention of the rounded
// queries (each weight is rounded to bf16, a relative 2^-9, and renormalized by the sum of the
// rounded weights: the output stays an average of the values, off by at most ~2 · 2^-9 of their
// range; a wrong row, column or pair order misses by the size of the values). Over d and dv with
// tails in the pairs (d 40 = 20 pairs), 300 rows (a partial last block, one and two chunks) and 37
// queries (3 tiles): the same bits on the fly, with keys transposed beforehand, and query by query.
TEST(AttentionBf16, Bf16DotKernelWithinItsRoundingOfTheExactAttention) {
  const Bf16Kernel on(true);
  if (!attention_bf16::enabled(576, 512)) GTEST_SKIP() << "no AVX512-BF16 on this CPU (or WHALE_BF16_ATTN=0)";
  for (const auto& [d, dv] : {std::pair<int64_t, int64_t>{40, 32}, {64, 64}, {128, 128}, {576, 512}}) {
    ASSERT_TRUE(attention_bf16::enabled(d, dv));
    const int64_t N = 300, nq = 37;
    const Rows rows = make_rows(N, d + dv);
    Queries qq = make_queries(nq, d, N, 0.5);
    qq.n[1] = N;
    const std::vector<float>& q = qq.q;
    const std::vector<int64_t>& n = qq.n;
    const std::vector<const float*>& qs = qq.ptr;
    const float scale = 1.0f / std::sqrt(static_cast<float>(d));
    const auto run = [&](const float* kt, int64_t i0, int64_t count) {
      std::vector<float> out(static_cast<size_t>(count * dv), -1.0f);
      std::vector<float*> outs(static_cast<size_t>(count));
      for (int64_t i = 0; i < count; ++i) outs[static_cast<size_t>(i)] = out.data() + i * dv;
      attend({.q = qs.data() + i0,
              .n = n.data() + i0,
              .nq = count,
              .rows = nullptr,
              .k_offset = 0,
              .v_offset = d,
              .d = d,
              .dv = dv,
              .scale = scale,
              .out = outs.data(),
              .kt = kt,
              .rows16 = rows.p16.data()});
      return out;
    };
    const std::vector<float> got = run(nullptr, 0, nq);
    const std::vector<double> want = exact(rows, q, n, d, dv, scale);
    double vmax = 0;
    for (int64_t j = 0; j < N; ++j) {
      for (int64_t e = 0; e < dv; ++e) vmax = std::max(vmax, std::fabs(double(rows.f32[j * (d + dv) + d + e])));
    }
    double worst = 0;
    for (size_t k = 0; k < got.size(); ++k) worst = std::max(worst, std::fabs(got[k] - want[k]));
    EXPECT_LE(worst, vmax / 128) << "d " << d << " dv " << dv;
    EXPECT_GT(worst, 0.0) << "the bf16 kernel did not run";  // f32 weights would be nearer still, but not exact
    const int64_t blocks = (N + 15) / 16;
    std::vector<float> kt(static_cast<size_t>(blocks * 16 * d), -1.0f);
    attention_bf16::transpose(rows.p16.data(), N, 0, d, 0, blocks, reinterpret_cast<uint16_t*>(kt.data()));
    EXPECT_EQ(run(kt.data(), 0, nq), got) << "d " << d;
    for (int64_t i = 0; i < nq; i += 5) {
      const std::vector<float> one = run(nullptr, i, 1);
      EXPECT_TRUE(std::equal(one.begin(), one.end(), got.begin() + i * dv)) << "query " << i << " d " << d;
    }
  }
}

// The same through the BF16 kernel (keys transposed as pairs, shared by the 40-query set).
TEST(AttentionBf16, Bf16DotKernelWorkSetsGiveEachQueryItsBitsAlone) {
  const Bf16Kernel on(true);
  if (!attention_bf16::enabled(64, 64)) GTEST_SKIP() << "no AVX512-BF16 on this CPU (or WHALE_BF16_ATTN=0)";
  check_work_sets(true);
}

}  // namespace
}  // namespace whale::kernels
