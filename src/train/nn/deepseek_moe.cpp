// Router and MoE layer. Selection masks dropped groups with -inf (DeepSeek's inference/model.py)
// rather than HF's 0.0, so their experts can never be chosen (see docs/reference_model.md).
#include "train/nn/deepseek_moe.h"

#include <limits>

#include "core/error.h"

namespace whale::train::nn {

GateConfig GateConfig::from_args(const formats::ModelArgs& a) {
  GateConfig c;
  c.scoring_func = formats::scoring_func_name(a.scoring_func);
  c.topk_method = formats::topk_method_name(a.topk_method);
  c.top_k = a.num_experts_per_tok;
  c.n_group = a.n_group;
  c.topk_group = a.topk_group;
  c.norm_topk_prob = a.norm_topk_prob;
  c.routed_scaling_factor = a.routed_scaling_factor;
  c.scale_after_norm = a.family == formats::Family::kDeepseekV3;
  return c;
}

Routing route(const torch::Tensor& logits, const torch::Tensor& bias, const GateConfig& cfg) {
  const int64_t N = logits.size(0);
  const int64_t E = logits.size(1);
  Routing r;
  if (cfg.scoring_func == "softmax") {
    r.scores = torch::softmax(logits, -1, torch::kFloat32);
  } else if (cfg.scoring_func == "sigmoid") {
    r.scores = torch::sigmoid(logits.to(torch::kFloat32));
  } else {
    fail(ErrorKind::kUnsupported, "scoring_func \"", cfg.scoring_func, "\" (known: softmax, sigmoid)");
  }
  torch::Tensor choice = r.scores.detach();  // [N, E] what selection compares
  const bool noaux = cfg.topk_method == "noaux_tc";
  if (noaux && bias.defined()) choice = choice + bias.detach().to(torch::kFloat32);

  if (noaux || cfg.topk_method == "group_limited_greedy") {
    const int64_t G = cfg.n_group;
    if (G < 1 || E % G != 0 || cfg.topk_group < 1 || cfg.topk_group > G) {
      fail(ErrorKind::kInvalidArgument, "n_group ", G, " / topk_group ", cfg.topk_group, " do not fit ", E, " experts");
    }
    const torch::Tensor grouped = choice.view({N, G, E / G});
    torch::Tensor group_score;  // [N, G]
    if (noaux) {
      // V3: a group's score is the sum of its two best (biased) scores.
      group_score = std::get<0>(grouped.topk(std::min<int64_t>(2, E / G), -1)).sum(-1);
    } else {
      group_score = std::get<0>(grouped.max(-1));
    }
    const torch::Tensor kept = std::get<1>(group_score.topk(cfg.topk_group, -1));  // [N, topk_group]
    const torch::Tensor keep = torch::zeros({N, G}, torch::TensorOptions().dtype(torch::kBool)).scatter(1, kept, true);
    const torch::Tensor keep_expert = keep.unsqueeze(-1).expand({N, G, E / G}).reshape({N, E});
    choice = choice.masked_fill(keep_expert.logical_not(), -std::numeric_limits<double>::infinity());
  } else if (cfg.topk_method != "greedy") {
    fail(ErrorKind::kUnsupported, "topk_method \"", cfg.topk_method, "\" (known: greedy, group_limited_greedy, noaux_tc)");
  }
  r.ids = std::get<1>(choice.topk(cfg.top_k, -1));  // sorted: best first
  torch::Tensor w = r.scores.gather(1, r.ids);    // unbiased affinities of the chosen
  const bool normalise = cfg.top_k > 1 && cfg.norm_topk_prob;
  if (normalise) w = w / (w.sum(-1, /*keepdim=*/true) + 1e-20);
  if (cfg.scale_after_norm || !normalise) w = w * cfg.routed_scaling_factor;
  r.weights = w;
  return r;
}

Gate::Gate(const formats::ModelArgs& a) : cfg_(GateConfig::from_args(a)) {
  weight = register_parameter("weight", torch::randn({a.n_routed_experts, a.hidden_size}) * 0.02);
  if (a.topk_method == formats::TopkMethod::kNoauxTc) {
    e_score_correction_bias =
        register_parameter("e_score_correction_bias", torch::zeros({a.n_routed_experts}), /*requires_grad=*/false);
  }
}

Routing Gate::forward(const torch::Tensor& x) const {
  // Router logits in float32, as HF computes them whatever the model's dtype.
  const torch::Tensor logits = torch::nn::functional::linear(x.to(torch::kFloat32), weight.to(torch::kFloat32));
  return route(logits, e_score_correction_bias, cfg_);
}

Moe::Moe(const formats::ModelArgs& a) {
  gate = register_module("gate", std::make_shared<Gate>(a));
  torch::nn::ModuleList list;
  for (int64_t e = 0; e < a.n_routed_experts; ++e) {
    experts.push_back(std::make_shared<Mlp>(a.hidden_size, a.moe_intermediate_size));
    list->push_back(experts.back());
  }
  register_module("experts", list);
  if (a.n_shared_experts > 0) {
    shared_experts =
        register_module("shared_experts", std::make_shared<Mlp>(a.hidden_size, a.n_shared_experts * a.moe_intermediate_size));
  }
}

torch::Tensor Moe::forward(const torch::Tensor& x) {
  const torch::Tensor flat = x.reshape({-1, x.size(-1)});  // [N, D]
  last_ = gate->forward(flat);
  torch::Tensor out = torch::zeros_like(flat);
  for (size_t e = 0; e < experts.size(); ++e) {
    const torch::Tensor hit = last_.ids == static_cast<int64_t>(e);  // [N, top_k]
    const torch::Tensor rows = hit.any(1).nonzero().squeeze(1);      // tokens routed to e
    if (rows.numel() == 0) continue;
    const torch::Tensor w = (last_.weights * hit).sum(1).index_select(0, rows);  // [n_e] float32
    const torch::Tensor y = experts[e]->forward(flat.index_select(0, rows));     // [n_e, D]
    out = out.index_add(0, rows, (y * w.unsqueeze(1).to(y.scalar_type())).to(out.scalar_type()));
  }
  if (shared_experts) out = out + shared_experts->forward(flat);
  return out.view(x.sizes());
}

}  // namespace whale::train::nn
