// Tests for core/convert.h: f16, bf16 and FP8 E4M3FN against tables built here from the formats'
// definitions (an independent nearest-value oracle), hand-picked edge cases, and convert_row.
#include "core/convert.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "../error_of.h"
#include "core/error.h"
#include "core/quant.h"

namespace whale::core {
namespace {

using whale::testing::error_kind_of;

float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
uint32_t to_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// Value of a small float code from its definition: (-1)^s * (e == 0 ? m/2^mbits * 2^(1-bias)
// : (1 + m/2^mbits) * 2^(e-bias)). NaN/inf codes are the caller's business.
double small_float_value(uint32_t code, int ebits, int mbits, int bias) {
  const uint32_t m = code & ((1u << mbits) - 1);
  const int e = static_cast<int>((code >> mbits) & ((1u << ebits) - 1));
  const double sign = (code >> (ebits + mbits)) & 1 ? -1.0 : 1.0;
  if (e == 0) return sign * std::ldexp(static_cast<double>(m), 1 - bias - mbits);
  return sign * std::ldexp(1.0 + std::ldexp(static_cast<double>(m), -mbits), e - bias);
}

// Round-to-nearest-even oracle over an ascending list of (value, code) for the positive codes,
// whose last entry is the first value past the largest finite one (what overflow rounds to).
struct Grid {
  std::vector<double> values;
  std::vector<uint32_t> codes;
  uint32_t nearest(double x) const {  // x >= 0
    auto it = std::lower_bound(values.begin(), values.end(), x);
    if (it == values.end()) return codes.back();
    const size_t hi = static_cast<size_t>(it - values.begin());
    if (*it == x || hi == 0) return codes[hi];
    const double below = x - values[hi - 1], above = values[hi] - x;
    if (below < above) return codes[hi - 1];
    if (above < below) return codes[hi];
    return (codes[hi - 1] & 1) == 0 ? codes[hi - 1] : codes[hi];
  }
};

// Checks `convert` against the grid on every midpoint (and its float neighbours) and on random
// magnitudes across the grid's range, both signs.
template <class Convert>
void check_against_grid(const Grid& g, uint32_t sign_bit, Convert convert) {
  std::vector<float> xs;
  for (size_t i = 0; i + 1 < g.values.size(); ++i) {
    const auto mid = static_cast<float>((g.values[i] + g.values[i + 1]) / 2);
    ASSERT_EQ(static_cast<double>(mid), (g.values[i] + g.values[i + 1]) / 2);
    xs.push_back(mid);
    xs.push_back(std::nextafter(mid, 0.f));
    xs.push_back(std::nextafter(mid, 1e30f));
    xs.push_back(static_cast<float>(g.values[i]));
  }
  std::mt19937 rng(7);
  const double lo = std::log2(g.values[1] / 4), hi = std::log2(g.values.back() * 2);
  std::uniform_real_distribution<double> u(lo, hi);
  for (int i = 0; i < 100000; ++i) xs.push_back(static_cast<float>(std::exp2(u(rng))));
  for (float x : xs) {
    const uint32_t want = g.nearest(x);
    ASSERT_EQ(convert(x), want) << "x = " << x;
    ASSERT_EQ(convert(-x), want | sign_bit) << "x = " << -x;
  }
}

TEST(F16, HandValues) {
  EXPECT_EQ(f32_to_f16(1.0f), 0x3C00);
  EXPECT_EQ(f32_to_f16(-2.0f), 0xC000);
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7BFF);
  EXPECT_EQ(f32_to_f16(65519.996f), 0x7BFF);
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7C00);  // the midpoint to 2^16 ties to even = inf
  EXPECT_EQ(f32_to_f16(1e10f), 0x7C00);
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -24)), 0x0001);
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)), 0x0000);  // tie between 0 and 2^-24 -> 0
  EXPECT_EQ(f32_to_f16(std::nextafter(std::ldexp(1.0f, -25), 1.f)), 0x0001);
  EXPECT_EQ(f32_to_f16(3 * std::ldexp(1.0f, -25)), 0x0002);  // tie between 1 and 2 -> 2
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -14)), 0x0400);     // smallest normal
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -14) - std::ldexp(1.0f, -25)), 0x0400);  // tie -> even
  EXPECT_EQ(f32_to_f16(1e-30f), 0x0000);
  EXPECT_EQ(f32_to_f16(-1e-30f), 0x8000);
  EXPECT_EQ(f32_to_f16(-0.0f), 0x8000);
  EXPECT_EQ(f32_to_f16(1 + std::ldexp(1.0f, -11)), 0x3C00);
  EXPECT_EQ(f32_to_f16(1 + 3 * std::ldexp(1.0f, -11)), 0x3C02);
  EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::infinity()), 0x7C00);
  EXPECT_EQ(f32_to_f16(-std::numeric_limits<float>::infinity()), 0xFC00);
  for (uint32_t nan : {0x7FC00000u, 0x7F800001u, 0xFFFFFFFFu, 0x7FA00000u}) {
    const uint16_t h = f32_to_f16(from_bits(nan));
    EXPECT_EQ(h & 0x7C00, 0x7C00);
    EXPECT_NE(h & 0x03FF, 0) << std::hex << nan;  // still NaN, never inf
    EXPECT_TRUE(std::isnan(f16_to_f32(h)));
  }
}

