// The GRPO objective on tensors (REFERENCE §7): the update batch packed into micro-batches, the
// clipped surrogate with the k3 KL penalty in its three normalisations (GRPO, Dr. GRPO, DAPO), and
// the loss metrics.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "train/grpo_advantages.h"

namespace whale::train {

// One sequence of the update: the prompt, the sampled completion and its advantage.
struct UpdateRow {
  const std::vector<int32_t>* prompt = nullptr;
  const std::vector<int32_t>* completion = nullptr;
  double advantage = 0;
  bool uniform_group = false;  // every rollout of its group got the same reward (advantage 0)
};

// The rows that go through forward and backward. A uniform group's rows have advantage 0, so their
// policy-gradient term is exactly zero; only the KL term (beta > 0) would move them, and that is
// dropped with them (docs/rl.md). The loss normalisers stay those of the whole batch (LossSpec),
// so with beta 0 the gradient is the same as over every row.
std::vector<UpdateRow> backward_rows(const std::vector<UpdateRow>& rows, bool skip_uniform_groups);

// Sequences trained together in one forward/backward. Rows padded with `pad` to the longest.
struct MicroBatch {
  torch::Tensor tokens, positions;  // [n, T] int64
  torch::Tensor mask;               // [n, T-1]: 1 where the logits at t-1 predict a completion token at t
  torch::Tensor A;                  // [n, 1] advantages (float32)
  torch::Tensor ntok;               // [n] completion tokens per row, at least 1
  torch::Tensor old_logp, ref_logp; // [n, T-1] under π_old and π_ref; undefined when not needed
};

// The rows in micro-batches of at most `micro` sequences of similar lengths (a stable sort by
// prompt + completion length: less padding, bounded memory).
std::vector<MicroBatch> pack_micro_batches(const std::vector<UpdateRow>& rows, int64_t pad, size_t micro);

// Log-probability of each next token, [N, T-1], from logits [N, T, V] (float32).
torch::Tensor token_logp(const torch::Tensor& logits, const torch::Tensor& tokens);

// What the loss needs besides the micro-batch: the clip range, the KL weight and the whole update
// batch's normalisers (every micro-batch divides by them, so the micro-batch losses sum to the
// batch loss).
struct LossSpec {
  GrpoVariant variant = GrpoVariant::kGrpo;
  double clip_low = 0.2, clip_high = 0.2;
  double beta = 0;          // KL weight, used when the micro-batch has ref_logp
  int64_t rows = 1;         // sequences in the update batch (GRPO: mean over sequences)
  double tokens = 1;        // completion tokens in the update batch, at least 1 (DAPO: mean over tokens)
  int64_t max_tokens = 1;   // Dr. GRPO: sum over tokens / (rows · max_tokens)
};

struct PolicyLoss {
  torch::Tensor loss;   // scalar, with graph
  torch::Tensor ratio;  // [n, T-1] π_θ / π_old
  torch::Tensor kl;     // [n, T-1] k3 per token; undefined without a reference
};

// The clipped surrogate -min(ρA, clip(ρ, 1-ε_low, 1+ε_high)A) + β·k3 per token, reduced by the
// variant: GRPO: Σ_rows (Σ_t / n_tok) / rows; DAPO: Σ / tokens; Dr. GRPO: Σ / (rows · max_tokens).
// `logp` [n, T-1] is π_θ with graph; π_old is m.old_logp or, when undefined, logp.detach().
PolicyLoss policy_loss(const MicroBatch& m, const torch::Tensor& logp, const LossSpec& spec);

// Loss metrics summed over micro-batches (token means are over the whole batch's `tokens`).
struct LossStats {
  double loss = 0, kl = 0, clip_fraction = 0, entropy = 0, sampled_logp = 0;
};
// Adds one micro-batch's share; `logits` [n, T, V] are the policy's for m.tokens.
void add_loss_stats(LossStats& stats, const MicroBatch& m, const torch::Tensor& logits, const torch::Tensor& logp,
                    const PolicyLoss& l, const LossSpec& spec);

}  // namespace whale::train
