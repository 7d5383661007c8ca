// Helpers the block-quantization tests share: Gaussian data, a block's bytes, and the relative RMS
// error of a quantize -> dequantize round trip.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "core/quant.h"

namespace whale::core::testing {

inline std::vector<float> normal_data(int64_t n, uint32_t seed, float sigma = 1.f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.f, sigma);
  std::vector<float> x(static_cast<size_t>(n));
  for (auto& v : x) v = nd(rng);
  return x;
}

template <class Block>
std::vector<uint8_t> block_bytes(const Block& b) {
  std::vector<uint8_t> out(sizeof b);
  std::memcpy(out.data(), &b, sizeof b);
  return out;
}

// sqrt(Σ err² / Σ x²) after quantize_row -> dequantize_row of x in type t (in double).
inline double relative_rms(DType t, const std::vector<float>& x) {
  const auto n = static_cast<int64_t>(x.size());
  std::vector<uint8_t> q(static_cast<size_t>(dtype_bytes(t, n)));
  std::vector<float> y(x.size());
  quantize_row(t, x.data(), q.data(), n);
  dequantize_row(t, q.data(), y.data(), n);
  double err = 0, ref = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    err += (double(y[i]) - x[i]) * (double(y[i]) - x[i]);
    ref += double(x[i]) * x[i];
  }
  return std::sqrt(err / ref);
}

}  // namespace whale::core::testing
