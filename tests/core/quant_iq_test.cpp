// Tests for core/quant_iq.h (iq2_xxs, iq1_s): hand-built blocks against the format's rules, and
// the oracle: gguf-py (llama.cpp's numpy reference, checked out of node-llama-cpp's bundle)
// decodes random blocks to the same float bits whale's dequantize gives.
#include "core/quant_iq.h"

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "../error_of.h"
#include "core/convert.h"
#include "core/error.h"
#include "core/quant.h"
#include "quant_test_util.h"

namespace whale::core {
namespace {

using whale::testing::error_kind_of;

// Random blocks: every byte random except the f16 scale, a finite value in [0.001, 0.1) (any
// bytes are valid indices, signs and scales in these layouts).
std::vector<uint8_t> random_blocks(DType t, int64_t blocks, uint32_t seed) {
  const int64_t bytes = dtype_info(t).block_bytes;
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> scale(0.001f, 0.1f);
  std::vector<uint8_t> q(static_cast<size_t>(blocks * bytes));
  for (auto& b : q) b = static_cast<uint8_t>(byte(rng));
  for (int64_t b = 0; b < blocks; ++b) {
    const uint16_t d = f32_to_f16(scale(rng));
    std::memcpy(q.data() + b * bytes, &d, 2);
  }
  return q;
}

TEST(QuantIQ, DTypeTable) {
  EXPECT_EQ(dtype_info(DType::kIQ2_XXS).block_bytes, 66);
  EXPECT_EQ(dtype_info(DType::kIQ1_S).block_bytes, 50);
  EXPECT_EQ(dtype_from_name("iq2_xxs"), DType::kIQ2_XXS);
  EXPECT_EQ(dtype_from_name("iq1_s"), DType::kIQ1_S);
  EXPECT_FALSE(can_quantize(DType::kIQ2_XXS));
  EXPECT_FALSE(can_quantize(DType::kIQ1_S));
  EXPECT_TRUE(can_quantize(DType::kIQ4_XS));
}

// ggml's iq2xxs_grid row 0 is eight 8s and row 1 is 43 then seven 8s; ksigns_iq2xs[1] = 0x81
// (elements 0 and 7 negative), [0] = 0. Scale nibble 3: d (0.5 + 3) / 4 = 0.875 for d = 1.
TEST(QuantIQ, IQ2_XXSHandBlock) {
  BlockIQ2_XXS b{};
  b.d = f32_to_f16(1.0f);
  const uint32_t aux0 = 0x00 | 0x01 << 8;           // rows 0, 1 (then rows 0, 0)
  const uint32_t aux1 = 1u | 0u << 7 | 3u << 28;    // signs 1, 0 (then 0, 0), scale 3
  std::memcpy(b.qs, &aux0, 4);
  std::memcpy(b.qs + 2, &aux1, 4);
  std::vector<float> y(256);
  dequantize_row(DType::kIQ2_XXS, &b, y.data(), 256);
  EXPECT_EQ(y[0], -7.0f);
  for (int j = 1; j < 7; ++j) EXPECT_EQ(y[j], 7.0f) << j;
  EXPECT_EQ(y[7], -7.0f);
  EXPECT_EQ(y[8], 43 * 0.875f);
  for (int j = 9; j < 32; ++j) EXPECT_EQ(y[j], 7.0f) << j;
  // Groups 1..7: zero words, so row 0, no signs, scale nibble 0: 8 * 0.125 = 1.
  for (int j = 32; j < 256; ++j) EXPECT_EQ(y[j], 1.0f) << j;
}

// ggml's iq1s_grid row 0 is eight -1s; with every index 0 this checks the scale and delta rules.
TEST(QuantIQ, IQ1_SHandBlock) {
  BlockIQ1_S b{};
  b.d = f32_to_f16(0.5f);
  b.qh[0] = static_cast<uint16_t>(2u << 12);           // group 0: scale 2 -> dl = 0.5 * 5, delta +1/8
  b.qh[1] = static_cast<uint16_t>(0x8000u | 1u << 12);  // group 1: scale 1 -> dl = 1.5, delta -1/8
  std::vector<float> y(256);
  dequantize_row(DType::kIQ1_S, &b, y.data(), 256);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], 2.5f * (-1.0f + 0.125f)) << j;
  for (int j = 32; j < 64; ++j) EXPECT_EQ(y[j], 1.5f * (-1.0f - 0.125f)) << j;
  for (int j = 64; j < 256; ++j) EXPECT_EQ(y[j], 0.5f * (-1.0f + 0.125f)) << j;
}