TEST(F16, DecodeMatchesDefinition) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = f16_to_f32(static_cast<uint16_t>(h));
    if ((h & 0x7C00) == 0x7C00) {
      EXPECT_EQ(std::isnan(f), (h & 0x3FF) != 0);
      if ((h & 0x3FF) == 0) {
        EXPECT_EQ(f, (h & 0x8000) ? -INFINITY : INFINITY);
      }
      continue;
    }
    ASSERT_EQ(static_cast<double>(f), small_float_value(h, 5, 10, 15)) << std::hex << h;
    ASSERT_EQ(std::signbit(f), (h & 0x8000) != 0);
  }
}

TEST(F16, ExhaustiveRoundTrip) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const bool nan = (h & 0x7C00) == 0x7C00 && (h & 0x3FF) != 0;
    if (nan && (h & 0x200) == 0) continue;  // signalling NaNs come back quieted
    ASSERT_EQ(f32_to_f16(f16_to_f32(static_cast<uint16_t>(h))), h) << std::hex << h;
  }
}

TEST(F16, NearestEvenOracle) {
  Grid g;
  for (uint32_t h = 0; h < 0x7C00; ++h) {
    g.values.push_back(small_float_value(h, 5, 10, 15));
    g.codes.push_back(h);
  }
  g.values.push_back(65536.0);  // overflow lands on inf
  g.codes.push_back(0x7C00);
  check_against_grid(g, 0x8000, [](float x) { return uint32_t{f32_to_f16(x)}; });
}

TEST(BF16, HandValues) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3F80);
  EXPECT_EQ(f32_to_bf16(-2.0f), 0xC000);
  EXPECT_EQ(f32_to_bf16(from_bits(0x3F808000)), 0x3F80);  // 1 + 2^-8: tie -> even
  EXPECT_EQ(f32_to_bf16(from_bits(0x3F818000)), 0x3F82);  // 1 + 3*2^-8: tie -> even
  EXPECT_EQ(f32_to_bf16(from_bits(0x3F808001)), 0x3F81);  // just past the tie
  EXPECT_EQ(f32_to_bf16(from_bits(0x7F7F0000)), 0x7F7F);  // max finite
  EXPECT_EQ(bf16_to_f32(0x7F7F), from_bits(0x7F7F0000));
  EXPECT_EQ(f32_to_bf16(from_bits(0x7F7F7FFF)), 0x7F7F);
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::max()), 0x7F80);  // past the midpoint
  EXPECT_EQ(f32_to_bf16(-0.0f), 0x8000);
  EXPECT_EQ(f32_to_bf16(from_bits(0x00000001)), 0x0000);  // f32 subnormal rounds to 0
  EXPECT_EQ(f32_to_bf16(-std::numeric_limits<float>::infinity()), 0xFF80);
  for (uint32_t nan : {0x7FC00000u, 0x7F800001u, 0x7FFFFFFFu, 0xFFFF8000u, 0x7F80FFFFu}) {
    const uint16_t b = f32_to_bf16(from_bits(nan));
    EXPECT_TRUE(std::isnan(bf16_to_f32(b))) << std::hex << nan << " -> " << b;
    EXPECT_EQ(b & 0x8000, (nan >> 16) & 0x8000);
  }
}

