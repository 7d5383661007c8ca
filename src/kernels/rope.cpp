// Frequencies computed in double and rounded once, then angles in double: matches torch's f32
// tables to a few ulps at the positions tests use.
#include "kernels/rope.h"

#include <algorithm>
#include <cmath>

namespace whale::kernels {

void rope_default_freqs(int64_t dim, double base, std::vector<float>& f) {
  f.resize(static_cast<size_t>(dim / 2));
  for (int64_t i = 0; i < dim / 2; ++i) {
    f[static_cast<size_t>(i)] = static_cast<float>(1.0 / std::pow(base, static_cast<double>(2 * i) / static_cast<double>(dim)));
  }
}

namespace {
double correction_dim(double rotations, int64_t dim, double base, int64_t max_pos) {
  return (static_cast<double>(dim) * std::log(static_cast<double>(max_pos) / (rotations * 2.0 * M_PI))) /
         (2.0 * std::log(base));
}
}  // namespace

void rope_yarn_freqs(int64_t dim, double base, const YarnParams& p, std::vector<float>& f) {
  const int64_t half = dim / 2;
  double low = std::floor(correction_dim(p.beta_fast, dim, base, p.original_max_position_embeddings));
  double high = std::ceil(correction_dim(p.beta_slow, dim, base, p.original_max_position_embeddings));
  low = std::max(low, 0.0);
  high = std::min(high, static_cast<double>(dim - 1));
  if (low == high) high += 0.001;  // avoid a zero-width ramp
  f.resize(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) {
    const double extra = 1.0 / std::pow(base, static_cast<double>(2 * i) / static_cast<double>(dim));
    const double inter = extra / p.factor;
    const double ramp = std::clamp((static_cast<double>(i) - low) / (high - low), 0.0, 1.0);
    const double extra_weight = 1.0 - ramp;  // 1 for fast-rotating (low i) dims: keep extrapolated
    f[static_cast<size_t>(i)] = static_cast<float>(inter * (1.0 - extra_weight) + extra * extra_weight);
  }
}

double yarn_mscale(double scale, double mscale) {
  if (scale <= 1.0) return 1.0;
  return 0.1 * mscale * std::log(scale) + 1.0;
}

void rope_llama3_freqs(int64_t dim, double base, const Llama3Params& p, std::vector<float>& f) {
  rope_default_freqs(dim, base, f);
  const double old_ctx = static_cast<double>(p.original_max_position_embeddings);
  const double low_wavelen = old_ctx / p.low_freq_factor;
  const double high_wavelen = old_ctx / p.high_freq_factor;
  for (float& v : f) {
    const double inv = v;
    const double wavelen = 2.0 * M_PI / inv;
    double out = inv;
    if (wavelen > low_wavelen) {
      out = inv / p.factor;
    } else if (wavelen >= high_wavelen) {
      const double smooth = (old_ctx / wavelen - p.low_freq_factor) / (p.high_freq_factor - p.low_freq_factor);
      out = (1.0 - smooth) * inv / p.factor + smooth * inv;
    }
    v = static_cast<float>(out);
  }
}

void rope_apply(const RopeTable& t, int64_t position, float* x) {
  const int64_t half = static_cast<int64_t>(t.inv_freq.size());
  for (int64_t i = 0; i < half; ++i) {
    // torch computes the angle as f32 position * f32 inv_freq; do the same, then cos/sin.
    const float angle = static_cast<float>(position) * t.inv_freq[static_cast<size_t>(i)];
    const float c = std::cos(angle) * t.scale;
    const float s = std::sin(angle) * t.scale;
    const int64_t a = t.pairing == RopePairing::kAdjacent ? 2 * i : i;
    const int64_t b = t.pairing == RopePairing::kAdjacent ? 2 * i + 1 : i + half;
    const float x0 = x[a], x1 = x[b];
    x[a] = x0 * c - x1 * s;
    x[b] = x1 * c + x0 * s;
  }
}

}  // namespace whale::kernels
