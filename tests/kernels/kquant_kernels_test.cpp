// The q2_k / q3_k / q5_k row kernels of every level this CPU has (scalar, avx2, avx512 through
// simd::table_for), called directly, against the f32 dot of the dequantized weights
// (core::dequantize_row, checked against gguf-py by quant_k_oracle.py) with the dequantized int8
// activations: the kernels see exactly those values, so only summation order may differ.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/quant.h"
#include "core/random.h"
#include "kernels/simd_kernels.h"

namespace whale::kernels {
namespace {

using core::DType;

TEST(KQuantKernels, EveryLevelMatchesTheDequantizedDot) {
  const int64_t rows = 7;
  uint64_t seed = 100;
  for (DType dt : {DType::kQ5_K, DType::kQ3_K, DType::kQ2_K}) {
    for (int64_t cols : {256, 768}) {
      const int64_t row_bytes = core::dtype_bytes(dt, cols), nb = cols / 32;
      std::vector<float> wf(static_cast<size_t>(rows * cols)), deq(wf.size());
      std::vector<uint8_t> w(static_cast<size_t>(rows * row_bytes));
      ++seed;
      for (size_t i = 0; i < wf.size(); ++i) wf[i] = core::normal01(seed, i);
      for (int64_t c = 0; c < cols; c += 5) wf[static_cast<size_t>(c)] = 0.0f;  // row 0 partly sparse
      for (int64_t r = 0; r < rows; ++r) {
        core::quantize_row(dt, wf.data() + r * cols, w.data() + r * row_bytes, cols);
        core::dequantize_row(dt, w.data() + r * row_bytes, deq.data() + r * cols, cols);
      }
      const int T = simd::kMaxTokens;
      std::vector<float> x(static_cast<size_t>(T * cols));
      ++seed;
      for (size_t i = 0; i < x.size(); ++i) x[i] = core::normal01(seed, i) * (i % 97 == 0 ? 30.0f : 1.0f);
      std::vector<ActBlock> xq(static_cast<size_t>(T * nb));
      for (int t = 0; t < T; ++t) simd::quantize_activations_scalar(x.data() + t * cols, cols, xq.data() + t * nb);
      for (SimdLevel level : {SimdLevel::kScalar, SimdLevel::kAvx2, SimdLevel::kAvx512}) {
        const simd::KernelTable& table = simd::table_for(level);
        if (table.level != level) continue;  // this CPU or build lacks it
        for (int nt = 1; nt <= T; ++nt) {
          std::vector<float> y(static_cast<size_t>(nt * rows), -1.0f);
          simd::MatArgs a{.dtype = dt, .w = w.data(), .row_bytes = row_bytes, .rows = rows, .cols = cols,
                          .xq = xq.data(), .x_stride = nb, .nt = nt, .y = y.data(), .y_stride = rows};
          ASSERT_TRUE(table.matmul(a)) << core::dtype_name(dt) << " " << simd_level_name(level);
          for (int t = 0; t < nt; ++t) {
            for (int64_t r = 0; r < rows; ++r) {
              double ref = 0, mag = 0;
              for (int64_t c = 0; c < cols; ++c) {
                const ActBlock& b = xq[static_cast<size_t>(t * nb + c / 32)];
                const double xv = static_cast<double>(b.qs[c % 32]) * b.d;
                ref += deq[static_cast<size_t>(r * cols + c)] * xv;
                mag += std::fabs(deq[static_cast<size_t>(r * cols + c)] * xv);
              }
              ASSERT_NEAR(y[static_cast<size_t>(t * rows + r)], ref, 2e-6 * mag + 1e-30)
                  << core::dtype_name(dt) << " cols " << cols << " level " << simd_level_name(level) << " nt " << nt
                  << " t " << t << " r " << r;
            }
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace whale::kernels