TEST(BF16, ExhaustiveRoundTrip) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = bf16_to_f32(static_cast<uint16_t>(h));
    ASSERT_EQ(to_bits(f), h << 16);
    const bool nan = (h & 0x7F80) == 0x7F80 && (h & 0x7F) != 0;
    if (nan) {
      ASSERT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(f))));
    } else {
      ASSERT_EQ(f32_to_bf16(f), h) << std::hex << h;
    }
  }
}

double e4m3_value(uint32_t code) { return small_float_value(code, 4, 3, 7); }

TEST(F8E4M3, AllCodesDecode) {
  for (uint32_t b = 0; b < 256; ++b) {
    const float f = f8e4m3_to_f32(static_cast<uint8_t>(b));
    if ((b & 0x7F) == 0x7F) {
      EXPECT_TRUE(std::isnan(f)) << b;
      continue;
    }
    ASSERT_EQ(static_cast<double>(f), e4m3_value(b)) << b;
    ASSERT_EQ(std::signbit(f), b >= 0x80) << b;
  }
  EXPECT_EQ(f8e4m3_to_f32(0x7E), 448.0f);
  EXPECT_EQ(f8e4m3_to_f32(0xFE), -448.0f);
  EXPECT_EQ(f8e4m3_to_f32(0x08), std::ldexp(1.0f, -6));
  EXPECT_EQ(f8e4m3_to_f32(0x07), 7 * std::ldexp(1.0f, -9));
  EXPECT_EQ(f8e4m3_to_f32(0x01), std::ldexp(1.0f, -9));
  EXPECT_EQ(f8e4m3_to_f32(0x38), 1.0f);
  EXPECT_EQ(f8e4m3_to_f32(0x78), 256.0f);  // no infinity: 1.1111.000 is an ordinary number
  EXPECT_TRUE(std::isnan(f8e4m3_to_f32(0xFF)));
}

TEST(F8E4M3, RoundTripAllFiniteCodes) {
  int n = 0;
  for (uint32_t b = 0; b < 256; ++b) {
    if ((b & 0x7F) == 0x7F) continue;
    const float f = f8e4m3_to_f32(static_cast<uint8_t>(b));
    ASSERT_EQ(f32_to_f8e4m3(f), b);
    ASSERT_EQ(f32_to_f8e4m3(f, /*saturate=*/true), b);
    ++n;
  }
  EXPECT_EQ(n, 254);
}

