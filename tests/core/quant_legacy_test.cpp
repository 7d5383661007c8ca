// Tests for core/quant_legacy.h: hand-built q4_1/q5_0/q5_1/iq4_nl/iq4_xs blocks checked byte for
// byte against ggml's rules, error bounds on Gaussian data, and the oracle: gguf-py (llama.cpp's
// numpy reference, checked out of node-llama-cpp's bundle) decodes whale's bytes to the same bits
// and quantizes q4_1/q5_0/q5_1 to the same bytes.
#include "core/quant_legacy.h"

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "../error_of.h"
#include "quant_test_util.h"
#include "core/convert.h"
#include "core/error.h"
#include "core/quant.h"

namespace whale::core {
namespace {

using whale::testing::error_kind_of;
using testing::block_bytes;
using testing::normal_data;
using testing::relative_rms;

constexpr DType kTypes[] = {DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kIQ4_NL, DType::kIQ4_XS};

std::vector<float> decoded(DType t, const void* q, int64_t n) {
  std::vector<float> y(static_cast<size_t>(n));
  dequantize_row(t, q, y.data(), n);
  return y;
}

TEST(QuantLegacy, DTypeTable) {
  const struct {
    DType t;
    const char* name;
    int64_t elems, bytes;
  } want[] = {{DType::kQ4_1, "q4_1", 32, 20},
              {DType::kQ5_0, "q5_0", 32, 22},
              {DType::kQ5_1, "q5_1", 32, 24},
              {DType::kIQ4_NL, "iq4_nl", 32, 18},
              {DType::kIQ4_XS, "iq4_xs", 256, 136}};
  for (const auto& w : want) {
    EXPECT_EQ(dtype_name(w.t), w.name);
    EXPECT_EQ(dtype_from_name(w.name), w.t);
    EXPECT_EQ(dtype_info(w.t).block_elems, w.elems);
    EXPECT_EQ(dtype_bytes(w.t, 2 * w.elems), 2 * w.bytes);
    EXPECT_TRUE(dtype_info(w.t).is_block_quant && dtype_info(w.t).is_float);
    EXPECT_TRUE(is_legacy_quant(w.t));
  }
  EXPECT_FALSE(is_legacy_quant(DType::kQ4_0));
}

// min 1, max 8.5: d = 0.5, m = 1, q = 2 (x - 1) exactly; value j and j + 16 share byte j.
TEST(QuantLegacy, Q4_1HandBlock) {
  float x[32];
  for (int j = 0; j < 32; ++j) x[j] = 1.0f + 0.5f * static_cast<float>(j % 16);
  BlockQ4_1 b;
  quantize_row(DType::kQ4_1, x, &b, 32);
  std::vector<uint8_t> want = {0x00, 0x38, 0x00, 0x3C};  // d = 0.5, m = 1 (f16, little-endian)
  for (int j = 0; j < 16; ++j) want.push_back(static_cast<uint8_t>(j | (j << 4)));
  EXPECT_EQ(block_bytes(b), want);
  EXPECT_EQ(decoded(DType::kQ4_1, &b, 32), std::vector<float>(x, x + 32));
}

// x = j - 16: the signed extreme -16 gives d = 1 and q = j; elements 16..31 carry the 5th bit.
TEST(QuantLegacy, Q5_0HandBlock) {
  float x[32];
  for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j - 16);
  BlockQ5_0 b;
  quantize_row(DType::kQ5_0, x, &b, 32);
  std::vector<uint8_t> want = {0x00, 0x3C, 0x00, 0x00, 0xFF, 0xFF};  // d = 1, qh = 0xFFFF0000
  for (int j = 0; j < 16; ++j) want.push_back(static_cast<uint8_t>(j | (j << 4)));
  EXPECT_EQ(block_bytes(b), want);
  EXPECT_EQ(decoded(DType::kQ5_0, &b, 32), std::vector<float>(x, x + 32));
  // Flipping one high bit moves exactly that element by 16 * d.
  b.qh[0] ^= 0x04;
  const std::vector<float> y = decoded(DType::kQ5_0, &b, 32);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], x[j] + (j == 2 ? 16.0f : 0.0f)) << j;
}

