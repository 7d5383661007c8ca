// RoPE frequencies and rotations. YaRN follows HF's DeepseekV3YarnRotaryEmbedding (modeling_deepseek.py
// of the released checkpoints), llama3 follows transformers' _compute_llama3_parameters.
#include "train/nn/rope.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/error.h"

namespace whale::train::nn {

double yarn_get_mscale(double scale, double mscale) {
  if (scale <= 1.0) return 1.0;
  return 0.1 * mscale * std::log(scale) + 1.0;
}

double yarn_find_correction_dim(double rotations, int64_t dim, double base, int64_t orig_max) {
  return static_cast<double>(dim) * std::log(static_cast<double>(orig_max) / (rotations * 2.0 * std::numbers::pi)) /
         (2.0 * std::log(base));
}

std::pair<int64_t, int64_t> yarn_correction_range(double beta_fast, double beta_slow, int64_t dim, double base,
                                                  int64_t orig_max) {
  const auto low = static_cast<int64_t>(std::floor(yarn_find_correction_dim(beta_fast, dim, base, orig_max)));
  const auto high = static_cast<int64_t>(std::ceil(yarn_find_correction_dim(beta_slow, dim, base, orig_max)));
  return {std::max<int64_t>(low, 0), std::min<int64_t>(high, dim - 1)};
}

torch::Tensor rope_inv_freq(const formats::RopeScaling& s, double theta, int64_t dim) {
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  const torch::Tensor exponent = torch::arange(0, dim, 2, f64) / static_cast<double>(dim);  // 2i / d
  const torch::Tensor base_freq = 1.0 / torch::pow(theta, exponent);
  if (s.type == formats::RopeType::kNone) return base_freq;
  if (s.type == formats::RopeType::kLinear) return base_freq / s.factor;
  if (s.type == formats::RopeType::kYarn) {
    // Dimensions below `low` rotate fast enough to keep their frequency (extrapolate); above
    // `high` they are interpolated (/ factor); a linear ramp blends the band between.
    const torch::Tensor freq_extra = base_freq;
    const torch::Tensor freq_inter = base_freq / s.factor;
    auto [low, high] = yarn_correction_range(s.beta_fast, s.beta_slow, dim, theta, s.original_max_position_embeddings);
    double lo = static_cast<double>(low), hi = static_cast<double>(high);
    if (lo == hi) hi += 0.001;  // HF's yarn_linear_ramp_mask guard
    const torch::Tensor ramp = ((torch::arange(dim / 2, f64) - lo) / (hi - lo)).clamp(0.0, 1.0);
    const torch::Tensor extra_mask = 1.0 - ramp;
    return freq_inter * (1.0 - extra_mask) + freq_extra * extra_mask;
  }
  if (s.type == formats::RopeType::kLlama3) {
    const double orig = static_cast<double>(s.original_max_position_embeddings);
    const double low_wavelen = orig / s.low_freq_factor;
    const double high_wavelen = orig / s.high_freq_factor;
    const torch::Tensor wavelen = 2.0 * std::numbers::pi / base_freq;
    torch::Tensor inv = torch::where(wavelen > low_wavelen, base_freq / s.factor, base_freq);
    const torch::Tensor smooth = (orig / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
    const torch::Tensor smoothed = (1.0 - smooth) * inv / s.factor + smooth * inv;
    const torch::Tensor medium = (wavelen >= high_wavelen).logical_and(wavelen <= low_wavelen);
    return torch::where(medium, smoothed, inv);
  }
  fail(ErrorKind::kUnsupported, "rope_scaling type \"", formats::rope_type_name(s.type), "\" (known: yarn, llama3, linear)");
}

double rope_cos_sin_factor(const formats::RopeScaling& s) {
  if (s.type != formats::RopeType::kYarn) return 1.0;
  return yarn_get_mscale(s.factor, s.mscale) / yarn_get_mscale(s.factor, s.mscale_all_dim);
}

double mla_softmax_scale(const formats::ModelArgs& a) {
  double scale = 1.0 / std::sqrt(static_cast<double>(a.qk_nope_head_dim + a.qk_rope_head_dim));
  if (a.rope_scaling.type == formats::RopeType::kYarn && a.rope_scaling.mscale_all_dim != 0.0) {
    const double m = yarn_get_mscale(a.rope_scaling.factor, a.rope_scaling.mscale_all_dim);
    scale *= m * m;
  }
  return scale;
}

std::pair<torch::Tensor, torch::Tensor> rope_cos_sin(const torch::Tensor& inv_freq, const torch::Tensor& positions,
                                                     double factor, torch::Dtype dtype) {
  const torch::Tensor angle = positions.to(torch::kFloat64).unsqueeze(-1) * inv_freq.to(torch::kFloat64);
  return {(angle.cos() * factor).to(dtype).unsqueeze(2), (angle.sin() * factor).to(dtype).unsqueeze(2)};
}

torch::Tensor apply_rope_adjacent(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  std::vector<int64_t> pairs = x.sizes().vec();
  pairs.back() /= 2;
  pairs.push_back(2);
  const torch::Tensor xp = x.reshape(pairs);
  const torch::Tensor x0 = xp.select(-1, 0);
  const torch::Tensor x1 = xp.select(-1, 1);
  return torch::stack({x0 * cos - x1 * sin, x0 * sin + x1 * cos}, -1).reshape(x.sizes());
}

torch::Tensor apply_rope_half(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  const int64_t half = x.size(-1) / 2;
  const torch::Tensor x1 = x.narrow(-1, 0, half);
  const torch::Tensor x2 = x.narrow(-1, half, half);
  return torch::cat({x1 * cos - x2 * sin, x2 * cos + x1 * sin}, -1);
}

}  // namespace whale::train::nn