TEST(F8E4M3, HandValues) {
  EXPECT_EQ(f32_to_f8e4m3(1.0f), 0x38);
  EXPECT_EQ(f32_to_f8e4m3(1.0625f), 0x38);  // 1 + 2^-4: tie -> even
  EXPECT_EQ(f32_to_f8e4m3(1.1875f), 0x3A);  // 1 + 3*2^-4: tie -> even
  EXPECT_EQ(f32_to_f8e4m3(450.0f), 0x7E);
  EXPECT_EQ(f32_to_f8e4m3(464.0f), 0x7E);  // tie between 448 and the would-be 480 -> even
  EXPECT_EQ(f32_to_f8e4m3(464.001f), 0x7F);
  EXPECT_EQ(f32_to_f8e4m3(470.0f), 0x7F);
  EXPECT_EQ(f32_to_f8e4m3(-470.0f), 0xFF);
  EXPECT_EQ(f32_to_f8e4m3(470.0f, /*saturate=*/true), 0x7E);
  EXPECT_EQ(f32_to_f8e4m3(-1e30f, /*saturate=*/true), 0xFE);
  EXPECT_EQ(f32_to_f8e4m3(1e30f), 0x7F);
  EXPECT_EQ(f32_to_f8e4m3(INFINITY), 0x7F);
  EXPECT_EQ(f32_to_f8e4m3(-INFINITY), 0xFF);
  EXPECT_EQ(f32_to_f8e4m3(INFINITY, /*saturate=*/true), 0x7E);
  EXPECT_EQ(f32_to_f8e4m3(-INFINITY, /*saturate=*/true), 0xFE);
  EXPECT_EQ(f32_to_f8e4m3(NAN) & 0x7F, 0x7F);
  EXPECT_EQ(f32_to_f8e4m3(NAN, /*saturate=*/true) & 0x7F, 0x7F);
  EXPECT_EQ(f32_to_f8e4m3(-0.0f), 0x80);
  EXPECT_EQ(f32_to_f8e4m3(0.0f), 0x00);
  // Subnormals, in units of 2^-9.
  const float u = std::ldexp(1.0f, -9);
  EXPECT_EQ(f32_to_f8e4m3(u), 0x01);
  EXPECT_EQ(f32_to_f8e4m3(u / 2), 0x00);      // tie 0 / 1 -> 0
  EXPECT_EQ(f32_to_f8e4m3(0.75f * u), 0x01);
  EXPECT_EQ(f32_to_f8e4m3(1.5f * u), 0x02);   // tie 1 / 2 -> 2
  EXPECT_EQ(f32_to_f8e4m3(2.5f * u), 0x02);   // tie 2 / 3 -> 2
  EXPECT_EQ(f32_to_f8e4m3(-5 * u), 0x85);
  EXPECT_EQ(f32_to_f8e4m3(7.5f * u), 0x08);   // tie 7 / 8 -> 8, the smallest normal
  EXPECT_EQ(f32_to_f8e4m3(1e-20f), 0x00);
  EXPECT_EQ(f32_to_f8e4m3(from_bits(1)), 0x00);  // f32 subnormal
}

TEST(F8E4M3, NearestEvenOracle) {
  Grid g;
  for (uint32_t b = 0; b < 0x7F; ++b) {
    g.values.push_back(e4m3_value(b));
    g.codes.push_back(b);
  }
  g.values.push_back(480.0);  // what 0x7F would be; past 464 rounds there, i.e. to NaN
  g.codes.push_back(0x7F);
  check_against_grid(g, 0x80, [](float x) { return uint32_t{f32_to_f8e4m3(x)}; });
  g.codes.back() = 0x7E;  // saturating: the overflow slot (and all past it) clamps to 448
  check_against_grid(g, 0x80, [](float x) { return uint32_t{f32_to_f8e4m3(x, true)}; });
}

