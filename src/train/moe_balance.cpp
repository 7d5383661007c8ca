#include "train/moe_balance.h"

#include <algorithm>

#include "train/nn/deepseek.h"

namespace whale::train {

std::map<int64_t, torch::Tensor> gate_biases(nn::CausalLM& model) {
  std::map<int64_t, torch::Tensor> out;
  auto* ds = dynamic_cast<nn::DeepseekForCausalLM*>(&model);
  if (!ds) return out;
  const int64_t L = ds->model->layers.size();
  for (int64_t i = 0; i < L; ++i) {
    const auto& m = ds->model->layers[i]->moe;
    if (m && m->gate->e_score_correction_bias.defined()) out[i] = m->gate->e_score_correction_bias;
  }
  for (size_t k = 0; k < ds->model->mtp.size(); ++k) {
    const auto& m = ds->model->mtp[k]->moe;
    if (m && m->gate->e_score_correction_bias.defined()) out[L + k] = m->gate->e_score_correction_bias;
  }
  return out;
}

std::map<int64_t, torch::Tensor> expert_loads(const std::map<int64_t, nn::Routing>& routing, const torch::Tensor& real_main,
                                              const torch::Tensor& real_mtp, int64_t main_layers, int64_t E) {
  std::map<int64_t, torch::Tensor> out;
  for (const auto& [layer, r] : routing) {
    const torch::Tensor& real = layer < main_layers ? real_main : real_mtp;  // [N] bool
    const torch::Tensor ids = r.ids.index({real}).flatten();
    out[layer] = torch::bincount(ids, {}, E).to(torch::kFloat64);
  }
  return out;
}

double max_vio(const torch::Tensor& load) {
  const double mean = load.mean().item<double>();
  if (mean <= 0) return 0.0;
  return (load.max().item<double>() - mean) / mean;
}

torch::Tensor balance_loss(const nn::Routing& r, const torch::Tensor& real, int64_t groups, int64_t top_k) {
  const int64_t N = r.scores.size(0), E = r.scores.size(1);
  const torch::Tensor s = r.scores / (r.scores.sum(-1, true) + 1e-20);  // [N, E]
  const torch::Tensor realf = real.to(torch::kFloat32).view({groups, N / groups, 1});
  const torch::Tensor hits = torch::zeros({N, E}).scatter_add(1, r.ids, torch::ones(r.ids.sizes())).view({groups, N / groups, E});
  const torch::Tensor count = realf.sum(1).clamp_min(1.0);  // [G, 1]
  const torch::Tensor f = (hits * realf).sum(1) * (static_cast<double>(E) / static_cast<double>(top_k)) / count;
  const torch::Tensor P = (s.view({groups, N / groups, E}) * realf).sum(1) / count;
  return (f.detach() * P).sum(-1).mean();
}

BalanceStats update_biases(const std::map<int64_t, torch::Tensor>& loads, std::map<int64_t, torch::Tensor>& biases,
                           double gamma) {
  torch::NoGradGuard no_grad;
  BalanceStats s;
  bool first_bias = true;
  for (const auto& [layer, load] : loads) {
    const double v = max_vio(load);
    s.maxvio.push_back(v);
    s.maxvio_sum += v;
    auto it = biases.find(layer);
    if (it == biases.end()) continue;
    if (gamma > 0) {
      const torch::Tensor delta = torch::sign(load.mean() - load).to(torch::kFloat32) * gamma;
      it->second.add_(delta);
    }
    const double lo = it->second.min().item<double>(), hi = it->second.max().item<double>();
    s.bias_min = first_bias ? lo : std::min(s.bias_min, lo);
    s.bias_max = first_bias ? hi : std::max(s.bias_max, hi);
    first_bias = false;
  }
  return s;
}

}  // namespace whale::train
