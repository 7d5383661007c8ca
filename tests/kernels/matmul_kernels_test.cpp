// The fast linear() on every SIMD level this CPU has, against the f32 reference (linear_ref) and
// against the portable int8 kernel, over sweeps of shapes, token counts and row ranges; plus the
// activation quantizer, the fp8 decode of every byte, batch invariance and the level switch.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/convert.h"
#include "core/quant.h"
#include "core/random.h"
#include "kernels/activation_quant.h"
#include "kernels/amx.h"
#include "kernels/cpu_features.h"
#include "kernels/float_dot.h"
#include "kernels/linear.h"
#include "kernels/linear_ref.h"
#include "kernels/packed.h"
#include "kernels/simd_kernels.h"

namespace whale::kernels {
namespace {

using core::DType;

std::vector<float> randn(int64_t n, uint64_t seed) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = core::normal01(seed, static_cast<uint64_t>(i));
  return v;
}

WeightView make_weight(DType dt, int64_t rows, int64_t cols, const std::vector<float>& w) {
  WeightView v;
  v.w = core::Tensor::empty(dt, core::Shape{rows, cols});
  if (dt == DType::kF8E4M3) {
    v.scale_inv = core::Tensor::empty(DType::kF32, core::Shape{(rows + 127) / 128, (cols + 127) / 128});
    core::quantize_fp8_blocks(w.data(), rows, cols, v.w.data<uint8_t>(), v.scale_inv.data<float>(), 128);
  } else {
    for (int64_t r = 0; r < rows; ++r) {
      core::convert_row(DType::kF32, w.data() + r * cols, dt,
                        static_cast<char*>(v.w.raw()) + core::dtype_bytes(dt, r * cols), cols);
    }
  }
  return v;
}

std::vector<SimdLevel> levels() {
  std::vector<SimdLevel> l;
  for (int i = 0; i <= static_cast<int>(max_simd_level()); ++i) l.push_back(static_cast<SimdLevel>(i));
  return l;
}

// Restores the machine's level when a test ends, whatever it set.
struct LevelGuard {
  ~LevelGuard() { set_simd_level(max_simd_level()); }
};

bool int8_path(DType t) {
  return t == DType::kQ8_0 || t == DType::kQ4_0 || t == DType::kQ4_K || t == DType::kQ6_K || t == DType::kQ2_K ||
         t == DType::kQ3_K || t == DType::kQ5_K || t == DType::kQ4_1 || t == DType::kQ5_0 || t == DType::kQ5_1 ||
         t == DType::kIQ4_NL || t == DType::kIQ4_XS;
}

struct Case {
  DType dt;
  std::vector<int64_t> cols;
};

const std::vector<Case>& cases() {
  static const std::vector<Case> c = {
      {DType::kF32, {1, 15, 16, 17, 37, 64, 300}},  {DType::kF16, {1, 17, 37, 64, 300}},
      {DType::kBF16, {1, 17, 37, 64, 300}},          {DType::kF8E4M3, {1, 17, 130, 300, 512}},
      {DType::kQ8_0, {32, 96, 160, 1024}},           {DType::kQ4_0, {32, 96, 160, 1024}},
      {DType::kQ4_K, {256, 512}},                    {DType::kQ6_K, {256, 768}},
      {DType::kQ2_K, {256, 512}},                    {DType::kQ3_K, {256, 512}},
      {DType::kQ5_K, {256, 768}},
      {DType::kQ4_1, {32, 160, 1408}},               {DType::kQ5_0, {32, 160, 1408}},
      {DType::kQ5_1, {32, 160, 1408}},               {DType::kIQ4_NL, {32, 160, 1408}},
      {DType::kIQ4_XS, {256, 768}}};
  return c;
}

// |x - bf16(x)|: what float_dot's fp8 kernel changes in an activation (it rounds x to bf16).
double bf16_rounding(float x) { return std::fabs(static_cast<double>(x) - core::bf16_to_f32(core::f32_to_bf16(x))); }

// Error bounds. Float weights: only the summation order differs, so 1e-5 of Σ|x||w|. Int8 paths:
// x is rounded to d/2 per element (d = block max / 127), so |y - ref| <= Σ_c |w_c| d_c / 2 (plus
// the float term); on Gaussian data that is well under 1% of Σ|x||w|, which is asserted too. fp8 on
// float_dot's kernel: x is rounded to bf16, so Σ_c |w_c| |x_c - bf16(x_c)| is added.
TEST(MatmulKernels, EveryLevelAndDtypeMatchesReference) {
  LevelGuard guard;
  core::ThreadPool pool(2);
  uint64_t seed = 10;
  for (const Case& c : cases()) {
    for (int64_t cols : c.cols) {
      const int64_t rows = 37, T = 17;
      const std::vector<float> wf = randn(rows * cols, ++seed), x = randn(T * cols, ++seed);
      const WeightView w = make_weight(c.dt, rows, cols, wf);
      std::vector<float> deq(static_cast<size_t>(rows * cols));
      dequantize_weight(w, deq.data());
      std::vector<float> ref(static_cast<size_t>(T * rows));
      linear_ref(w, {.x = x.data(), .T = T, .x_stride = cols, .y = ref.data(), .y_stride = rows});
      std::vector<ActBlock> act(static_cast<size_t>(T * (cols / 32)));
      if (int8_path(c.dt)) {
        for (int64_t t = 0; t < T; ++t) quantize_activation_row(x.data() + t * cols, cols, act.data() + t * (cols / 32));
      }
      std::vector<float> scalar_y;
      for (SimdLevel level : levels()) {
        set_simd_level(level);
        const bool bf16_x = c.dt == DType::kF8E4M3 && float_dot::enabled(c.dt);
        for (int64_t nt : {int64_t{1}, int64_t{2}, int64_t{5}, T}) {
          std::vector<float> y(static_cast<size_t>(nt * rows), -1.0f);
          linear(w, {.x = x.data(), .T = nt, .x_stride = cols, .y = y.data(), .y_stride = rows}, &pool);
          double worst_rel = 0;
          for (int64_t t = 0; t < nt; ++t) {
            for (int64_t r = 0; r < rows; ++r) {
              double mag = 0, qbound = 0;
              for (int64_t k = 0; k < cols; ++k) {
                const double wk = std::fabs(deq[r * cols + k]);
                mag += wk * std::fabs(x[t * cols + k]);
                if (int8_path(c.dt)) qbound += wk * act[t * (cols / 32) + k / 32].d / 2;
                if (bf16_x) qbound += wk * bf16_rounding(x[t * cols + k]);
              }
              const double err = std::fabs(y[t * rows + r] - ref[t * rows + r]);
              ASSERT_LE(err, qbound * 1.0001 + 1e-5 * mag + 1e-30)
                  << core::dtype_name(c.dt) << " cols " << cols << " level " << simd_level_name(level) << " t " << t << " r " << r;
              worst_rel = std::max(worst_rel, err / mag);
            }
          }
          if (int8_path(c.dt)) {
            EXPECT_LT(worst_rel, 0.01) << core::dtype_name(c.dt);
          }
          // SIMD kernels against the portable kernel (same int8 activations): summation order only.
          if (nt == T && level == SimdLevel::kScalar) scalar_y = y;
          if (nt == T && level != SimdLevel::kScalar) {
            for (int64_t i = 0; i < T * rows; ++i) {
              double mag = 0, xbound = 0;
              for (int64_t k = 0; k < cols; ++k) {
                mag += std::fabs(deq[(i % rows) * cols + k] * x[(i / rows) * cols + k]);
                if (bf16_x) xbound += std::fabs(deq[(i % rows) * cols + k]) * bf16_rounding(x[(i / rows) * cols + k]);
              }
              ASSERT_NEAR(y[i], scalar_y[i], xbound * 1.0001 + 1e-5 * mag + 1e-30)
                  << core::dtype_name(c.dt) << " cols " << cols;
            }
          }
        }
      }
    }
  }
}

TEST(MatmulKernels, TokenResultsDoNotDependOnTheBatchOrThePool) {
  LevelGuard guard;
  core::ThreadPool pool(2);
  for (SimdLevel level : levels()) {
    set_simd_level(level);
    for (const Case& c : cases()) {
      const int64_t cols = c.cols.back(), rows = 70, T = 7;
      const WeightView w = make_weight(c.dt, rows, cols, randn(rows * cols, 3));
      const std::vector<float> x = randn(T * cols, 4);
      // Rows [3, 70) of the weight into a y with a wider stride.
      std::vector<float> all(static_cast<size_t>(T * 80)), one(static_cast<size_t>(80));
      linear(w, {.x = x.data(), .T = T, .x_stride = cols, .y = all.data(), .y_stride = 80, .row0 = 3, .row1 = 70}, &pool);
      for (int64_t t = 0; t < T; ++t) {
        linear(w, {.x = x.data() + t * cols, .T = 1, .x_stride = cols, .y = one.data(), .y_stride = 80, .row0 = 3, .row1 = 70},
               nullptr);
        for (int64_t i = 0; i < 67; ++i) {
          ASSERT_EQ(all[t * 80 + i], one[i]) << core::dtype_name(c.dt) << " " << simd_level_name(level) << " t " << t;
        }
      }
    }
  }
}

TEST(MatmulKernels, Fp8DecodesEveryByte) {
  // One row holding every finite e4m3 byte (NaNs 0x7F/0xFF replaced by 0), scale 0.5 on the
  // first 128 columns and 4 on the rest; one-hot tokens read single weights back exactly.
  LevelGuard guard;
  WeightView w;
  w.w = core::Tensor::empty(DType::kF8E4M3, core::Shape{1, 256});
  w.scale_inv = core::Tensor::empty(DType::kF32, core::Shape{1, 2});
  w.scale_inv.data<float>()[0] = 0.5f;
  w.scale_inv.data<float>()[1] = 4.0f;
  for (int b = 0; b < 256; ++b) w.w.data<uint8_t>()[b] = (b & 0x7F) == 0x7F ? 0 : static_cast<uint8_t>(b);
  std::vector<float> x(256 * 256, 0.0f), y(256);
  for (int t = 0; t < 256; ++t) x[t * 256 + t] = 1.0f;
  for (SimdLevel level : levels()) {
    set_simd_level(level);
    linear(w, {.x = x.data(), .T = 256, .x_stride = 256, .y = y.data(), .y_stride = 1}, nullptr);
    for (int b = 0; b < 256; ++b) {
      const float want = core::f8e4m3_to_f32(w.w.data<uint8_t>()[b]) * (b < 128 ? 0.5f : 4.0f);
      ASSERT_EQ(y[b], want) << "byte " << b << " " << simd_level_name(level);
    }
  }
}

// float_dot's kernels against exact products in double: bf16 weights with the f32 activations, fp8
// weights (block scales of 64, 128 and 256 columns, partial blocks) with the activations rounded to
// bf16; any token count gives a token the same bits; with the fp8 path off (WHALE_BF16_DOT=0), or
// a block that is not a multiple of 64, fp8 takes the f32 kernel again.
TEST(FloatDot, MatchesExactProductsOfWhatItReads) {
  LevelGuard guard;
  struct Fp8Guard {
    ~Fp8Guard() { float_dot::set_fp8_enabled(true); }
  } fp8_guard;
  set_simd_level(SimdLevel::kAvx512);
  if (!float_dot::enabled(DType::kBF16)) GTEST_SKIP() << "no AVX-512 here";
  core::ThreadPool pool(2);
  uint64_t seed = 900;
  struct Shape {
    DType dt;
    int64_t rows, cols, block;
  };
  const Shape shapes[] = {{DType::kBF16, 19, 7, 128},      {DType::kBF16, 33, 64, 128},
                          {DType::kBF16, 40, 1000, 128},   {DType::kF8E4M3, 19, 64, 64},
                          {DType::kF8E4M3, 140, 300, 128}, {DType::kF8E4M3, 33, 1536, 128},
                          {DType::kF8E4M3, 300, 700, 256}, {DType::kF8E4M3, 20, 200, 100}};
  for (const Shape& sh : shapes) {
    for (bool fp8_on : {true, false}) {
      if (sh.dt == DType::kF8E4M3 && float_dot::set_fp8_enabled(fp8_on) != fp8_on) continue;  // no BF16/VBMI
      const bool bf16_x = sh.dt == DType::kF8E4M3 && float_dot::enabled(sh.dt, sh.block);
      const int64_t T = 9;
      const std::vector<float> wf = randn(sh.rows * sh.cols, ++seed), x = randn(T * sh.cols, ++seed);
      WeightView w;
      w.w = core::Tensor::empty(sh.dt, core::Shape{sh.rows, sh.cols});
      w.block = sh.block;
      if (sh.dt == DType::kF8E4M3) {
        w.scale_inv = core::Tensor::empty(
            DType::kF32, core::Shape{(sh.rows + sh.block - 1) / sh.block, (sh.cols + sh.block - 1) / sh.block});
        core::quantize_fp8_blocks(wf.data(), sh.rows, sh.cols, w.w.data<uint8_t>(), w.scale_inv.data<float>(),
                                  sh.block);
      } else {
        core::convert_row(DType::kF32, wf.data(), DType::kBF16, w.w.raw(), sh.rows * sh.cols);
      }
      std::vector<float> deq(static_cast<size_t>(sh.rows * sh.cols)), y(static_cast<size_t>(T * sh.rows));
      dequantize_weight(w, deq.data());
      linear(w, {.x = x.data(), .T = T, .x_stride = sh.cols, .y = y.data(), .y_stride = sh.rows}, &pool);
      for (int64_t t = 0; t < T; ++t) {
        for (int64_t r = 0; r < sh.rows; ++r) {
          double exact = 0, mag = 0;
          for (int64_t k = 0; k < sh.cols; ++k) {
            const float xk = x[t * sh.cols + k];
            const double xr = bf16_x ? core::bf16_to_f32(core::f32_to_bf16(xk)) : xk;
            exact += deq[r * sh.cols + k] * xr;
            mag += std::fabs(deq[r * sh.cols + k] * xr);
          }
          ASSERT_NEAR(y[t * sh.rows + r], exact, 1e-5 * mag)
              << core::dtype_name(sh.dt) << " cols " << sh.cols << " block " << sh.block << " bf16 x " << bf16_x;
        }
      }
      for (int64_t nt : {int64_t{1}, int64_t{3}, int64_t{6}}) {  // the first nt tokens alone: same bits
        std::vector<float> part(static_cast<size_t>(nt * sh.rows));
        linear(w, {.x = x.data(), .T = nt, .x_stride = sh.cols, .y = part.data(), .y_stride = sh.rows}, nullptr);
        for (int64_t i = 0; i < nt * sh.rows; ++i) ASSERT_EQ(part[i], y[i]) << core::dtype_name(sh.dt) << " T " << nt;
      }
      if (sh.dt == DType::kBF16) break;
    }
  }
}

TEST(MatmulKernels, TransposedMatchesReferenceOnEveryLevel) {
  LevelGuard guard;
  for (SimdLevel level : levels()) {
    set_simd_level(level);
    for (const Case& c : cases()) {
      const int64_t cols = c.cols.back(), rows = 20;
      const WeightView w = make_weight(c.dt, rows, cols, randn(rows * cols, 5));
      const std::vector<float> x = randn(12, 6);
      std::vector<float> y(static_cast<size_t>(cols)), ref(static_cast<size_t>(cols));
      linear_transposed(w, 4, 16, x.data(), y.data());
      linear_transposed_ref(w, 4, 16, x.data(), ref.data());
      for (int64_t k = 0; k < cols; ++k) ASSERT_NEAR(y[k], ref[k], 1e-5 * (1 + std::fabs(ref[k])));
    }
  }
}

TEST(ActivationQuant, RoundsToTheBlockScale) {
  LevelGuard guard;
  for (SimdLevel level : levels()) {
  set_simd_level(level);
  std::vector<float> x(64, 0.0f);
  x[0] = -127.0f;  // block max: d = 1
  x[1] = 50.25f;   // 50
  x[2] = 2.5f;     // 3 (ties away from zero)
  x[3] = -0.5f;    // -1
  ActBlock b[2];
  quantize_activation_row(x.data(), 64, b);
  EXPECT_EQ(b[0].d, 1.0f);
  EXPECT_EQ(b[0].qs[0], -127);
  EXPECT_EQ(b[0].qs[1], 50);
  EXPECT_EQ(b[0].qs[2], 3);
  EXPECT_EQ(b[0].qs[3], -1);
  EXPECT_EQ(b[0].sum, -127 + 50 + 3 - 1);
  EXPECT_EQ(b[1].d, 0.0f);  // an all-zero block quantizes to zeros, not NaN
  EXPECT_EQ(b[1].qs[5], 0);
  EXPECT_EQ(b[1].sum, 0);
  }
}

// Every level quantizes to the same bytes: random rows, plus rows of exact ties (k + 0.5) and
// values a hair below a tie, where a float "+ 0.5 then truncate" would round wrongly.
TEST(ActivationQuant, EveryLevelGivesTheSameBlocks) {
  LevelGuard guard;
  const int64_t n = 32 * 40;
  std::vector<float> x = randn(n, 77);
  for (int64_t i = 0; i < 32; ++i) x[static_cast<size_t>(i)] = static_cast<float>(i) - 15.5f;  // max 15.5: d = 15.5/127
  x[32] = 127.0f;
  for (int64_t i = 33; i < 64; ++i) x[static_cast<size_t>(i)] = static_cast<float>(i - 48) + 0.5f;
  x[64] = 127.0f;
  x[65] = std::nextafter(0.5f, 0.0f);
  x[66] = -std::nextafter(2.5f, 0.0f);
  std::vector<ActBlock> ref(static_cast<size_t>(n / 32)), got(static_cast<size_t>(n / 32));
  set_simd_level(SimdLevel::kScalar);
  quantize_activation_row(x.data(), n, ref.data());
  EXPECT_EQ(ref[1].qs[1], -15);  // -14.5 with d = 1: ties away from zero
  EXPECT_EQ(ref[1].qs[31], 16);  // 15.5
  EXPECT_EQ(ref[2].qs[1], 0);    // just below 0.5
  EXPECT_EQ(ref[2].qs[2], -2);   // just above -2.5
  for (SimdLevel level : levels()) {
    set_simd_level(level);
    quantize_activation_row(x.data(), n, got.data());
    for (size_t b = 0; b < ref.size(); ++b) {
      ASSERT_EQ(got[b].d, ref[b].d) << simd_level_name(level) << " block " << b;
      ASSERT_EQ(got[b].sum, ref[b].sum) << simd_level_name(level) << " block " << b;
      for (int j = 0; j < 32; ++j) ASSERT_EQ(got[b].qs[j], ref[b].qs[j]) << simd_level_name(level) << " block " << b << " " << j;
    }
  }
}

// Packed q8_0/q4_0/q4_k/q5_k/q6_k/q5_0/q5_1/q4_1/iq4_nl/q2_k/q3_k/iq4_xs weights: the VNNI kernel (any token count) and the
// AMX tiles (16 or more tokens; q8_0, q4_0, q4_k, q6_k) give every token the same bits, alone or in any batch, and
// agree with the unpacked kernels and with the exact product of the dequantized weights and the int8 activations (in
// double) up to f32 rounding.
TEST(Packed, VnniAndAmxGiveTheSameBitsInAnyBatch) {
  LevelGuard guard;
  struct AmxGuard {
    ~AmxGuard() { amx::set_enabled(true); }
  } amx_guard;
  core::ThreadPool pool(2);
  uint64_t seed = 500;
  int checked = 0, avx2_checked = 0;
  for (DType dt : {DType::kQ8_0, DType::kQ4_0, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K, DType::kQ5_0, DType::kQ5_1,
                   DType::kQ4_1, DType::kIQ4_NL, DType::kQ2_K, DType::kQ3_K, DType::kIQ4_XS}) {
    const bool k_quant = packed::group_block_bytes_per_superblock(dt);
    for (int64_t rows : {int64_t{16}, int64_t{48}, int64_t{80}}) {
      for (int64_t cols : k_quant ? std::vector<int64_t>{256, 768, 1536} : std::vector<int64_t>{32, 96, 1408}) {
        const int64_t T = 40;
        const std::vector<float> wf = randn(rows * cols, ++seed), x = randn(T * cols, ++seed);
        const WeightView w = make_weight(dt, rows, cols, wf);
        if (!packed::packable(w)) GTEST_SKIP() << "no AVX-512 VNNI: weights are not packed here";
        WeightView wp = w;
        wp.packed = packed::pack(w);
        std::vector<float> simd_y(static_cast<size_t>(T * rows)), vnni_y(simd_y.size()), one(static_cast<size_t>(rows));
        amx::set_enabled(false);
        linear(w, {.x = x.data(), .T = T, .x_stride = cols, .y = simd_y.data(), .y_stride = rows}, &pool);
        linear(wp, {.x = x.data(), .T = T, .x_stride = cols, .y = vnni_y.data(), .y_stride = rows}, &pool);
        // The oracle: dequantized weights times the dequantized int8 activations, in double.
        std::vector<float> wd(static_cast<size_t>(rows * cols));
        core::dequantize_row(dt, w.w.raw(), wd.data(), rows * cols);
        std::vector<ActBlock> xq(static_cast<size_t>(T * cols / 32));
        quantize_activation_row(x.data(), T * cols, xq.data());
        for (int64_t i = 0; i < T * rows; ++i) {
          double mag = 0, exact = 0;
          for (int64_t k = 0; k < cols; ++k) {
            const ActBlock& b = xq[static_cast<size_t>(((i / rows) * cols + k) / 32)];
            const double xk = static_cast<double>(b.qs[k % 32]) * b.d, wk = wd[(i % rows) * cols + k];
            exact += wk * xk;
            mag += std::fabs(wk * xk);
          }
          ASSERT_NEAR(vnni_y[i], simd_y[i], 1e-5 * mag) << core::dtype_name(dt) << " rows " << rows << " cols " << cols;
          ASSERT_NEAR(vnni_y[i], exact, 1e-5 * mag) << core::dtype_name(dt) << " rows " << rows << " cols " << cols;
        }
#if WHALE_SIMD_X86
        // The avx2 level's packed kernels (maddubs, and AVX-VNNI's ymm vpdpbusd where the CPU has it)
        // give every token the avx512 kernel's bits, one token or all at once.
        if (max_simd_level() == SimdLevel::kAvx512) {
          std::vector<const simd::KernelTable*> avx2 = {&simd::kAvx2Kernels};
          if (cpu_features().avx_vnni) avx2.push_back(&simd::kAvx2VnniKernels);
          for (const simd::KernelTable* table : avx2) {
            for (int64_t nt : {int64_t{1}, int64_t{3}, T}) {
              std::vector<float> y2(static_cast<size_t>(nt * rows), -1.0f);
              table->matmul_packed(dt, static_cast<const uint8_t*>(wp.packed.raw()), cols / 32, 0, rows / packed::kRows,
                                   xq.data(), cols / 32, nt, y2.data(), rows);
              for (int64_t i = 0; i < nt * rows; ++i) {
                ASSERT_EQ(y2[i], vnni_y[i]) << core::dtype_name(dt) << " avx2 vnni "
                                            << (table == &simd::kAvx2VnniKernels) << " T " << nt << " i " << i;
              }
            }
          }
          ++avx2_checked;
        }
#endif
        for (int64_t t : {int64_t{0}, int64_t{17}, T - 1}) {  // alone, on one thread
          linear(wp, {.x = x.data() + t * cols, .T = 1, .x_stride = cols, .y = one.data(), .y_stride = rows}, nullptr);
          for (int64_t r = 0; r < rows; ++r) ASSERT_EQ(one[r], vnni_y[t * rows + r]) << core::dtype_name(dt) << " t " << t;
        }
        for (int64_t nt : {int64_t{5}, int64_t{13}, int64_t{21}}) {  // VNNI passes of 8 (q4_k 6, q6_k 4) and remainders
          std::vector<float> part(static_cast<size_t>(nt * rows));
          linear(wp, {.x = x.data(), .T = nt, .x_stride = cols, .y = part.data(), .y_stride = rows}, &pool);
          for (int64_t i = 0; i < nt * rows; ++i) ASSERT_EQ(part[i], vnni_y[i]) << core::dtype_name(dt) << " T " << nt;
        }
        if (rows > 16) {  // a row range of whole groups
          std::vector<float> part(static_cast<size_t>(3 * 16));
          linear(wp, {.x = x.data(), .T = 3, .x_stride = cols, .y = part.data(), .y_stride = 16, .row0 = 16, .row1 = 32}, &pool);
          for (int64_t t = 0; t < 3; ++t) {
            for (int64_t r = 0; r < 16; ++r) ASSERT_EQ(part[t * 16 + r], vnni_y[t * rows + 16 + r]);
          }
        }
        if (amx::set_enabled(true) && amx::supports(dt)) {
          for (int64_t nt : {int64_t{16}, int64_t{21}, T}) {  // whole and zero-padded tiles
            std::vector<float> amx_y(static_cast<size_t>(nt * rows));
            linear(wp, {.x = x.data(), .T = nt, .x_stride = cols, .y = amx_y.data(), .y_stride = rows}, &pool);
            for (int64_t i = 0; i < nt * rows; ++i) ASSERT_EQ(amx_y[i], vnni_y[i]) << core::dtype_name(dt) << " T " << nt;
          }
          ++checked;
        }
      }
    }
  }
  if (max_simd_level() == SimdLevel::kAvx512) {
    EXPECT_EQ(avx2_checked, 108);
  }
  if (amx::available()) {
    EXPECT_EQ(checked, 36);
    set_simd_level(SimdLevel::kAvx2);  // AMX's scaling uses AVX-512: off below that level
    EXPECT_FALSE(amx::enabled());
  }
}

}  // namespace
}  // namespace whale::kernels
