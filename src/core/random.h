// Counter-based random numbers: every value is a pure function of (seed, index), so random
// tensors are identical whatever the thread count, chunking or order they are generated in.
#pragma once

#include <cstdint>
#include <string_view>

namespace whale::core {

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// FNV-1a of a string, mixed with a seed: a per-tensor stream id from its name.
inline uint64_t hash_seed(uint64_t seed, std::string_view s) {
  uint64_t h = 0xCBF29CE484222325ull ^ splitmix64(seed);
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001B3ull;
  }
  return splitmix64(h);
}

// Uniform in [0, 1) from (stream, index).
inline float uniform01(uint64_t stream, uint64_t index) {
  return static_cast<float>(splitmix64(stream ^ splitmix64(index)) >> 40) * (1.0f / 16777216.0f);
}

// Approximately standard normal from (stream, index): the sum of four 16-bit uniforms
// (Irwin-Hall), recentred and scaled to unit variance. Cheap, bounded at +-3.46, and plenty for
// random test weights.
inline float normal01(uint64_t stream, uint64_t index) {
  const uint64_t r = splitmix64(stream ^ splitmix64(index));
  const float s = static_cast<float>((r & 0xFFFF) + ((r >> 16) & 0xFFFF) + ((r >> 32) & 0xFFFF) + (r >> 48));
  // Each term is uniform on {0..65535}: mean 32767.5, variance (65536^2-1)/12.
  constexpr float kMean = 4.0f * 32767.5f;
  constexpr float kInvStd = 1.0f / 37837.23f;  // 1 / sqrt(4 * (65536^2 - 1) / 12)
  return (s - kMean) * kInvStd;
}

}  // namespace whale::core
