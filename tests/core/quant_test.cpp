// Tests for core/quant.h: hand-built q8_0/q4_0 blocks checked byte for byte against ggml's reference
// rules, hand-built q4_k/q6_k blocks decoded by the documented formulas, error bounds on random
// data, and DeepSeek-style FP8 128x128 block scaling on a ragged 130 x 300 weight.
#include "core/quant.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/convert.h"
#include "../error_of.h"
#include "quant_test_util.h"
#include "core/error.h"

namespace whale::core {
namespace {

using whale::testing::error_kind_of;
using testing::block_bytes;
using testing::normal_data;

TEST(Q8_0, HandBlocks) {
  float x[64] = {};
  // Block 0: amax 127 -> d = 1 (f16 0x3C00); q = round(x), halves away from zero as roundf does.
  const float v0[] = {127, -127, 2.5f, -2.5f, 0.49f, 1.5f, 0, 100.4f};
  std::memcpy(x, v0, sizeof v0);
  // Block 1: amax 63.5 -> d = 0.5 (f16 0x3800); q = round(2x).
  const float v1[] = {0.75f, -63.5f, 0.25f, -0.2f, 10.0f};
  std::memcpy(x + 32, v1, sizeof v1);
  BlockQ8_0 q[2];
  quantize_row(DType::kQ8_0, x, q, 64);
  std::vector<uint8_t> want(68, 0);
  want[0] = 0x00, want[1] = 0x3C;
  const int8_t q0[] = {127, -127, 3, -3, 0, 2, 0, 100};
  std::memcpy(&want[2], q0, sizeof q0);
  want[34] = 0x00, want[35] = 0x38;
  const int8_t q1[] = {2, -127, 1, 0, 20};
  std::memcpy(&want[36], q1, sizeof q1);
  std::vector<uint8_t> got(68);
  std::memcpy(got.data(), q, 68);
  EXPECT_EQ(got, want);

  float y[64];
  dequantize_row(DType::kQ8_0, q, y, 64);
  EXPECT_EQ(y[2], 3.0f);
  EXPECT_EQ(y[33], -63.5f);
  EXPECT_EQ(y[36], 10.0f);
  EXPECT_EQ(y[63], 0.0f);
}

TEST(Q8_0, ErrorBound) {
  const int64_t n = 32 * 64;
  std::vector<float> x = normal_data(n, 11, 3.f);
  std::vector<BlockQ8_0> q(n / 32);
  std::vector<float> y(n);
  quantize_row(DType::kQ8_0, x.data(), q.data(), n);
  dequantize_row(DType::kQ8_0, q.data(), y.data(), n);
  for (int64_t b = 0; b < n / 32; ++b) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b * 32 + j]));
    const float d = amax / 127;
    const float d16 = f16_to_f32(q[b].d);
    // Half a step, plus what storing d as f16 costs at the largest |q| (127).
    const float bound = 0.5f * d16 + 127 * std::fabs(d - d16) + 1e-6f;
    for (int j = 0; j < 32; ++j) {
      ASSERT_LE(std::fabs(y[b * 32 + j] - x[b * 32 + j]), bound) << b << " " << j;
    }
  }
}

TEST(Q4_0, HandBlocks) {
  float x[64] = {};
  // Block 0: the signed extreme is -8 -> d = 1, id = 1, nibble = trunc(x + 8.5) capped at 15.
  const float v0[] = {-8, 7, 0, 0.4f, 0.5f, -0.5f, -3.2f, 7.4f};
  std::memcpy(x, v0, sizeof v0);
  x[16] = 2.0f;   // high nibble of qs[0]
  x[31] = -1.0f;  // high nibble of qs[15]
  // Block 1: the signed extreme is +4 -> d = -0.5, id = -2; -4 would be nibble 16, capped to 15.
  const float v1[] = {4, -4, 1, 0};
  std::memcpy(x + 32, v1, sizeof v1);
  BlockQ4_0 q[2];
  quantize_row(DType::kQ4_0, x, q, 64);
  std::vector<uint8_t> want(36, 0);
  want[0] = 0x00, want[1] = 0x3C;  // d = 1
  const uint8_t lo0[16] = {0, 15, 8, 8, 9, 8, 5, 15, 8, 8, 8, 8, 8, 8, 8, 8};
  const uint8_t hi0[16] = {10, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 7};
  for (int j = 0; j < 16; ++j) want[2 + j] = static_cast<uint8_t>(lo0[j] | (hi0[j] << 4));
  want[18] = 0x00, want[19] = 0xB8;  // d = -0.5
  const uint8_t lo1[4] = {0, 15, 6, 8};
  for (int j = 0; j < 16; ++j) want[20 + j] = static_cast<uint8_t>((j < 4 ? lo1[j] : 8) | (8 << 4));
  std::vector<uint8_t> got(36);
  std::memcpy(got.data(), q, 36);
  EXPECT_EQ(got, want);

  float y[64];
  dequantize_row(DType::kQ4_0, q, y, 64);
  EXPECT_EQ(y[0], -8.0f);
  EXPECT_EQ(y[7], 7.0f);
  EXPECT_EQ(y[16], 2.0f);
  EXPECT_EQ(y[31], -1.0f);
  EXPECT_EQ(y[32], 4.0f);
  EXPECT_EQ(y[33], -3.5f);  // clamped: (15 - 8) * -0.5
  EXPECT_EQ(y[34], 1.0f);
}

