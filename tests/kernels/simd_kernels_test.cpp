// The per-level kernel tables: which table each level selects, what the public ops route to, and
// linear()'s choice between the packed and per-row kernels.
#include "kernels/simd_kernels.h"

#include <gtest/gtest.h>

#include <vector>

#include "core/convert.h"
#include "core/quant.h"
#include "core/random.h"
#include "kernels/amx.h"
#include "kernels/attention.h"
#include "kernels/linear.h"
#include "kernels/ops.h"
#include "kernels/packed.h"

namespace whale::kernels {
namespace {

struct LevelGuard {
  ~LevelGuard() { set_simd_level(max_simd_level()); }
};

constexpr SimdLevel kLevels[] = {SimdLevel::kScalar, SimdLevel::kAvx2, SimdLevel::kAvx512};

// Each level's table says which level it is, how wide its vectors are (the key block width the
// attention kernel and model::AttentionWork agree on), and fills every op; avx2 and avx512 have
// packed-layout kernels, scalar does not.
TEST(KernelTable, EachLevelSelectsItsOwnTable) {
  LevelGuard guard;
  const int64_t want_lanes[] = {1, 8, 16};
  for (SimdLevel level : kLevels) {
    if (level > max_simd_level()) continue;
    const simd::KernelTable& t = simd::table_for(level);
    EXPECT_EQ(t.level, level);
    EXPECT_EQ(t.lanes, want_lanes[static_cast<int>(level)]) << simd_level_name(level);
    EXPECT_TRUE(t.matmul && t.quantize_activations && t.axpy && t.dot && t.exp_sum && t.silu_mul && t.attend &&
                t.transpose_keys)
        << simd_level_name(level);
    EXPECT_EQ(static_cast<bool>(t.matmul_packed), level != SimdLevel::kScalar) << simd_level_name(level);

    EXPECT_EQ(set_simd_level(level), level);
    EXPECT_EQ(simd_level(), level);
    EXPECT_EQ(&simd::active(), &t);
    EXPECT_EQ(attention_block(), t.lanes);
  }
}

// A level above what the CPU has gives the best one it has.
TEST(KernelTable, LevelsAboveTheCpuFallToItsBest) {
  LevelGuard guard;
  EXPECT_EQ(simd::table_for(SimdLevel::kAvx512).level, max_simd_level());
  EXPECT_EQ(set_simd_level(SimdLevel::kAvx512), max_simd_level());
  EXPECT_EQ(&simd::active(), &simd::table_for(max_simd_level()));
}

// The public ops compute with the active table: dot on a level equals that table's dot bit for
// bit, and the three levels' sums of 1..n are exact (every partial sum is an integer below 2^24).
TEST(KernelTable, PublicOpsRouteToTheActiveTable) {
  LevelGuard guard;
  std::vector<float> a(1000), b(1000, 1.0f);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i + 1) * 0.37f;
  for (SimdLevel level : kLevels) {
    if (level > max_simd_level()) continue;
    set_simd_level(level);
    EXPECT_EQ(dot(a.data(), b.data(), 1000), simd::table_for(level).dot(a.data(), b.data(), 1000));
    std::vector<float> ones(100, 1.0f), seq(100);
    for (size_t i = 0; i < seq.size(); ++i) seq[i] = static_cast<float>(i + 1);
    EXPECT_EQ(dot(seq.data(), ones.data(), 100), 5050.0f) << simd_level_name(level);
  }
}

// A packed copy is used only where choose_path allows it: on the scalar level (no packed kernel)
// and for a row range that is not whole groups of 16, linear() gives exactly the bits of the
// per-row kernel on the stored layout; whole groups on avx2 and avx512 take the packed kernels,
// whose per-block f32 scaling rounds differently from the per-row kernels and alike on both.
TEST(KernelTable, LinearUsesThePackedCopyOnlyWhereItApplies) {
  LevelGuard guard;
  const int64_t rows = 48, cols = 256, T = 3;
  std::vector<float> wf(static_cast<size_t>(rows * cols)), x(static_cast<size_t>(T * cols));
  for (size_t i = 0; i < wf.size(); ++i) wf[i] = core::normal01(11, i);
  for (size_t i = 0; i < x.size(); ++i) x[i] = core::normal01(12, i);
  WeightView w;
  w.w = core::Tensor::empty(core::DType::kQ8_0, core::Shape{rows, cols});
  core::quantize_row(core::DType::kQ8_0, wf.data(), w.w.raw(), rows * cols);
  if (!packed::packable(w)) GTEST_SKIP() << "no packed kernel on this CPU";
  WeightView wp = w;
  wp.packed = packed::pack(w);
  auto run = [&](const WeightView& v, int64_t row0, int64_t row1) {
    std::vector<float> y(static_cast<size_t>(T * (row1 - row0)));
    linear(v, {.x = x.data(), .T = T, .x_stride = cols, .y = y.data(), .y_stride = row1 - row0, .row0 = row0, .row1 = row1},
           nullptr);
    return y;
  };
  set_simd_level(SimdLevel::kScalar);
  EXPECT_EQ(run(wp, 0, rows), run(w, 0, rows));
  std::vector<std::vector<float>> packed_runs;
  for (SimdLevel level : {SimdLevel::kAvx2, SimdLevel::kAvx512}) {
    if (set_simd_level(level) != level) continue;
    EXPECT_EQ(run(wp, 8, 40), run(w, 8, 40)) << simd_level_name(level);
    packed_runs.push_back(run(wp, 0, rows));
    EXPECT_NE(packed_runs.back(), run(w, 0, rows)) << simd_level_name(level);
  }
  if (packed_runs.size() == 2) {
    EXPECT_EQ(packed_runs[0], packed_runs[1]);
  }
}

// The avx2 level's AVX-VNNI table (ymm vpdpbusd) gives the maddubs table's bits for every int8
// dtype and 1..4 tokens (both products are exact), and table_for(kAvx2) picks it where the CPU has
// AVX-VNNI.
TEST(KernelTable, Avx2VnniGivesTheBitsOfMaddubs) {
#if WHALE_SIMD_X86
  if (max_simd_level() < SimdLevel::kAvx2 || !cpu_features().avx_vnni) GTEST_SKIP() << "no AVX-VNNI here";
  EXPECT_EQ(&simd::table_for(SimdLevel::kAvx2), simd::avx2_uses_vnni() ? &simd::kAvx2VnniKernels : &simd::kAvx2Kernels);
  EXPECT_EQ(simd::kAvx2VnniKernels.level, SimdLevel::kAvx2);
  const core::DType types[] = {core::DType::kQ8_0, core::DType::kQ4_0, core::DType::kQ4_K,   core::DType::kQ5_K,
                               core::DType::kQ6_K, core::DType::kQ2_K, core::DType::kQ3_K,   core::DType::kQ4_1,
                               core::DType::kQ5_0, core::DType::kQ5_1, core::DType::kIQ4_NL, core::DType::kIQ4_XS};
  const int64_t rows = 9, cols = 512, nb = cols / 32, T = 4;
  std::vector<float> wf(static_cast<size_t>(rows * cols)), x(static_cast<size_t>(T * cols));
  for (size_t i = 0; i < wf.size(); ++i) wf[i] = core::normal01(71, i);
  for (size_t i = 0; i < x.size(); ++i) x[i] = 3.0f * core::normal01(72, i);
  std::vector<ActBlock> xq(static_cast<size_t>(T * nb));
  quantize_activation_row(x.data(), T * cols, xq.data());
  for (core::DType dt : types) {
    std::vector<uint8_t> w(static_cast<size_t>(core::dtype_bytes(dt, rows * cols)));
    core::convert_row(core::DType::kF32, wf.data(), dt, w.data(), rows * cols);
    for (int nt = 1; nt <= T; ++nt) {
      std::vector<float> a(static_cast<size_t>(nt * rows)), b(a.size());
      simd::MatArgs m{.dtype = dt,
                      .w = w.data(),
                      .row_bytes = core::dtype_bytes(dt, cols),
                      .rows = rows,
                      .cols = cols,
                      .xq = xq.data(),
                      .x_stride = nb,
                      .nt = nt,
                      .y = a.data(),
                      .y_stride = rows};
      ASSERT_TRUE(simd::kAvx2Kernels.matmul(m)) << core::dtype_name(dt);
      m.y = b.data();
      ASSERT_TRUE(simd::kAvx2VnniKernels.matmul(m)) << core::dtype_name(dt);
      for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(a[i], b[i]) << core::dtype_name(dt) << " nt " << nt << " i " << i;
    }
  }
#else
  GTEST_SKIP() << "x86 only";
#endif
}

}  // namespace
}  // namespace whale::kernels
