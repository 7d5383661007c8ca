// DeepSeekMoE (REFERENCE §2): the router (softmax/sigmoid affinities; greedy, group-limited and
// noaux_tc selection; the bias choosing but never weighting) and the MoE layer (shared experts +
// weighted routed experts), as DeepSeek's Hugging Face modeling_deepseek.py computes them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "formats/model_args.h"
#include "train/nn/causal_lm.h"
#include "train/nn/layers.h"

namespace whale::train::nn {

struct GateConfig {
  std::string scoring_func = "softmax";  // softmax | sigmoid
  std::string topk_method = "greedy";    // greedy | group_limited_greedy | noaux_tc
  int64_t top_k = 1;
  int64_t n_group = 1;
  int64_t topk_group = 1;
  bool norm_topk_prob = false;
  double routed_scaling_factor = 1.0;
  // DeepSeek-V3's rule: normalise (when norm_topk_prob and top_k > 1), then always scale. V2's rule
  // (false): normalise when norm_topk_prob and top_k > 1, otherwise scale — never both.
  bool scale_after_norm = true;

  static GateConfig from_args(const formats::ModelArgs& args);
};

// Routes N tokens. logits: [N, E] (float32 recommended); bias: [E] e_score_correction_bias, used
// (noaux_tc only) to choose experts, or undefined. Experts of groups that are not kept can never be
// chosen. Returns ids/weights [N, top_k] (highest selection score first) and the scores [N, E].
Routing route(const torch::Tensor& logits, const torch::Tensor& bias, const GateConfig& cfg);

// mlp.gate: weight [E, D] and, for noaux_tc, e_score_correction_bias [E] (float32, a parameter
// without gradient: training moves it by the balancing rule, not by backprop).
class Gate : public torch::nn::Module {
 public:
  Gate(const formats::ModelArgs& args);
  Routing forward(const torch::Tensor& x) const;  // x: [N, D]

  torch::Tensor weight;
  torch::Tensor e_score_correction_bias;  // undefined unless noaux_tc

 private:
  GateConfig cfg_;
};

// The MoE MLP of one layer: gate, experts.{e}, shared_experts (when n_shared_experts > 0).
class Moe : public torch::nn::Module {
 public:
  explicit Moe(const formats::ModelArgs& args);
  torch::Tensor forward(const torch::Tensor& x);  // [B, T, D] -> [B, T, D]; records last_routing()

  const Routing& last_routing() const { return last_; }

  std::shared_ptr<Gate> gate;
  std::vector<std::shared_ptr<Mlp>> experts;  // also registered as the ModuleList "experts"
  std::shared_ptr<Mlp> shared_experts;       // null without shared experts

 private:
  Routing last_;
};

}  // namespace whale::train::nn
