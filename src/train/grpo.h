// `whale train grpo CONFIG`: Group Relative Policy Optimization (REFERENCE §7) with rule rewards
// from the task verifiers. Rollouts run on the whale engine with the current policy's weights
// handed over in memory; the policy update runs in libtorch. Variants: GRPO (R1), Dr. GRPO, DAPO.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "train/grpo_config.h"

namespace whale::train {

void train_grpo(const GrpoConfig& config, const std::string& config_text, const std::string& run_dir, bool resume,
                bool progress);

}  // namespace whale::train
