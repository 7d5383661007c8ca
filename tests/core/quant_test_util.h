// Helpers the block-quantization tests share: Gaussian data, a block's bytes, and the relative RMS
// error of a quantize -> dequantize round trip.
#pragma once

#include <sys/wait.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
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

inline bool write_file(const std::filesystem::path& p, const void* data, size_t n) {
  std::ofstream f(p, std::ios::binary);
  f.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
  return static_cast<bool>(f);
}

// Writes one type's files for tests/core/gguf_py_dequant.py into dir (x: the input floats, q: the
// block bytes, y: whale's dequantized floats) and its line of shapes.txt.
inline bool write_oracle_case(const std::filesystem::path& dir, std::ofstream& shapes, DType t, int64_t rows, int64_t cols,
                              const std::vector<float>& x, const std::vector<uint8_t>& q, const std::vector<float>& y) {
  const std::string name(dtype_name(t));
  shapes << name << " " << rows << " " << cols << "\n";
  return write_file(dir / (name + ".x.f32"), x.data(), x.size() * 4) && write_file(dir / (name + ".q.u8"), q.data(), q.size()) &&
         write_file(dir / (name + ".y.f32"), y.data(), y.size() * 4);
}

// Runs tests/core/gguf_py_dequant.py on dir (gguf-py checked out of node-llama-cpp's bundle into
// dir), removes dir, and returns its exit status (77: no bundle) and output.
inline std::pair<int, std::string> run_gguf_py_oracle(const std::filesystem::path& dir) {
  const std::string root = std::string(WHALE_TEST_DATA) + "/../..";
  const std::string cmd = "/usr/bin/python3 " + root + "/tests/core/gguf_py_dequant.py " + dir.string() + " " + root +
                          "/bench/llamacpp/node_modules/node-llama-cpp/llama/gitRelease.bundle " + dir.string() + " 2>&1";
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return {-1, "popen failed: " + cmd};
  char buf[512];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  const int status = ::pclose(p);
  std::filesystem::remove_all(dir);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, cmd + "\n" + out};
}

}  // namespace whale::core::testing
