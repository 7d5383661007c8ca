// The DeepSeek decoder stack and MTP modules. The MTP input concatenation order is
// [enorm(embedding); hnorm(hidden)], as the engines that load DeepSeek's weights do (vLLM's
// deepseek_mtp.py); the paper's figure lists the two the other way round (docs/reference_model.md).
#include "train/nn/deepseek.h"

#include "core/error.h"
#include "train/nn/rope.h"

namespace whale::train::nn {

DeepseekDecoderLayer::DeepseekDecoderLayer(const formats::ModelArgs& a, int64_t layer) {
  input_layernorm = register_module("input_layernorm", std::make_shared<RMSNorm>(a.hidden_size, a.rms_norm_eps));
  self_attn = register_module("self_attn", std::make_shared<MlaAttention>(a));
  post_attention_layernorm =
      register_module("post_attention_layernorm", std::make_shared<RMSNorm>(a.hidden_size, a.rms_norm_eps));
  if (a.is_moe_layer(layer)) {
    moe = register_module("mlp", std::make_shared<Moe>(a));
  } else {
    dense_mlp = register_module("mlp", std::make_shared<Mlp>(a.hidden_size, a.intermediate_size));
  }
}

torch::Tensor DeepseekDecoderLayer::forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  const torch::Tensor h = x + self_attn->forward(input_layernorm->forward(x), cos, sin);
  const torch::Tensor n = post_attention_layernorm->forward(h);
  return h + (moe ? moe->forward(n) : dense_mlp->forward(n));
}

SharedHead::SharedHead(const formats::ModelArgs& a) {
  norm = register_module("norm", std::make_shared<RMSNorm>(a.hidden_size, a.rms_norm_eps));
  head = register_module("head", std::make_shared<Linear>(a.hidden_size, a.vocab_size));
}

DeepseekMtpLayer::DeepseekMtpLayer(const formats::ModelArgs& a, int64_t layer) : DeepseekDecoderLayer(a, layer) {
  embed_tokens = register_module("embed_tokens", std::make_shared<Embedding>(a.vocab_size, a.hidden_size));
  enorm = register_module("enorm", std::make_shared<RMSNorm>(a.hidden_size, a.rms_norm_eps));
  hnorm = register_module("hnorm", std::make_shared<RMSNorm>(a.hidden_size, a.rms_norm_eps));
  eh_proj = register_module("eh_proj", std::make_shared<Linear>(2 * a.hidden_size, a.hidden_size));
  shared_head = register_module("shared_head", std::make_shared<SharedHead>(a));
}

DeepseekModel::DeepseekModel(const formats::ModelArgs& a) {
  embed_tokens = register_module("embed_tokens", std::make_shared<Embedding>(a.vocab_size, a.hidden_size));
  torch::nn::ModuleList list;
  for (int64_t i = 0; i < a.num_hidden_layers; ++i) {
    layers.push_back(std::make_shared<DeepseekDecoderLayer>(a, i));
    list->push_back(layers.back());
  }
  for (int64_t k = 0; k < a.num_nextn_predict_layers; ++k) {
    mtp.push_back(std::make_shared<DeepseekMtpLayer>(a, a.num_hidden_layers + k));
    list->push_back(mtp.back());
  }
  register_module("layers", list);
  norm = register_module("norm", std::make_shared<RMSNorm>(a.hidden_size, a.rms_norm_eps));
}

DeepseekForCausalLM::DeepseekForCausalLM(const formats::ModelArgs& a)
    : CausalLM(a),
      inv_freq_(rope_inv_freq(a.rope_scaling, a.rope_theta, a.qk_rope_head_dim)),
      cos_sin_factor_(rope_cos_sin_factor(a.rope_scaling)) {
  model = register_module("model", std::make_shared<DeepseekModel>(a));
  lm_head = register_module("lm_head", std::make_shared<Linear>(a.hidden_size, a.vocab_size));
}

std::pair<torch::Tensor, torch::Tensor> DeepseekForCausalLM::cos_sin(const torch::Tensor& positions,
                                                                     torch::Dtype dtype) const {
  return rope_cos_sin(inv_freq_, positions, cos_sin_factor_, dtype);
}

Output DeepseekForCausalLM::forward(const torch::Tensor& tokens, const torch::Tensor& positions) {
  check_tokens(tokens, positions);
  torch::Tensor h = model->embed_tokens->forward(tokens);  // [B, T, D]
  const auto [cos, sin] = cos_sin(positions, h.scalar_type());
  for (const auto& layer : model->layers) h = layer->forward(h, cos, sin);
  return {lm_head->forward(model->norm->forward(h)).to(torch::kFloat32), h};
}

Output DeepseekForCausalLM::mtp_forward(const torch::Tensor& hidden, const torch::Tensor& next_tokens,
                                        const torch::Tensor& positions, int k) {
  if (k < 0 || k >= static_cast<int>(model->mtp.size())) {
    fail(ErrorKind::kUnsupported, "MTP module ", k, " (the model has ", model->mtp.size(), ")");
  }
  check_tokens(next_tokens, positions);
  if (hidden.dim() != 3 || hidden.size(0) != next_tokens.size(0) || hidden.size(1) != next_tokens.size(1)) {
    fail(ErrorKind::kInvalidArgument, "MTP hidden must be [B, T, hidden_size] matching next_tokens [B, T]");
  }
  const DeepseekMtpLayer& m = *model->mtp[static_cast<size_t>(k)];
  const torch::Tensor e = m.enorm->forward(m.embed_tokens->forward(next_tokens));  // [B, T, D]
  const torch::Tensor x = m.eh_proj->forward(torch::cat({e, m.hnorm->forward(hidden.to(e.scalar_type()))}, -1));
  const auto [cos, sin] = cos_sin(positions, x.scalar_type());
  const torch::Tensor h = model->mtp[static_cast<size_t>(k)]->forward(x, cos, sin);
  return {m.shared_head->head->forward(m.shared_head->norm->forward(h)).to(torch::kFloat32), h};
}

std::map<int64_t, Routing> DeepseekForCausalLM::routing() const {
  std::map<int64_t, Routing> out;
  const int64_t n_main = static_cast<int64_t>(model->layers.size());
  for (int64_t i = 0; i < n_main; ++i) {
    const auto& moe = model->layers[static_cast<size_t>(i)]->moe;
    if (moe && moe->last_routing().ids.defined()) out[i] = moe->last_routing();
  }
  for (size_t k = 0; k < model->mtp.size(); ++k) {
    const auto& moe = model->mtp[k]->moe;
    if (moe && moe->last_routing().ids.defined()) out[n_main + static_cast<int64_t>(k)] = moe->last_routing();
  }
  return out;
}

}  // namespace whale::train::nn