// x = -2 + j / 4: min -2, max 5.75, d = 0.25, q = j.
TEST(QuantLegacy, Q5_1HandBlock) {
  float x[32];
  for (int j = 0; j < 32; ++j) x[j] = -2.0f + 0.25f * static_cast<float>(j);
  BlockQ5_1 b;
  quantize_row(DType::kQ5_1, x, &b, 32);
  std::vector<uint8_t> want = {0x00, 0x34, 0x00, 0xC0, 0x00, 0x00, 0xFF, 0xFF};  // d 0.25, m -2
  for (int j = 0; j < 16; ++j) want.push_back(static_cast<uint8_t>(j | (j << 4)));
  EXPECT_EQ(block_bytes(b), want);
  EXPECT_EQ(decoded(DType::kQ5_1, &b, 32), std::vector<float>(x, x + 32));
}

// Values on the table's own grid (x = kIQ4NLValues[j % 16] / 2) are found exactly: d = 0.5.
TEST(QuantLegacy, IQ4_NLHandBlock) {
  float x[32];
  for (int j = 0; j < 32; ++j) x[j] = 0.5f * kIQ4NLValues[j % 16];
  BlockIQ4_NL b;
  quantize_row(DType::kIQ4_NL, x, &b, 32);
  std::vector<uint8_t> want = {0x00, 0x38};
  for (int j = 0; j < 16; ++j) want.push_back(static_cast<uint8_t>(j | (j << 4)));
  EXPECT_EQ(block_bytes(b), want);
  EXPECT_EQ(decoded(DType::kIQ4_NL, &b, 32), std::vector<float>(x, x + 32));
  // The mirror image: the extreme is now positive, the search still lands on the grid (d = -0.5).
  for (float& v : x) v = -v;
  quantize_row(DType::kIQ4_NL, x, &b, 32);
  EXPECT_EQ(b.d, 0xB800);
  EXPECT_EQ(decoded(DType::kIQ4_NL, &b, 32), std::vector<float>(x, x + 32));
}

// Sub-block s holds the table scaled by l_s / 32: the largest |scale| (sub-block 0, -1) sets
// d = 1/32, each l_s comes back as its 6-bit scale l_s + 32, an all-zero sub-block as l = 0 with
// every nibble 8 (the level nearest 0).
TEST(QuantLegacy, IQ4_XSHandBlock) {
  const int l[8] = {-32, -16, 8, 31, 1, -3, 0, 20};
  float x[256];
  for (int s = 0; s < 8; ++s) {
    for (int j = 0; j < 32; ++j) x[32 * s + j] = kIQ4NLValues[j % 16] * (static_cast<float>(l[s]) / 32.0f);
  }
  BlockIQ4_XS b;
  quantize_row(DType::kIQ4_XS, x, &b, 256);
  EXPECT_EQ(b.d, 0x2800);  // 1/32
  uint16_t scales_h = 0;
  for (int s = 0; s < 8; ++s) {
    const int u = l[s] + 32;
    EXPECT_EQ(iq4_xs_scale(b, s), l[s]) << s;
    EXPECT_EQ((b.scales_l[s / 2] >> (4 * (s % 2))) & 0xF, u & 0xF) << s;
    scales_h = static_cast<uint16_t>(scales_h | ((u >> 4) << (2 * s)));
    for (int j = 0; j < 16; ++j) {
      EXPECT_EQ(b.qs[16 * s + j], l[s] == 0 ? 0x88 : (j | (j << 4))) << s << " " << j;
    }
  }
  EXPECT_EQ(b.scales_h, scales_h);
  EXPECT_EQ(decoded(DType::kIQ4_XS, &b, 256), std::vector<float>(x, x + 256));
}

TEST(QuantLegacy, ZeroBlocksDecodeToZero) {
  for (DType t : kTypes) {
    const int64_t n = dtype_info(t).block_elems * 2;
    std::vector<float> x(static_cast<size_t>(n), 0.0f);
    std::vector<uint8_t> q(static_cast<size_t>(dtype_bytes(t, n)), 0xAB);
    quantize_row(t, x.data(), q.data(), n);
    for (float v : decoded(t, q.data(), n)) ASSERT_EQ(v, 0.0f) << dtype_name(t);
  }
}

