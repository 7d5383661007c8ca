// Multi-head Latent Attention (REFERENCE §1), the naive way: queries (with or without q_lora),
// the latent c_kv and one shared rope key from kv_a_proj_with_mqa, per-head K/V decompressed by
// kv_b_proj, adjacent-pair RoPE on the rope parts, causal softmax at the (YaRN-corrected) scale.
#pragma once

#include <memory>

#include <torch/torch.h>

#include "formats/model_args.h"
#include "train/nn/layers.h"

namespace whale::train::nn {

class MlaAttention : public torch::nn::Module {
 public:
  explicit MlaAttention(const formats::ModelArgs& args);
  // x: [B, T, D]; cos, sin: [B, T, 1, d_rope / 2] -> [B, T, D].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) const;

  // Present with q_lora_rank > 0 (q_a_proj, q_a_layernorm, q_b_proj), else q_proj.
  std::shared_ptr<Linear> q_a_proj, q_b_proj, q_proj;
  std::shared_ptr<RMSNorm> q_a_layernorm;
  std::shared_ptr<Linear> kv_a_proj_with_mqa;
  std::shared_ptr<RMSNorm> kv_a_layernorm;
  std::shared_ptr<Linear> kv_b_proj, o_proj;

 private:
  int64_t n_heads_, d_nope_, d_rope_, d_v_, kv_lora_;
  double scale_;
};

}  // namespace whale::train::nn
