// Qwen2ForCausalLM and LlamaForCausalLM (the R1-Distill students) in libtorch: GQA with optional
// q/k/v bias, half-split ("rotate_half") RoPE with llama3 scaling, SwiGLU MLP, optional tied head.
#pragma once

#include <memory>
#include <vector>

#include <torch/torch.h>

#include "formats/model_args.h"
#include "train/nn/causal_lm.h"
#include "train/nn/layers.h"

namespace whale::train::nn {

class GqaAttention : public torch::nn::Module {
 public:
  explicit GqaAttention(const formats::ModelArgs& args);
  // x: [B, T, D]; cos, sin: [B, T, 1, head_dim / 2] -> [B, T, D].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) const;

  std::shared_ptr<Linear> q_proj, k_proj, v_proj, o_proj;

 private:
  int64_t n_heads_, n_kv_heads_, head_dim_;
};

class DenseDecoderLayer : public torch::nn::Module {
 public:
  explicit DenseDecoderLayer(const formats::ModelArgs& args);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) const;

  std::shared_ptr<RMSNorm> input_layernorm, post_attention_layernorm;
  std::shared_ptr<GqaAttention> self_attn;
  std::shared_ptr<Mlp> mlp;
};

class DenseModel : public torch::nn::Module {
 public:
  explicit DenseModel(const formats::ModelArgs& args);
  std::shared_ptr<Embedding> embed_tokens;
  std::vector<std::shared_ptr<DenseDecoderLayer>> layers;  // registered as the ModuleList "layers"
  std::shared_ptr<RMSNorm> norm;
};

class DenseForCausalLM : public CausalLM {
 public:
  explicit DenseForCausalLM(const formats::ModelArgs& args);
  Output forward(const torch::Tensor& tokens, const torch::Tensor& positions) override;

  std::shared_ptr<DenseModel> model;
  std::shared_ptr<Linear> lm_head;  // null when tie_word_embeddings: the head is embed_tokens.weight

 private:
  torch::Tensor inv_freq_;  // [head_dim / 2] float64
};

}  // namespace whale::train::nn