TEST(Q4_0, ErrorBound) {
  const int64_t n = 32 * 64;
  std::vector<float> x = normal_data(n, 12);
  std::vector<BlockQ4_0> q(n / 32);
  std::vector<float> y(n);
  quantize_row(DType::kQ4_0, x.data(), q.data(), n);
  dequantize_row(DType::kQ4_0, q.data(), y.data(), n);
  for (int64_t b = 0; b < n / 32; ++b) {
    float amax = 0, max = 0;
    for (int j = 0; j < 32; ++j) {
      if (std::fabs(x[b * 32 + j]) > amax) amax = std::fabs(max = x[b * 32 + j]);
    }
    const float d = max / -8, d16 = f16_to_f32(q[b].d);
    for (int j = 0; j < 32; ++j) {
      const int nib = j < 16 ? q[b].qs[j] & 15 : q[b].qs[j - 16] >> 4;
      // Half a step, except at nibble 15 where the far side (up to 8 steps) is cut to 7 steps.
      const float steps = nib == 15 ? 1.0f : 0.5f;
      const float bound = steps * std::fabs(d16) + 8 * std::fabs(d - d16) + 1e-6f;
      ASSERT_LE(std::fabs(y[b * 32 + j] - x[b * 32 + j]), bound) << b << " " << j;
    }
  }
}

TEST(Q4_K, ScaleMinPacking) {
  // Scales {1,2,3,4,17,33,50,63} and mins {0,5,10,63,20,36,1,47} packed by hand: bytes 0-3 hold
  // scales 0-3 plus the top 2 bits of scales 4-7, bytes 4-7 the mins likewise, bytes 8-11 the low
  // nibbles of scale (low) and min (high) 4-7.
  const uint8_t scales[12] = {0x41, 0x82, 0xC3, 0xC4, 0x40, 0x85, 0x0A, 0xBF,
                              0x41, 0x41, 0x12, 0xFF};
  const int want_sc[8] = {1, 2, 3, 4, 17, 33, 50, 63};
  const int want_m[8] = {0, 5, 10, 63, 20, 36, 1, 47};
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    q4_k_scale_min(j, scales, &sc, &m);
    EXPECT_EQ(sc, want_sc[j]) << j;
    EXPECT_EQ(m, want_m[j]) << j;
  }

  BlockQ4_K b;
  b.d = 0x3800;     // 0.5
  b.dmin = 0x3400;  // 0.25
  std::memcpy(b.scales, scales, 12);
  for (int i = 0; i < 128; ++i) b.qs[i] = static_cast<uint8_t>(i * 7 + 3);
  float y[256];
  dequantize_row(DType::kQ4_K, &b, y, 256);
  // Element e: sub-block s = e/32; sub-blocks 2k, 2k+1 share bytes qs[32k..32k+31] (low, high).
  for (int e = 0; e < 256; ++e) {
    const int s = e / 32;
    const uint8_t byte = b.qs[32 * (s / 2) + e % 32];
    const int q = s % 2 == 0 ? byte & 15 : byte >> 4;
    ASSERT_EQ(y[e], 0.5f * want_sc[s] * q - 0.25f * want_m[s]) << e;
  }
  EXPECT_EQ(y[0], 1.5f);       // q 3, sc 1, m 0
  EXPECT_EQ(y[32], -1.25f);    // q 0 (high nibble of 3), sc 2, m 5
  EXPECT_EQ(y[255], 208.75f);  // qs[127] = 0x7C -> q 7, sc 63, m 47: 220.5 - 11.75
}

