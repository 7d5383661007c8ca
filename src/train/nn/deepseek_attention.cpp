// MLA forward with the decompressed (naive) K/V: the oracle the engine's naive and absorbed paths
// are both compared against. Shapes: B batch, T tokens, H heads, r kv_lora_rank.
#include "train/nn/deepseek_attention.h"

#include "train/nn/rope.h"

namespace whale::train::nn {

MlaAttention::MlaAttention(const formats::ModelArgs& a)
    : n_heads_(a.num_attention_heads),
      d_nope_(a.qk_nope_head_dim),
      d_rope_(a.qk_rope_head_dim),
      d_v_(a.v_head_dim),
      kv_lora_(a.kv_lora_rank),
      scale_(mla_softmax_scale(a)) {
  const int64_t D = a.hidden_size;
  const int64_t q_out = n_heads_ * a.qk_head_dim();
  if (a.q_lora_rank > 0) {
    q_a_proj = register_module("q_a_proj", std::make_shared<Linear>(D, a.q_lora_rank));
    q_a_layernorm = register_module("q_a_layernorm", std::make_shared<RMSNorm>(a.q_lora_rank, a.rms_norm_eps));
    q_b_proj = register_module("q_b_proj", std::make_shared<Linear>(a.q_lora_rank, q_out));
  } else {
    q_proj = register_module("q_proj", std::make_shared<Linear>(D, q_out));
  }
  kv_a_proj_with_mqa = register_module("kv_a_proj_with_mqa", std::make_shared<Linear>(D, kv_lora_ + d_rope_));
  kv_a_layernorm = register_module("kv_a_layernorm", std::make_shared<RMSNorm>(kv_lora_, a.rms_norm_eps));
  kv_b_proj = register_module("kv_b_proj", std::make_shared<Linear>(kv_lora_, n_heads_ * (d_nope_ + d_v_)));
  o_proj = register_module("o_proj", std::make_shared<Linear>(n_heads_ * d_v_, D));
}

torch::Tensor MlaAttention::forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) const {
  const int64_t B = x.size(0), T = x.size(1), H = n_heads_;
  // q: [B, T, H, d_nope + d_rope]
  const torch::Tensor q = (q_proj ? q_proj->forward(x) : q_b_proj->forward(q_a_layernorm->forward(q_a_proj->forward(x))))
                              .view({B, T, H, d_nope_ + d_rope_});
  const torch::Tensor q_nope = q.narrow(-1, 0, d_nope_);                                  // [B, T, H, d_nope]
  const torch::Tensor q_pe = apply_rope_adjacent(q.narrow(-1, d_nope_, d_rope_), cos, sin);  // [B, T, H, d_rope]

  const torch::Tensor kv = kv_a_proj_with_mqa->forward(x);                    // [B, T, r + d_rope]
  const torch::Tensor c_kv = kv_a_layernorm->forward(kv.narrow(-1, 0, kv_lora_));  // [B, T, r]
  const torch::Tensor k_pe =
      apply_rope_adjacent(kv.narrow(-1, kv_lora_, d_rope_).unsqueeze(2), cos, sin);  // [B, T, 1, d_rope], all heads

  const torch::Tensor kv_heads = kv_b_proj->forward(c_kv).view({B, T, H, d_nope_ + d_v_});
  const torch::Tensor k_nope = kv_heads.narrow(-1, 0, d_nope_);  // [B, T, H, d_nope]
  const torch::Tensor v = kv_heads.narrow(-1, d_nope_, d_v_);    // [B, T, H, d_v]

  const torch::Tensor q_full = torch::cat({q_nope, q_pe}, -1).transpose(1, 2);                     // [B, H, T, dq]
  const torch::Tensor k_full = torch::cat({k_nope, k_pe.expand({B, T, H, d_rope_})}, -1).transpose(1, 2);  // [B, H, T, dq]
  const torch::Tensor out = causal_attention(q_full, k_full, v.transpose(1, 2), scale_);           // [B, H, T, d_v]
  return o_proj->forward(out.transpose(1, 2).reshape({B, T, H * d_v_}));
}

}  // namespace whale::train::nn
