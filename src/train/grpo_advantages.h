// GRPO's reward side in plain numbers (REFERENCE §7): group-relative advantages, which groups an
// update keeps (DAPO's dynamic sampling), DAPO's overlong penalty, and the k3 KL estimator.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace whale::train {

enum class GrpoVariant { kGrpo, kDrGrpo, kDapo };

// Advantages for one group of rewards: (r - mean) / (std + 1e-6) for GRPO and DAPO (population
// std, as the R1 formula), r - mean for Dr. GRPO.
std::vector<double> group_advantages(const std::vector<double>& rewards, GrpoVariant variant);

// The k3 estimator of KL(π_θ || π_ref) per token from log-probabilities:
// exp(ref - logp) - (ref - logp) - 1 (always >= 0).
double k3(double logp, double ref_logp);

// Groups of `group_size` consecutive rewards: which ones the update uses and how many carry no
// signal (all rewards equal). DAPO drops those (dynamic sampling); GRPO and Dr. GRPO keep every
// group (its advantages are 0).
struct GroupSelection {
  std::vector<size_t> kept;  // group indices, ascending
  size_t uniform = 0;        // groups whose rewards are all equal
};
GroupSelection select_groups(const std::vector<double>& rewards, int64_t group_size, GrpoVariant variant);

// DAPO's soft overlong penalty for a completion of `length` tokens: 0 up to
// max_tokens - buffer, then falling linearly to -penalty at max_tokens (0 when buffer is 0).
double overlong_reward(int64_t length, int64_t max_tokens, int64_t buffer, double penalty);

}  // namespace whale::train
