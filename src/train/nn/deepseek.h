// DeepseekForCausalLM (V2, V2-Lite, V3, R1) in libtorch: decoder blocks of MLA + dense MLP or MoE,
// the MTP modules after the main stack (REFERENCE §3), and the module tree Hugging Face names:
// model.embed_tokens, model.layers.{i}.{input_layernorm,self_attn,post_attention_layernorm,mlp},
// model.norm, lm_head; MTP layers add embed_tokens, enorm, hnorm, eh_proj, shared_head.{norm,head}.
#pragma once

#include <map>
#include <memory>
#include <vector>

#include <torch/torch.h>

#include "formats/model_args.h"
#include "train/nn/causal_lm.h"
#include "train/nn/deepseek_attention.h"
#include "train/nn/deepseek_moe.h"
#include "train/nn/layers.h"

namespace whale::train::nn {

// x + attn(norm(x)), then h + mlp(norm(h)).
class DeepseekDecoderLayer : public torch::nn::Module {
 public:
  DeepseekDecoderLayer(const formats::ModelArgs& args, int64_t layer);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);

  std::shared_ptr<RMSNorm> input_layernorm, post_attention_layernorm;
  std::shared_ptr<MlaAttention> self_attn;
  std::shared_ptr<Mlp> dense_mlp;  // one of these two is registered as "mlp"
  std::shared_ptr<Moe> moe;
};

class SharedHead : public torch::nn::Module {
 public:
  SharedHead(const formats::ModelArgs& args);
  std::shared_ptr<RMSNorm> norm;
  std::shared_ptr<Linear> head;
};

// MTP module: x = eh_proj([enorm(embed(t+1)); hnorm(h_t)]), one decoder block, shared_head.
class DeepseekMtpLayer : public DeepseekDecoderLayer {
 public:
  DeepseekMtpLayer(const formats::ModelArgs& args, int64_t layer);
  std::shared_ptr<Embedding> embed_tokens;
  std::shared_ptr<RMSNorm> enorm, hnorm;
  std::shared_ptr<Linear> eh_proj;
  std::shared_ptr<SharedHead> shared_head;
};

class DeepseekModel : public torch::nn::Module {
 public:
  explicit DeepseekModel(const formats::ModelArgs& args);
  std::shared_ptr<Embedding> embed_tokens;
  std::vector<std::shared_ptr<DeepseekDecoderLayer>> layers;  // main stack (registered as "layers")
  std::vector<std::shared_ptr<DeepseekMtpLayer>> mtp;         // layers num_hidden_layers + k
  std::shared_ptr<RMSNorm> norm;
};

class DeepseekForCausalLM : public CausalLM {
 public:
  explicit DeepseekForCausalLM(const formats::ModelArgs& args);
  Output forward(const torch::Tensor& tokens, const torch::Tensor& positions) override;
  Output mtp_forward(const torch::Tensor& hidden, const torch::Tensor& next_tokens, const torch::Tensor& positions,
                     int k = 0) override;
  std::map<int64_t, Routing> routing() const override;

  std::shared_ptr<DeepseekModel> model;
  std::shared_ptr<Linear> lm_head;

 private:
  std::pair<torch::Tensor, torch::Tensor> cos_sin(const torch::Tensor& positions, torch::Dtype dtype) const;
  torch::Tensor inv_freq_;  // [d_rope / 2] float64, not a parameter
  double cos_sin_factor_;
};

}  // namespace whale::train::nn