TEST(Q6_K, HandBlock) {
  BlockQ6_K b;
  for (int i = 0; i < 128; ++i) b.ql[i] = static_cast<uint8_t>(i * 13 + 5);
  for (int i = 0; i < 64; ++i) b.qh[i] = static_cast<uint8_t>(i * 29 + 7);
  const int8_t sc[16] = {1, -2, 3, -4, 5, -6, 7, -8, 127, -128, 10, -10, 0, 20, -20, 64};
  std::memcpy(b.scales, sc, 16);
  b.d = 0x3800;  // 0.5
  float y[256];
  dequantize_row(DType::kQ6_K, &b, y, 256);
  // Element e: half h, group g of 32 within it, lane l. Low 4 bits: groups 0/1 from the low
  // nibbles of ql[64h + l] / ql[64h + 32 + l], groups 2/3 from their high nibbles; high 2 bits at
  // shift 2g of qh[32h + l]; one scale per 16 elements.
  for (int e = 0; e < 256; ++e) {
    const int h = e / 128, g = (e % 128) / 32, l = e % 32;
    const uint8_t lbyte = b.ql[64 * h + 32 * (g % 2) + l];
    const int low = g < 2 ? lbyte & 15 : lbyte >> 4;
    const int high = (b.qh[32 * h + l] >> (2 * g)) & 3;
    ASSERT_EQ(y[e], 0.5f * sc[e / 16] * ((low | (high << 4)) - 32)) << e;
  }
  EXPECT_EQ(y[0], 10.5f);  // ql 5, qh 7 & 3 = 3 -> 53 - 32 = 21, scale 1
}

// The round-trip error of N(0,1) data.
double relative_rms(DType t, int64_t n, uint32_t seed) { return testing::relative_rms(t, normal_data(n, seed)); }

// Measured over several seeds: q8_0 0.0053, q4_0 0.085, q4_k 0.071, q6_k 0.0176. The bounds
// leave ~10-30% slack so a worse search or a broken layout shows up here.
TEST(BlockQuant, RelativeRmsOnGaussian) {
  const int64_t n = 256 * 64;
  EXPECT_LT(relative_rms(DType::kQ8_0, n, 21), 0.007);
  EXPECT_LT(relative_rms(DType::kQ4_0, n, 22), 0.095);
  EXPECT_LT(relative_rms(DType::kQ4_K, n, 23), 0.08);
  EXPECT_LT(relative_rms(DType::kQ6_K, n, 24), 0.02);
}

TEST(BlockQuant, ZeroAndConstantBlocks) {
  for (DType t : {DType::kQ8_0, DType::kQ4_0, DType::kQ4_K, DType::kQ6_K}) {
    const int64_t n = 512;
    std::vector<float> x(n, 0.f), y(n, 1.f);
    std::vector<uint8_t> q(dtype_bytes(t, n));
    quantize_row(t, x.data(), q.data(), n);
    dequantize_row(t, q.data(), y.data(), n);
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(y[i], 0.f) << dtype_name(t) << " " << i;
    // A constant block is its own extreme, so every scheme reproduces it up to the f16 scale.
    std::fill(x.begin(), x.end(), -1.5f);
    quantize_row(t, x.data(), q.data(), n);
    dequantize_row(t, q.data(), y.data(), n);
    for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(y[i], -1.5f, 2e-3f) << dtype_name(t) << " " << i;
  }
}

TEST(BlockQuant, SizesAndErrors) {
  std::vector<float> x(512, 1.f);
  std::vector<uint8_t> q(1024);
  for (DType t : {DType::kQ8_0, DType::kQ4_0, DType::kQ4_K, DType::kQ6_K}) {
    const int64_t block = dtype_info(t).block_elems;
    EXPECT_NO_THROW(quantize_row(t, x.data(), q.data(), block));
    EXPECT_NO_THROW(quantize_row(t, x.data(), q.data(), 0));
    for (int64_t bad : {block - 1, block + 1, int64_t{-block}}) {
      EXPECT_EQ(error_kind_of([&] { quantize_row(t, x.data(), q.data(), bad); }), ErrorKind::kInvalidArgument)
          << dtype_name(t) << " n = " << bad;
      EXPECT_THROW(dequantize_row(t, q.data(), x.data(), bad), Error);
    }
  }
  EXPECT_EQ(error_kind_of([&] { quantize_row(DType::kF16, x.data(), q.data(), 32); }), ErrorKind::kUnsupported)
      << "f16 is not a block type";
}