// iq_group's exact int8 form times its scale is dequantize_row's float, bit for bit.
TEST(QuantIQ, GroupFormIsTheDequantizedValue) {
  for (DType t : {DType::kIQ2_XXS, DType::kIQ1_S}) {
    const std::vector<uint8_t> q = random_blocks(t, 16, 7);
    std::vector<float> y(16 * 256);
    dequantize_row(t, q.data(), y.data(), 16 * 256);
    int8_t v[32];
    for (int64_t b = 0; b < 16; ++b) {
      for (int g = 0; g < 8; ++g) {
        const float s = iq_group(t, q.data() + b * dtype_info(t).block_bytes, g, v);
        for (int j = 0; j < 32; ++j) {
          ASSERT_EQ(s * static_cast<float>(v[j]), y[static_cast<size_t>(256 * b + 32 * g + j)]) << dtype_name(t);
          ASSERT_LE(std::abs(v[j]), t == DType::kIQ2_XXS ? 43 : 9);
        }
      }
    }
  }
}

// The sign table (from gguf-py) is the 7-bit index plus a parity bit: the kernels build their
// ±1 sign rows from that rule.
TEST(QuantIQ, SignTableIsIndexPlusParity) {
  for (int i = 0; i < 128; ++i) {
    EXPECT_EQ(kIQ2XXSSigns[i], i | ((__builtin_popcount(static_cast<unsigned>(i)) & 1) << 7)) << i;
  }
}

TEST(QuantIQ, WritingIsRefusedWithAReason) {
  std::vector<float> x(256, 1.0f);
  std::vector<uint8_t> q(66);
  EXPECT_EQ(error_kind_of([&] { quantize_row(DType::kIQ2_XXS, x.data(), q.data(), 256); }), ErrorKind::kUnsupported);
  try {
    quantize_row(DType::kIQ1_S, x.data(), q.data(), 256);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("does not write"), std::string::npos) << e.what();
  }
  EXPECT_EQ(error_kind_of([&] { dequantize_row(DType::kIQ1_S, q.data(), x.data(), 100); }),
            ErrorKind::kInvalidArgument);
}

TEST(QuantIQ, GgufPyAgrees) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("whale_gguf_py_iq_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const int64_t rows = 8, cols = 1024;
  std::ofstream shapes(dir / "shapes.txt");
  uint32_t seed = 11;
  for (DType t : {DType::kIQ2_XXS, DType::kIQ1_S}) {
    const std::vector<uint8_t> q = random_blocks(t, rows * cols / 256, seed++);
    std::vector<float> x(static_cast<size_t>(rows * cols), 0.0f), y(x.size());
    dequantize_row(t, q.data(), y.data(), rows * cols);
    ASSERT_TRUE(testing::write_oracle_case(dir, shapes, t, rows, cols, x, q, y));
  }
  shapes.close();
  const auto [rc, out] = testing::run_gguf_py_oracle(dir);
  if (rc == 77) GTEST_SKIP() << out;
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("ok   iq2_xxs"), std::string::npos) << out;  // the script really compared
  EXPECT_NE(out.find("ok   iq1_s"), std::string::npos) << out;
  std::printf("%s", out.c_str());
}

}  // namespace
}  // namespace whale::core
