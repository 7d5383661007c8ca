// Tests for core/quant_k.h: hand-built q2_k/q3_k/q5_k blocks decoded by the layouts ggml-common.h
// documents (written here element by element, independently of the codec's loops), quantization
// error ordering across the k-quants on Gaussian data, zero/constant blocks and size errors.
// Byte identity with ggml's quantizers and gguf-py's dequantizers: quant_k_oracle.py.
#include "core/quant_k.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "../error_of.h"
#include "quant_test_util.h"
#include "core/error.h"

namespace whale::core {
namespace {

using whale::testing::error_kind_of;
using testing::relative_rms;

TEST(Q2_K, HandBlock) {
  BlockQ2_K b;
  for (int i = 0; i < 16; ++i) b.scales[i] = static_cast<uint8_t>(i * 37 + 3);
  for (int i = 0; i < 64; ++i) b.qs[i] = static_cast<uint8_t>(i * 11 + 1);
  b.d = 0x3800;     // 0.5
  b.dmin = 0x3400;  // 0.25
  float y[256];
  dequantize_row(DType::kQ2_K, &b, y, 256);
  // Element e: half h = e/128, group g = (e%128)/32 at shift 2g of qs[32h + e%32]; sub-block e/16.
  for (int e = 0; e < 256; ++e) {
    const int q = (b.qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
    const uint8_t s = b.scales[e / 16];
    ASSERT_EQ(y[e], 0.5f * (s & 15) * q - 0.25f * (s >> 4)) << e;
  }
  EXPECT_EQ(y[0], 1.5f * 1 - 0.0f);  // scales[0] = 3 (sc 3, m 0), qs[0] = 1 -> q 1
}

TEST(Q3_K, HandBlock) {
  BlockQ3_K b;
  for (int i = 0; i < 32; ++i) b.hmask[i] = static_cast<uint8_t>(i * 53 + 9);
  for (int i = 0; i < 64; ++i) b.qs[i] = static_cast<uint8_t>(i * 11 + 1);
  for (int i = 0; i < 12; ++i) b.scales[i] = static_cast<uint8_t>(i * 71 + 5);
  b.d = 0x3800;  // 0.5
  float y[256];
  dequantize_row(DType::kQ3_K, &b, y, 256);
  for (int e = 0; e < 256; ++e) {
    const int j = e / 16;
    const int low4 = j < 8 ? b.scales[j] & 15 : b.scales[j - 8] >> 4;
    const int sc = (low4 | (((b.scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
    const int q2 = (b.qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
    const int high = (b.hmask[e % 32] >> (e / 32)) & 1;
    ASSERT_EQ(y[e], 0.5f * sc * (q2 + 4 * high - 4)) << e;
  }
  // Element 0: scales[0] = 5 (low 5), scales[8] = 0x3D: top bits of scale 0 = 1 -> 21 - 32 = -11;
  // qs[0] = 1 -> 1, hmask[0] = 9 bit 0 set -> q = 1; 0.5 * -11 * 1.
  EXPECT_EQ(y[0], -5.5f);
}

TEST(Q5_K, HandBlock) {
  BlockQ5_K b;
  for (int i = 0; i < 12; ++i) b.scales[i] = static_cast<uint8_t>(i * 71 + 5);
  for (int i = 0; i < 32; ++i) b.qh[i] = static_cast<uint8_t>(i * 53 + 9);
  for (int i = 0; i < 128; ++i) b.qs[i] = static_cast<uint8_t>(i * 13 + 5);
  b.d = 0x3800;     // 0.5
  b.dmin = 0x3400;  // 0.25
  float y[256];
  dequantize_row(DType::kQ5_K, &b, y, 256);
  for (int e = 0; e < 256; ++e) {
    const int s = e / 32, l = e % 32;
    uint8_t sc, m;
    q4_k_scale_min(s, b.scales, &sc, &m);
    const uint8_t byte = b.qs[32 * (s / 2) + l];
    const int q = (s % 2 == 0 ? byte & 15 : byte >> 4) | (((b.qh[l] >> s) & 1) << 4);
    ASSERT_EQ(y[e], 0.5f * sc * q - 0.25f * m) << e;
  }
  // Element 0: sc = scales[0] & 63 = 5, m = scales[4] & 63 = 289 & 63 = 33; q = 5 | 16 (qh 9 bit 0).
  EXPECT_EQ(y[0], 0.5f * 5 * 21 - 0.25f * 33);
}

// Measured (seed 5): q2_k 0.293, q3_k 0.150, q4_k 0.071, q5_k 0.036, q6_k 0.018. Each type must beat
// the one with a bit less, and stay within ~15% of its measured error.
TEST(KQuants, ErrorOrderingOnGaussian) {
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<float> x(256 * 64);
  for (auto& v : x) v = nd(rng);
  const double e2 = relative_rms(DType::kQ2_K, x), e3 = relative_rms(DType::kQ3_K, x);
  const double e4 = relative_rms(DType::kQ4_K, x), e5 = relative_rms(DType::kQ5_K, x);
  const double e6 = relative_rms(DType::kQ6_K, x);
  EXPECT_LT(e6, e5);
  EXPECT_LT(e5, e4);
  EXPECT_LT(e4, e3);
  EXPECT_LT(e3, e2);
  EXPECT_LT(e2, 0.33);
  EXPECT_LT(e3, 0.17);
  EXPECT_LT(e5, 0.04);
  std::printf("relative rms: q2_k %.4f q3_k %.4f q4_k %.4f q5_k %.4f q6_k %.4f\n", e2, e3, e4, e5, e6);
}

TEST(KQuants, ZeroAndConstantBlocks) {
  for (DType t : {DType::kQ2_K, DType::kQ3_K, DType::kQ5_K}) {
    const int64_t n = 512;
    std::vector<float> x(n, 0.f), y(n, 1.f);
    std::vector<uint8_t> q(dtype_bytes(t, n));
    quantize_row(t, x.data(), q.data(), n);
    dequantize_row(t, q.data(), y.data(), n);
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(y[i], 0.f) << dtype_name(t) << " " << i;
    std::fill(x.begin(), x.end(), -1.5f);
    quantize_row(t, x.data(), q.data(), n);
    dequantize_row(t, q.data(), y.data(), n);
    for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(y[i], -1.5f, 2e-3f) << dtype_name(t) << " " << i;
  }
}

TEST(KQuants, SizesNamesAndErrors) {
  EXPECT_EQ(dtype_bytes(DType::kQ2_K, 512), 168);
  EXPECT_EQ(dtype_bytes(DType::kQ3_K, 512), 220);
  EXPECT_EQ(dtype_bytes(DType::kQ5_K, 512), 352);
  for (const char* name : {"q2_k", "q3_k", "q5_k"}) {
    ASSERT_TRUE(dtype_from_name(name).has_value()) << name;
    EXPECT_EQ(dtype_name(*dtype_from_name(name)), name);
    EXPECT_TRUE(dtype_info(*dtype_from_name(name)).is_block_quant);
  }
  std::vector<float> x(512, 1.f);
  std::vector<uint8_t> q(1024);
  for (DType t : {DType::kQ2_K, DType::kQ3_K, DType::kQ5_K}) {
    EXPECT_NO_THROW(quantize_row(t, x.data(), q.data(), 256));
    for (int64_t bad : {255, 257, -256}) {
      EXPECT_EQ(error_kind_of([&] { quantize_row(t, x.data(), q.data(), bad); }), ErrorKind::kInvalidArgument)
          << dtype_name(t) << " n = " << bad;
      EXPECT_THROW(dequantize_row(t, q.data(), x.data(), bad), Error);
    }
  }
}

}  // namespace
}  // namespace whale::core
