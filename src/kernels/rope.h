// Rotary position embeddings: the frequency tables (plain, YaRN, Llama-3) and the two pairings.
// DeepSeek rotates adjacent pairs (2i, 2i+1); Qwen2/Llama Hugging Face weights rotate (i, i+d/2).
// Getting the pairing wrong still yields fluent-looking text, so both are tested by hand.
#pragma once

#include <cstdint>
#include <vector>

namespace whale::kernels {

enum class RopePairing { kAdjacent, kHalf };

struct RopeTable {
  std::vector<float> inv_freq;  // d/2 frequencies
  float scale = 1.0f;           // cos and sin are multiplied by this (YaRN's mscale ratio)
  RopePairing pairing = RopePairing::kAdjacent;
};

// The frequency tables fill `out` with d/2 values, reusing its storage (the forward pass rebuilds
// its table every call without allocating).

// inv_freq[i] = base^(-2i/d)
void rope_default_freqs(int64_t dim, double base, std::vector<float>& out);

struct YarnParams {
  double factor;
  int64_t original_max_position_embeddings;
  double beta_fast;
  double beta_slow;
};
// Hugging Face's DeepSeek YaRN: per dimension, a linear ramp between extrapolated (base) and
// interpolated (base / factor) frequencies, between the correction dims of beta_fast and beta_slow.
void rope_yarn_freqs(int64_t dim, double base, const YarnParams& p, std::vector<float>& out);

// YaRN's attention temperature: 0.1·mscale·ln(scale) + 1 for scale > 1, else 1.
double yarn_mscale(double scale, double mscale);

struct Llama3Params {
  double factor;
  double low_freq_factor;
  double high_freq_factor;
  int64_t original_max_position_embeddings;
};
void rope_llama3_freqs(int64_t dim, double base, const Llama3Params& p, std::vector<float>& out);

// Rotates x[0..d) in place for `position` (d = 2 * inv_freq.size()).
void rope_apply(const RopeTable& table, int64_t position, float* x);

}  // namespace whale::kernels