TEST(ConvertRow, PlainTypes) {
  const std::vector<float> x = {1.0f, -2.0f, 0.1f, 65504.0f, 1e-8f, -0.0f, 3.14159f};
  const auto n = static_cast<int64_t>(x.size());
  std::vector<uint16_t> h(x.size()), b(x.size());
  std::vector<uint8_t> e(x.size());
  std::vector<double> d(x.size());
  convert_row(DType::kF32, x.data(), DType::kF16, h.data(), n);
  convert_row(DType::kF32, x.data(), DType::kBF16, b.data(), n);
  convert_row(DType::kF32, x.data(), DType::kF8E4M3, e.data(), n);
  convert_row(DType::kF32, x.data(), DType::kF64, d.data(), n);
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_EQ(h[i], f32_to_f16(x[i]));
    EXPECT_EQ(b[i], f32_to_bf16(x[i]));
    EXPECT_EQ(e[i], f32_to_f8e4m3(x[i]));  // non-saturating, as torch's .to()
    EXPECT_EQ(d[i], static_cast<double>(x[i]));
  }
  // bf16 -> f16 stages through f32; f64 -> f32 narrows.
  std::vector<uint16_t> h2(x.size());
  convert_row(DType::kBF16, b.data(), DType::kF16, h2.data(), n);
  std::vector<float> back(x.size());
  convert_row(DType::kF64, d.data(), DType::kF32, back.data(), n);
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_EQ(h2[i], f32_to_f16(bf16_to_f32(b[i])));
    EXPECT_EQ(to_bits(back[i]), to_bits(x[i]));
  }
  const std::vector<double> big = {1e300, 1.0 + 1e-12};
  std::vector<float> narrowed(2);
  convert_row(DType::kF64, big.data(), DType::kF32, narrowed.data(), 2);
  EXPECT_EQ(narrowed[0], INFINITY);
  EXPECT_EQ(narrowed[1], 1.0f);
}

TEST(ConvertRow, BlockTypesAcrossChunks) {
  const int64_t n = 4096 + 256 * 3;  // crosses the 4096-element staging chunk
  std::vector<float> x(n);
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.f, 1.f);
  for (auto& v : x) v = nd(rng);
  std::vector<uint8_t> via_row(dtype_bytes(DType::kQ4_K, n)), direct(via_row.size());
  convert_row(DType::kF32, x.data(), DType::kQ4_K, via_row.data(), n);
  quantize_row(DType::kQ4_K, x.data(), direct.data(), n);
  EXPECT_EQ(via_row, direct);
  // q4_k -> bf16 (staged) equals dequantize then round.
  std::vector<uint16_t> b(n);
  convert_row(DType::kQ4_K, via_row.data(), DType::kBF16, b.data(), n);
  std::vector<float> deq(n);
  dequantize_row(DType::kQ4_K, direct.data(), deq.data(), n);
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(b[i], f32_to_bf16(deq[i])) << i;
  // f16 -> q8_0 (staged) equals quantizing the decoded f16 values.
  std::vector<uint16_t> h(n);
  std::vector<float> hf(n);
  for (int64_t i = 0; i < n; ++i) hf[i] = f16_to_f32(h[i] = f32_to_f16(x[i]));
  std::vector<uint8_t> q8(dtype_bytes(DType::kQ8_0, n)), q8_direct(q8.size());
  convert_row(DType::kF16, h.data(), DType::kQ8_0, q8.data(), n);
  quantize_row(DType::kQ8_0, hf.data(), q8_direct.data(), n);
  EXPECT_EQ(q8, q8_direct);
  // Same dtype: a byte copy.
  std::vector<uint8_t> copy(q8.size());
  convert_row(DType::kQ8_0, q8.data(), DType::kQ8_0, copy.data(), n);
  EXPECT_EQ(copy, q8);
}

TEST(ConvertRow, Errors) {
  float f[64] = {};
  int32_t i32[64] = {};
  uint8_t out[256] = {};
  for (DType t : {DType::kI64, DType::kI32, DType::kI16, DType::kI8, DType::kU8, DType::kBool}) {
    EXPECT_EQ(error_kind_of([&] { convert_row(DType::kF32, f, t, out, 4); }), ErrorKind::kUnsupported)
        << dtype_name(t);
  }
  EXPECT_EQ(error_kind_of([&] { convert_row(DType::kI32, i32, DType::kF32, f, 4); }), ErrorKind::kUnsupported)
      << "i32 source";
  EXPECT_EQ(error_kind_of([&] { convert_row(DType::kF32, f, DType::kQ8_0, out, 33); }), ErrorKind::kInvalidArgument)
      << "33 elements of q8_0";
  EXPECT_THROW(convert_row(DType::kF32, f, DType::kF16, out, -1), Error);
}

}  // namespace
}  // namespace whale::core
