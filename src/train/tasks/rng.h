// The tasks' own seeded generator and string hash, defined here bit for bit (std distributions
// differ between standard libraries), so a seed names the same problems on every machine.
#pragma once

#include <cstdint>
#include <string_view>

namespace whale::train::tasks {

// splitmix64's output function: a bijective mix, so nearby inputs give unrelated outputs.
inline std::uint64_t mix64(std::uint64_t x) {
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// FNV-1a over the bytes, then mixed (FNV's low bits alone are too regular for `% 100`).
inline std::uint64_t hash_string(std::string_view s) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return mix64(h);
}

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}

  std::uint64_t next() { return mix64(state_ += 0x9e3779b97f4a7c15ull); }

  // Uniform over [lo, hi] (lo <= hi), unbiased by rejection.
  std::int64_t uniform(std::int64_t lo, std::int64_t hi) {
    const std::uint64_t range = static_cast<std::uint64_t>(hi) - static_cast<std::uint64_t>(lo) + 1;
    if (range == 0) return static_cast<std::int64_t>(next());  // the whole 64-bit range
    const std::uint64_t threshold = (0 - range) % range;       // 2^64 mod range
    std::uint64_t x = next();
    while (x < threshold) x = next();
    return static_cast<std::int64_t>(static_cast<std::uint64_t>(lo) + x % range);
  }

 private:
  std::uint64_t state_;
};

}  // namespace whale::train::tasks
