// Attention over bf16 rows (a bf16 KV cache) against the same attention over f32 rows holding the
// rows' widened values: bf16 widens exactly, so every level must give the same bits, with keys
// transposed on the fly, transposed beforehand, and through AttentionWork's shared transposes.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/convert.h"
#include "core/thread_pool.h"
#include "kernels/attention.h"
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

TEST(AttentionBf16, SameBitsAsF32RowsOfTheWidenedValues) {
  const SimdLevel saved = simd_level();
  // d and dv off the 16-lane grid too (tails), 300 rows (a partial last block), 37 queries (3 tiles).
  for (const auto& [d, dv] : {std::pair<int64_t, int64_t>{40, 24}, {64, 48}, {128, 130}, {576, 512}}) {
    const int64_t N = 300, nq = 37;
    const Rows rows = make_rows(N, d + dv);
    std::vector<float> q(static_cast<size_t>(nq * d));
    for (size_t i = 0; i < q.size(); ++i) q[i] = static_cast<float>(std::cos(1.3 * i) * 2.0);
    std::vector<int64_t> n(static_cast<size_t>(nq));
    for (int64_t i = 0; i < nq; ++i) n[static_cast<size_t>(i)] = i == 0 ? 1 : (i * 97) % N + 1;
    std::vector<const float*> qs(static_cast<size_t>(nq));
    for (int64_t i = 0; i < nq; ++i) qs[static_cast<size_t>(i)] = q.data() + i * d;
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
// rows (three key chunks, run as separate units on the pool and merged): the same bits from bf16
// and f32 rows, and the same bits as each query attended alone.
TEST(AttentionBf16, WorkSetsGiveTheSameBitsAsF32) {
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
  EXPECT_EQ(got, run(false));
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

}  // namespace
}  // namespace whale::kernels
