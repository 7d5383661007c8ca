// MoE load balancing in training (DeepSeek-V3 §2.1.2, docs/training.md): expert loads per layer,
// MaxVio, the balance loss Σ f_i P_i (V3's sequence-wise one or V2's batch-wise one), and the
// auxiliary-loss-free bias rule b_i += γ·sign(mean load − load_i).
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include <torch/torch.h>

#include "train/nn/causal_lm.h"

namespace whale::train {

// The balancing bias of every MoE layer with noaux_tc routing, by layer index (MTP modules after
// the main stack); the tensors alias the model's buffers.
std::map<int64_t, torch::Tensor> gate_biases(nn::CausalLM& model);

// Expert loads (float64 counts, [E]) per MoE layer over the real tokens of the latest forward:
// `real_main` [N] bool masks the main stack's layers (index < main_layers), `real_mtp` the rest.
std::map<int64_t, torch::Tensor> expert_loads(const std::map<int64_t, nn::Routing>& routing, const torch::Tensor& real_main,
                                              const torch::Tensor& real_mtp, int64_t main_layers, int64_t E);

// (max_i load_i − mean load) / mean load; 0 when nothing was routed.
double max_vio(const torch::Tensor& load);

// Σ_i f_i P_i for one layer, averaged over `groups` equal runs of the N tokens, each a balancing
// unit (a sequence for the sequence-wise loss, the whole batch for the classic loss):
// f_i = E/(K·T) · #real tokens routed to i (no gradient), P_i = mean over real tokens of s_i / Σ_j s_j.
torch::Tensor balance_loss(const nn::Routing& r, const torch::Tensor& real, int64_t groups, int64_t top_k);

struct BalanceStats {
  std::vector<double> maxvio;  // per layer of `loads`, in layer order
  double maxvio_sum = 0;       // their sum, in that order
  double bias_min = 0, bias_max = 0;  // over the biases of those layers, after the update
};

// After an optimizer step: MaxVio of every layer's load and, with gamma > 0, the bias rule
// b_i += γ·sign(mean load − load_i) applied in place to the layers in `biases`.
BalanceStats update_biases(const std::map<int64_t, torch::Tensor>& loads, std::map<int64_t, torch::Tensor>& biases,
                           double gamma);

}  // namespace whale::train
