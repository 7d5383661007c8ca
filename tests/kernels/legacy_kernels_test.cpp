// The q4_1 / q5_0 / q5_1 / iq4_nl / iq4_xs / iq2_xxs / iq1_s row kernels of every level (simd::table_for) against
// the exact dot of the dequantized weights with the int8 activations they are given, including
// DeepSeek-V2-Lite's 1408-column expert rows and the largest products the int8 paths can see.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/convert.h"
#include "core/quant.h"
#include "core/quant_legacy.h"
#include "core/random.h"
#include "kernels/cpu_features.h"
#include "kernels/simd_kernels.h"

namespace whale::kernels {
namespace {

using core::DType;

struct Weights {
  std::vector<uint8_t> bytes;
  std::vector<float> deq;
  int64_t row_bytes;
};

Weights make(DType t, int64_t rows, int64_t cols, const std::vector<float>& w) {
  Weights out;
  out.row_bytes = core::dtype_bytes(t, cols);
  out.bytes.resize(static_cast<size_t>(rows * out.row_bytes));
  out.deq.resize(w.size());
  for (int64_t r = 0; r < rows; ++r) {
    core::quantize_row(t, w.data() + r * cols, out.bytes.data() + r * out.row_bytes, cols);
    core::dequantize_row(t, out.bytes.data() + r * out.row_bytes, out.deq.data() + r * cols, cols);
  }
  return out;
}

std::vector<SimdLevel> levels() {
  std::vector<SimdLevel> l;
  for (int i = 0; i <= static_cast<int>(max_simd_level()); ++i) l.push_back(static_cast<SimdLevel>(i));
  return l;
}

// y of every level and token count against Σ_c deq[r][c] * qs[c] * d[c / 32] in double: the
// kernels compute that sum exactly in int32 per block and round only in the float scaling, so the
// bound is 1e-5 of the sum of magnitudes.
void check_weights(DType t, int64_t rows, int64_t cols, const Weights& w, const std::vector<float>& xf) {
  const int64_t nb = cols / 32;
  const int T = simd::kMaxTokens;
  std::vector<ActBlock> act(static_cast<size_t>(T * nb));
  for (int tk = 0; tk < T; ++tk) simd::quantize_activations_scalar(xf.data() + tk * cols, cols, act.data() + tk * nb);
  for (SimdLevel level : levels()) {
    const simd::KernelTable& table = simd::table_for(level);
    for (int nt = 1; nt <= T; ++nt) {
      std::vector<float> y(static_cast<size_t>(nt * rows), NAN);
      simd::MatArgs a{.dtype = t, .w = w.bytes.data(), .row_bytes = w.row_bytes, .rows = rows, .cols = cols,
                      .xq = act.data(), .x_stride = nb, .nt = nt, .y = y.data(), .y_stride = rows};
      ASSERT_TRUE(table.matmul(a)) << core::dtype_name(t) << " " << simd_level_name(level);
      for (int tk = 0; tk < nt; ++tk) {
        for (int64_t r = 0; r < rows; ++r) {
          double ref = 0, mag = 0;
          for (int64_t c = 0; c < cols; ++c) {
            const ActBlock& xb = act[static_cast<size_t>(tk * nb + c / 32)];
            const double xv = static_cast<double>(xb.qs[c % 32]) * xb.d;
            ref += w.deq[static_cast<size_t>(r * cols + c)] * xv;
            mag += std::fabs(w.deq[static_cast<size_t>(r * cols + c)] * xv);
          }
          ASSERT_NEAR(y[static_cast<size_t>(tk * rows + r)], ref, 1e-5 * mag + 1e-30)
              << core::dtype_name(t) << " cols " << cols << " " << simd_level_name(level) << " nt " << nt << " t " << tk
              << " r " << r;
        }
      }
    }
  }
}

void check(DType t, int64_t rows, int64_t cols, const std::vector<float>& wf, const std::vector<float>& xf) {
  check_weights(t, rows, cols, make(t, rows, cols, wf), xf);
}

std::vector<float> randn(int64_t n, uint64_t seed, float mean = 0.0f) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = mean + core::normal01(seed, static_cast<uint64_t>(i));
  return v;
}

TEST(LegacyKernels, EveryLevelMatchesTheExactDot) {
  uint64_t seed = 40;
  for (DType t : {DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kIQ4_NL}) {
    for (int64_t cols : {32, 96, 1408}) {
      const int64_t rows = 19;
      seed += 4;
      check(t, rows, cols, randn(rows * cols, seed), randn(simd::kMaxTokens * cols, seed + 1));
      // Weights off centre: q4_1/q5_1's min carries most of the value.
      check(t, rows, cols, randn(rows * cols, seed + 2, 3.0f), randn(simd::kMaxTokens * cols, seed + 3));
    }
  }
  for (int64_t cols : {256, 1536}) {
    seed += 2;
    check(DType::kIQ4_XS, 21, cols, randn(21 * cols, seed), randn(simd::kMaxTokens * cols, seed + 1));
  }
}

// iq2_xxs and iq1_s (read-only types: no quantizer) from random blocks, whose every byte but the
// f16 scale is a valid index, sign or scale; 2048 columns is 8 blocks a row.
TEST(LegacyKernels, CodebookTypesMatchTheExactDotOnEveryLevel) {
  uint32_t seed = 90;
  for (DType t : {DType::kIQ2_XXS, DType::kIQ1_S}) {
    for (int64_t cols : {256, 2048}) {
      const int64_t rows = 13;
      Weights w;
      w.row_bytes = core::dtype_bytes(t, cols);
      w.bytes.resize(static_cast<size_t>(rows * w.row_bytes));
      std::mt19937 rng(seed++);
      for (auto& b : w.bytes) b = static_cast<uint8_t>(rng() & 0xFF);
      const int64_t bb = core::dtype_info(t).block_bytes;
      for (size_t b = 0; b < w.bytes.size(); b += static_cast<size_t>(bb)) {
        const uint16_t d = core::f32_to_f16(0.01f + 0.001f * static_cast<float>(rng() % 64));
        std::memcpy(w.bytes.data() + b, &d, 2);
      }
      w.deq.resize(static_cast<size_t>(rows * cols));
      core::dequantize_row(t, w.bytes.data(), w.deq.data(), rows * cols);
      check_weights(t, rows, cols, w, randn(simd::kMaxTokens * cols, seed++));
    }
  }
}

// The largest int8 products: weights on the table's -127 (iq4) or the top level (q5/q4_1) times
// activations of +-127 of the same sign, so AVX2's pairwise int16 sums are at their maximum.
TEST(LegacyKernels, ExtremeProductsDoNotSaturate) {
  const int64_t rows = 3, cols = 512;
  std::vector<float> x(static_cast<size_t>(simd::kMaxTokens * cols));
  for (size_t i = 0; i < x.size(); ++i) x[i] = i % 3 ? -1.0f : 1.0f;
  for (DType t : {DType::kIQ4_NL, DType::kIQ4_XS, DType::kQ5_0, DType::kQ5_1, DType::kQ4_1}) {
    std::vector<float> w(static_cast<size_t>(rows * cols));
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) {
        // Each block: one huge element of x's sign sets the scale, the rest sit on the extreme too.
        w[static_cast<size_t>(r * cols + c)] = x[static_cast<size_t>(c)] * (r + 1.0f);
      }
    }
    check(t, rows, cols, w, x);
  }
}

}  // namespace
}  // namespace whale::kernels