// Measured on this data: q4_0 0.0856, q4_1 0.0780, q5_0 0.0423, q5_1 0.0377, iq4_nl 0.0748,
// iq4_xs 0.0754. The orderings are what each format exists for: a 5th bit halves the step, the
// non-linear grid beats the uniform one on Gaussian weights; the bounds are 1.1x.
TEST(QuantLegacy, ErrorOnGaussianData) {
  const std::vector<float> x = normal_data(256 * 64, 7, 2.f);
  const double q4_0 = relative_rms(DType::kQ4_0, x), q4_1 = relative_rms(DType::kQ4_1, x);
  const double q5_0 = relative_rms(DType::kQ5_0, x), q5_1 = relative_rms(DType::kQ5_1, x);
  const double nl = relative_rms(DType::kIQ4_NL, x), xs = relative_rms(DType::kIQ4_XS, x);
  std::printf("[ measure  ] relative rms: q4_0 %.4f q4_1 %.4f q5_0 %.4f q5_1 %.4f iq4_nl %.4f iq4_xs %.4f\n", q4_0,
              q4_1, q5_0, q5_1, nl, xs);
  EXPECT_LT(q5_0, 0.6 * q4_0);
  EXPECT_LT(q5_1, 0.6 * q4_1);
  EXPECT_LT(nl, q4_0);
  EXPECT_LT(nl, q4_1);
  EXPECT_LT(q4_1, 0.086);
  EXPECT_LT(q5_0, 0.047);
  EXPECT_LT(q5_1, 0.042);
  EXPECT_LT(nl, 0.083);
  EXPECT_LT(xs, 0.083);
}

TEST(QuantLegacy, RejectsPartialBlocks) {
  std::vector<float> x(300, 1.0f);
  std::vector<uint8_t> q(1024);
  for (DType t : kTypes) {
    const int64_t bad = dtype_info(t).block_elems + 16;
    EXPECT_EQ(error_kind_of([&] { quantize_row(t, x.data(), q.data(), bad); }), ErrorKind::kInvalidArgument);
    EXPECT_EQ(error_kind_of([&] { dequantize_row(t, q.data(), x.data(), bad); }), ErrorKind::kInvalidArgument);
  }
}

// Rows that exercise every branch of the quantizers: Gaussian rows at several scales (one whose
// f16 scales are subnormal), an all-zero row start, constant and one-signed blocks, exact ties.
std::vector<float> oracle_rows(int64_t rows, int64_t cols) {
  std::vector<float> x = normal_data(rows * cols, 99);
  const float scale[] = {1.0f, 1e-6f, 300.0f, 0.01f, 1.0f, 1.0f, 5.0f, 1.0f};
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) x[r * cols + c] *= scale[r % 8];
  }
  for (int64_t c = 0; c < 64; ++c) x[c] = 0.0f;                        // row 0: zero blocks
  for (int64_t c = 0; c < 32; ++c) x[4 * cols + c] = 0.75f;            // row 4: a constant block
  for (int64_t c = 32; c < 96; ++c) x[4 * cols + c] = std::fabs(x[4 * cols + c]);  // one-signed
  for (int64_t c = 0; c < 32; ++c) x[5 * cols + c] = static_cast<float>(c % 5) - 2.0f;  // ties
  for (int64_t c = 32; c < 64; ++c) x[5 * cols + c] = c % 2 ? 3.0f : -3.0f;  // +-max tie
  return x;
}

TEST(QuantLegacy, GgufPyAgrees) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("whale_gguf_py_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const int64_t rows = 8, cols = 512;
  const std::vector<float> x = oracle_rows(rows, cols);
  std::ofstream shapes(dir / "shapes.txt");
  for (DType t : {DType::kQ8_0, DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kIQ4_NL,
                  DType::kIQ4_XS}) {
    std::vector<uint8_t> q(static_cast<size_t>(dtype_bytes(t, rows * cols)));
    std::vector<float> y(x.size());
    quantize_row(t, x.data(), q.data(), rows * cols);
    dequantize_row(t, q.data(), y.data(), rows * cols);
    ASSERT_TRUE(testing::write_oracle_case(dir, shapes, t, rows, cols, x, q, y));
  }
  shapes.close();
  const auto [rc, out] = testing::run_gguf_py_oracle(dir);
  if (rc == 77) GTEST_SKIP() << out;
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("ok   iq4_xs"), std::string::npos) << out;  // the script really compared
  std::printf("%s", out.c_str());
}

}  // namespace
}  // namespace whale::core
