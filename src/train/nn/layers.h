// The building blocks every family shares, named as Hugging Face names them: RMSNorm, a bias-optional
// Linear, Embedding, the SwiGLU MLP (gate_proj/up_proj/down_proj) and causal softmax attention.
#pragma once

#include <cstdint>
#include <memory>

#include <torch/torch.h>

namespace whale::train::nn {

// y = weight * x / sqrt(mean(x^2) + eps), the statistics in float32 (as HF's RMSNorm).
class RMSNorm : public torch::nn::Module {
 public:
  RMSNorm(int64_t dim, double eps);
  torch::Tensor forward(const torch::Tensor& x) const;

  torch::Tensor weight;  // [dim], initialised to 1

 private:
  double eps_;
};

// y = x W^T (+ b); weight [out, in] as stored in checkpoints.
class Linear : public torch::nn::Module {
 public:
  Linear(int64_t in, int64_t out, bool bias = false);
  torch::Tensor forward(const torch::Tensor& x) const;

  torch::Tensor weight;
  torch::Tensor bias;  // undefined without bias
};

class Embedding : public torch::nn::Module {
 public:
  Embedding(int64_t vocab, int64_t dim);
  torch::Tensor forward(const torch::Tensor& ids) const;  // ids: [B, T] int64 -> [B, T, dim]

  torch::Tensor weight;  // [vocab, dim]
};

// down_proj(silu(gate_proj(x)) * up_proj(x)): dense MLPs, routed experts and shared experts.
class Mlp : public torch::nn::Module {
 public:
  Mlp(int64_t dim, int64_t width);
  torch::Tensor forward(const torch::Tensor& x) const;

  std::shared_ptr<Linear> gate_proj, up_proj, down_proj;
};

// softmax(q k^T * scale + causal mask) v, the softmax in float32. q, k: [B, H, T, dk];
// v: [B, H, T, dv] -> [B, H, T, dv]. Query i sees keys 0..i of the same sequence.
torch::Tensor causal_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                               double scale);

}  // namespace whale::train::nn
