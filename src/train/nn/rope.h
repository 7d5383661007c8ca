// Rotary position embedding as each family's Hugging Face code computes it: frequencies (plain,
// YaRN, llama3, linear), the YaRN cos/sin and softmax-scale corrections, and the two pairings:
// DeepSeek rotates adjacent pairs (2i, 2i+1), Qwen2/Llama rotate (i, i + d/2) ("rotate_half").
#pragma once

#include <cstdint>
#include <utility>

#include <torch/torch.h>

#include "formats/model_args.h"

namespace whale::train::nn {

// yarn_get_mscale(s, m) = 1 if s <= 1 else 0.1 * m * ln(s) + 1.
double yarn_get_mscale(double scale, double mscale);
// d * ln(orig_max / (rotations * 2 pi)) / (2 ln base): the dimension whose wavelength fits
// `rotations` times into the original context.
double yarn_find_correction_dim(double rotations, int64_t dim, double base, int64_t orig_max);
// [floor(dim(beta_fast)), ceil(dim(beta_slow))] clamped to [0, dim - 1].
std::pair<int64_t, int64_t> yarn_correction_range(double beta_fast, double beta_slow, int64_t dim, double base,
                                                  int64_t orig_max);

// Inverse frequencies [dim / 2] (float64) for a rotary dim of `dim` under `scaling` (type "" or
// "default": theta^(-2i/dim); "yarn": DeepseekV3YarnRotaryEmbedding's blend of extrapolated and
// interpolated frequencies; "llama3": HF _compute_llama3_parameters; "linear": / factor).
// Throws kUnsupported for other types.
torch::Tensor rope_inv_freq(const formats::RopeScaling& scaling, double theta, int64_t dim);
// The factor HF multiplies cos and sin by: yarn_get_mscale(f, mscale) / yarn_get_mscale(f, mscale_all_dim)
// under YaRN, 1 otherwise.
double rope_cos_sin_factor(const formats::RopeScaling& scaling);
// MLA softmax scale: (d_nope + d_rope)^-0.5, times yarn_get_mscale(factor, mscale_all_dim)^2 when
// YaRN with a non-zero mscale_all_dim (as HF DeepseekV3Attention).
double mla_softmax_scale(const formats::ModelArgs& args);

// cos, sin of positions * inv_freq times `factor`: [B, T, 1, dim / 2] in `dtype`, computed in
// float64 so the oracle is as exact as float32 output allows. positions: [B, T] int64.
std::pair<torch::Tensor, torch::Tensor> rope_cos_sin(const torch::Tensor& inv_freq, const torch::Tensor& positions,
                                                     double factor, torch::Dtype dtype);

// x: [..., dim] with cos/sin broadcastable to [..., dim / 2].
// Adjacent pairs: (x[2i], x[2i+1]) -> (x0 cos - x1 sin, x0 sin + x1 cos), as DeepSeek's complex view.
torch::Tensor apply_rope_adjacent(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);
// Half split: (x[i], x[i + d/2]) rotated by frequency i, as HF's rotate_half.
torch::Tensor apply_rope_half(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);

}  // namespace whale::train::nn
