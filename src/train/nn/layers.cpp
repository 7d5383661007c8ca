// Shared layers of the libtorch reference model. Initial values follow HF's _init_weights
// (matrices ~ N(0, 0.02^2), norms 1) so a fresh module is trainable; checkpoints overwrite them.
#include "train/nn/layers.h"

#include <cmath>
#include <limits>
#include <vector>

namespace whale::train::nn {
namespace {
constexpr double kInitStd = 0.02;
}

RMSNorm::RMSNorm(int64_t dim, double eps) : eps_(eps) {
  weight = register_parameter("weight", torch::ones({dim}));
}

torch::Tensor RMSNorm::forward(const torch::Tensor& x) const {
  const torch::Tensor xf = x.to(torch::kFloat32);
  const torch::Tensor normed = xf * torch::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps_);
  return weight * normed.to(x.scalar_type());
}

Linear::Linear(int64_t in, int64_t out, bool with_bias) {
  weight = register_parameter("weight", torch::randn({out, in}) * kInitStd);
  if (with_bias) bias = register_parameter("bias", torch::zeros({out}));
}

torch::Tensor Linear::forward(const torch::Tensor& x) const { return torch::nn::functional::linear(x, weight, bias); }

Embedding::Embedding(int64_t vocab, int64_t dim) {
  weight = register_parameter("weight", torch::randn({vocab, dim}) * kInitStd);
}

torch::Tensor Embedding::forward(const torch::Tensor& ids) const {
  std::vector<int64_t> shape = ids.sizes().vec();
  shape.push_back(weight.size(1));
  return weight.index_select(0, ids.reshape({-1})).reshape(shape);
}

Mlp::Mlp(int64_t dim, int64_t width) {
  gate_proj = register_module("gate_proj", std::make_shared<Linear>(dim, width));
  up_proj = register_module("up_proj", std::make_shared<Linear>(dim, width));
  down_proj = register_module("down_proj", std::make_shared<Linear>(width, dim));
}

torch::Tensor Mlp::forward(const torch::Tensor& x) const {
  return down_proj->forward(torch::silu(gate_proj->forward(x)) * up_proj->forward(x));
}

torch::Tensor causal_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                               double scale) {
  const int64_t tq = q.size(2);
  const int64_t tk = k.size(2);
  torch::Tensor scores = torch::matmul(q, k.transpose(-1, -2)) * scale;  // [B, H, Tq, Tk]
  // Queries are the last tq of the tk keys' positions in the sequence.
  const torch::Tensor future = torch::ones({tq, tk}, torch::TensorOptions().dtype(torch::kBool)).triu(tk - tq + 1);
  scores = scores.masked_fill(future, -std::numeric_limits<double>::infinity());
  const torch::Tensor probs = torch::softmax(scores, -1, torch::kFloat32).to(v.scalar_type());
  return torch::matmul(probs, v);
}

}  // namespace whale::train::nn
