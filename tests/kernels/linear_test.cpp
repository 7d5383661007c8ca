// linear() for every stored dtype against a plain f32 product of the dequantized weight (the
// dequantizers themselves are checked by hand in tests/core), with odd sizes and row ranges.
#include "kernels/linear.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/convert.h"
#include "core/quant.h"
#include "core/random.h"
#include "kernels/float_dot.h"

namespace whale::kernels {
namespace {

std::vector<float> randn(int64_t n, uint64_t seed) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = core::normal01(seed, static_cast<uint64_t>(i));
  return v;
}

WeightView make_weight(core::DType dt, int64_t rows, int64_t cols, const std::vector<float>& w, int64_t block) {
  WeightView v;
  v.w = core::Tensor::empty(dt, core::Shape{rows, cols});
  v.block = block;
  if (dt == core::DType::kF8E4M3) {
    v.scale_inv = core::Tensor::empty(core::DType::kF32, core::Shape{(rows + block - 1) / block, (cols + block - 1) / block});
    core::quantize_fp8_blocks(w.data(), rows, cols, v.w.data<uint8_t>(), v.scale_inv.data<float>(), block);
  } else {
    for (int64_t r = 0; r < rows; ++r) {
      core::convert_row(core::DType::kF32, w.data() + r * cols, dt,
                        static_cast<char*>(v.w.raw()) + core::dtype_bytes(dt, r * cols), cols);
    }
  }
  return v;
}

TEST(Linear, EveryDtypeMatchesDequantizedProduct) {
  core::ThreadPool pool(2);
  const struct { core::DType dt; int64_t cols; } cases[] = {
      {core::DType::kF32, 37}, {core::DType::kF16, 37}, {core::DType::kBF16, 37}, {core::DType::kF8E4M3, 300},
      {core::DType::kQ8_0, 96}, {core::DType::kQ4_0, 64}, {core::DType::kQ4_K, 256}, {core::DType::kQ6_K, 512}};
  for (const auto& c : cases) {
    const int64_t rows = 131, T = 3;
    const std::vector<float> wf = randn(rows * c.cols, 1), x = randn(T * c.cols, 2);
    const WeightView w = make_weight(c.dt, rows, c.cols, wf, 128);
    std::vector<float> deq(static_cast<size_t>(rows * c.cols));
    for (int64_t r = 0; r < rows; ++r) dequantize_weight_row(w, r, deq.data() + r * c.cols);
    if (c.dt == core::DType::kF32) {
      EXPECT_EQ(deq, wf);
    }
    // rows [5, 131): output column i is W row 5 + i.
    std::vector<float> y(static_cast<size_t>(T * 126));
    linear(w, {.x = x.data(), .T = T, .x_stride = c.cols, .y = y.data(), .y_stride = 126, .row0 = 5, .row1 = 131}, &pool);
    for (int64_t t = 0; t < T; ++t) {
      for (int64_t i = 0; i < 126; ++i) {
        double ref = 0;
        for (int64_t k = 0; k < c.cols; ++k) ref += static_cast<double>(x[t * c.cols + k]) * deq[(5 + i) * c.cols + k];
        // Block-quantized weights take int8 activations (one scale per 32 values), so x is rounded
        // by up to max|x_block|/254 per element: allow 1% of Σ|x||w| (matmul_kernels_test bounds it exactly).
        double mag = 0;
        for (int64_t k = 0; k < c.cols; ++k) mag += std::fabs(x[t * c.cols + k] * deq[(5 + i) * c.cols + k]);
        // fp8 on float_dot's kernel rounds x to bf16: Σ|w||x - bf16(x)| more.
        double bf16_err = 0;
        if (c.dt == core::DType::kF8E4M3 && float_dot::enabled(c.dt)) {
          for (int64_t k = 0; k < c.cols; ++k) {
            const float xk = x[t * c.cols + k];
            bf16_err += std::fabs(deq[(5 + i) * c.cols + k] * (xk - core::bf16_to_f32(core::f32_to_bf16(xk))));
          }
        }
        const bool int8 = core::dtype_info(c.dt).is_block_quant;
        ASSERT_NEAR(y[t * 126 + i], ref, int8 ? 0.01 * mag : bf16_err * 1.0001 + 1e-4 * (1 + std::fabs(ref)))
            << core::dtype_name(c.dt);
      }
    }
    // Transposed product over rows [10, 20).
    std::vector<float> xt = randn(10, 3), yt(static_cast<size_t>(c.cols));
    linear_transposed(w, 10, 20, xt.data(), yt.data());
    for (int64_t k = 0; k < c.cols; ++k) {
      double ref = 0;
      for (int64_t r = 0; r < 10; ++r) ref += static_cast<double>(xt[r]) * deq[(10 + r) * c.cols + k];
      ASSERT_NEAR(yt[k], ref, 1e-4 * (1 + std::fabs(ref)));
    }
  }
}

TEST(Linear, Fp8UsesTheBlockScaleOfEachBlock) {
  // 2x3 weight with block 2: blocks (rows 0-1, cols 0-1) and (rows 0-1, col 2) with different scales.
  WeightView w;
  w.block = 2;
  w.w = core::Tensor::empty(core::DType::kF8E4M3, core::Shape{2, 3});
  w.scale_inv = core::Tensor::empty(core::DType::kF32, core::Shape{1, 2});
  const float values[6] = {1, 2, 1.5f, -1, 0.5f, 4};
  for (int i = 0; i < 6; ++i) w.w.data<uint8_t>()[i] = core::f32_to_f8e4m3(values[i]);
  w.scale_inv.data<float>()[0] = 0.25f;
  w.scale_inv.data<float>()[1] = 8.0f;
  float row[3];
  dequantize_weight_row(w, 1, row);
  EXPECT_FLOAT_EQ(row[0], -0.25f);
  EXPECT_FLOAT_EQ(row[1], 0.125f);
  EXPECT_FLOAT_EQ(row[2], 32.0f);
}

}  // namespace
}  // namespace whale::kernels