TEST(Fp8Blocks, RaggedWeight) {
  const int64_t rows = 130, cols = 300, bs = 128, n_br = 2, n_bc = 3;
  std::vector<float> w = normal_data(rows * cols, 31);
  // Give each block its own magnitude, and make the ragged corner block [1][2] all zero.
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      float& v = w[r * cols + c];
      v *= std::ldexp(1.37f, static_cast<int>(3 * (r / bs) + c / bs) - 2);
      if (r >= 128 && c >= 256) v = 0.f;
    }
  }
  std::vector<uint8_t> q(rows * cols);
  std::vector<float> s(n_br * n_bc), y(rows * cols);
  quantize_fp8_blocks(w.data(), rows, cols, q.data(), s.data());
  dequantize_fp8_blocks(q.data(), s.data(), rows, cols, y.data());
  for (int64_t br = 0; br < n_br; ++br) {
    for (int64_t bc = 0; bc < n_bc; ++bc) {
      float amax = 0, ymax = 0;
      for (int64_t r = br * bs; r < std::min(rows, (br + 1) * bs); ++r) {
        for (int64_t c = bc * bs; c < std::min(cols, (bc + 1) * bs); ++c) {
          amax = std::max(amax, std::fabs(w[r * cols + c]));
          ymax = std::max(ymax, std::fabs(y[r * cols + c]));
        }
      }
      const float si = s[br * n_bc + bc];
      if (amax == 0) {
        EXPECT_EQ(si, 1.0f);
        EXPECT_EQ(ymax, 0.0f);
        continue;
      }
      EXPECT_EQ(si, amax / 448.f) << br << "," << bc;
      // The block max lands on code 448, so it comes back as 448 * scale_inv: amax up to the one
      // rounding of amax/448 (equality is impossible for about 10% of amax values in f32).
      EXPECT_EQ(ymax, 448.f * si);
      EXPECT_LE(std::fabs(ymax - amax), amax * std::ldexp(1.f, -23));
    }
  }
  int checked_normal = 0;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const float x = w[r * cols + c], si = s[(r / bs) * n_bc + c / bs];
      const float err = std::fabs(y[r * cols + c] - x);
      if (std::fabs(x / si) >= std::ldexp(1.f, -6)) {  // e4m3 normal range: 3 mantissa bits
        ASSERT_LE(err, std::fabs(x) * std::ldexp(1.f, -4) * (1 + 1e-6f)) << r << "," << c;
        ++checked_normal;
      } else {  // subnormal range: half of the 2^-9 step, in the block's units
        ASSERT_LE(err, si * std::ldexp(1.f, -10) * (1 + 1e-6f)) << r << "," << c;
      }
    }
  }
  EXPECT_GT(checked_normal, rows * cols * 9 / 10);
}

TEST(Fp8Blocks, SmallBlockAndErrors) {
  // A 3 x 5 weight in 2 x 2 blocks: scale_inv is [2, 3]; block [0][0] holds 448 * 2 -> scale 2.
  const float w[15] = {896, 1, 5, 6, 7, -2, 3, 8, 9, 10, 4, 4, 0, 0, -0.5f};
  uint8_t q[15];
  float s[6], y[15];
  quantize_fp8_blocks(w, 3, 5, q, s, /*block=*/2);
  EXPECT_EQ(s[0], 2.0f);
  EXPECT_EQ(s[1], 9.0f / 448.f);
  EXPECT_EQ(s[2], 10.0f / 448.f);
  EXPECT_EQ(s[3], 4.0f / 448.f);
  EXPECT_EQ(s[4], 1.0f);  // all-zero block
  EXPECT_EQ(s[5], 0.5f / 448.f);
  EXPECT_EQ(q[0], 0x7E);
  EXPECT_EQ(q[5], f32_to_f8e4m3(-1.0f));  // -2 / 2
  dequantize_fp8_blocks(q, s, 3, 5, y, 2);
  EXPECT_EQ(y[0], 896.f);
  EXPECT_EQ(y[5], -2.f);
  EXPECT_EQ(y[12], 0.f);
  EXPECT_THROW(quantize_fp8_blocks(w, -1, 5, q, s), Error);
  EXPECT_THROW(dequantize_fp8_blocks(q, s, 3, 5, y, 0), Error);
}

}  // namespace
}  // namespace whale::core
