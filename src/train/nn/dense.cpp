// Dense GQA decoder (Qwen2, Llama) as transformers' modeling_qwen2.py / modeling_llama.py compute it:
// each KV head serves num_attention_heads / num_key_value_heads consecutive query heads.
#include "train/nn/dense.h"

#include <cmath>

#include "train/nn/rope.h"

namespace whale::train::nn {
namespace {
int64_t head_dim_of(const formats::ModelArgs& a) {
  return a.head_dim > 0 ? a.head_dim : a.hidden_size / a.num_attention_heads;
}
}  // namespace

GqaAttention::GqaAttention(const formats::ModelArgs& a)
    : n_heads_(a.num_attention_heads), n_kv_heads_(a.num_key_value_heads), head_dim_(head_dim_of(a)) {
  const int64_t D = a.hidden_size;
  q_proj = register_module("q_proj", std::make_shared<Linear>(D, n_heads_ * head_dim_, a.attention_bias));
  k_proj = register_module("k_proj", std::make_shared<Linear>(D, n_kv_heads_ * head_dim_, a.attention_bias));
  v_proj = register_module("v_proj", std::make_shared<Linear>(D, n_kv_heads_ * head_dim_, a.attention_bias));
  o_proj = register_module("o_proj", std::make_shared<Linear>(n_heads_ * head_dim_, D));
}

torch::Tensor GqaAttention::forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) const {
  const int64_t B = x.size(0), T = x.size(1);
  const int64_t group = n_heads_ / n_kv_heads_;
  const torch::Tensor q = apply_rope_half(q_proj->forward(x).view({B, T, n_heads_, head_dim_}), cos, sin);
  const torch::Tensor k = apply_rope_half(k_proj->forward(x).view({B, T, n_kv_heads_, head_dim_}), cos, sin);
  const torch::Tensor v = v_proj->forward(x).view({B, T, n_kv_heads_, head_dim_});
  // [B, T, KV, hd] -> [B, H, T, hd], KV head j repeated for query heads j*group .. j*group+group-1
  const torch::Tensor k_rep = k.repeat_interleave(group, 2).transpose(1, 2);
  const torch::Tensor v_rep = v.repeat_interleave(group, 2).transpose(1, 2);
  const torch::Tensor out =
      causal_attention(q.transpose(1, 2), k_rep, v_rep, 1.0 / std::sqrt(static_cast<double>(head_dim_)));
  return o_proj->forward(out.transpose(1, 2).reshape({B, T, n_heads_ * head_dim_}));
}

DenseDecoderLayer::DenseDecoderLayer(const formats::ModelArgs& a) {
  input_layernorm = register_module("input_layernorm", std::make_shared<RMSNorm>(a.hidden_size, a.rms_norm_eps));
  self_attn = register_module("self_attn", std::make_shared<GqaAttention>(a));
  post_attention_layernorm =
      register_module("post_attention_layernorm", std::make_shared<RMSNorm>(a.hidden_size, a.rms_norm_eps));
  mlp = register_module("mlp", std::make_shared<Mlp>(a.hidden_size, a.intermediate_size));
}

torch::Tensor DenseDecoderLayer::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                         const torch::Tensor& sin) const {
  const torch::Tensor h = x + self_attn->forward(input_layernorm->forward(x), cos, sin);
  return h + mlp->forward(post_attention_layernorm->forward(h));
}

DenseModel::DenseModel(const formats::ModelArgs& a) {
  embed_tokens = register_module("embed_tokens", std::make_shared<Embedding>(a.vocab_size, a.hidden_size));
  torch::nn::ModuleList list;
  for (int64_t i = 0; i < a.num_hidden_layers; ++i) {
    layers.push_back(std::make_shared<DenseDecoderLayer>(a));
    list->push_back(layers.back());
  }
  register_module("layers", list);
  norm = register_module("norm", std::make_shared<RMSNorm>(a.hidden_size, a.rms_norm_eps));
}

DenseForCausalLM::DenseForCausalLM(const formats::ModelArgs& a)
    : CausalLM(a), inv_freq_(rope_inv_freq(a.rope_scaling, a.rope_theta, head_dim_of(a))) {
  model = register_module("model", std::make_shared<DenseModel>(a));
  if (!a.tie_word_embeddings) lm_head = register_module("lm_head", std::make_shared<Linear>(a.hidden_size, a.vocab_size));
}

Output DenseForCausalLM::forward(const torch::Tensor& tokens, const torch::Tensor& positions) {
  check_tokens(tokens, positions);
  torch::Tensor h = model->embed_tokens->forward(tokens);  // [B, T, D]
  const auto [cos, sin] = rope_cos_sin(inv_freq_, positions, /*factor=*/1.0, h.scalar_type());
  for (const auto& layer : model->layers) h = layer->forward(h, cos, sin);
  const torch::Tensor n = model->norm->forward(h);
  const torch::Tensor logits =
      lm_head ? lm_head->forward(n) : torch::nn::functional::linear(n, model->embed_tokens->weight);
  return {logits.to(torch::kFloat32), h};
}

}  // namespace whale::train::nn
