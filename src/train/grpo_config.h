// The GRPO run's configuration (`whale train grpo CONFIG`): the start checkpoint, the task mix,
// rollouts, rewards, the loss variant and the optimizer. Plain C++ (whale_train_config), so the fuzz build reaches it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "train/config.h"
#include "train/grpo_advantages.h"
#include "train/tasks/response.h"

namespace whale::train {

struct GrpoConfig {
  std::string init;       // the starting checkpoint (pretrained or SFT)
  std::string prompt = "chat";  // "chat": the chat template (thinking on); "zero": R1-Zero's plain prompt
  std::vector<TaskMix> tasks;
  int64_t dataset_size = 0;  // > 0: prompts come from this many fixed training problems (a dataset); 0: fresh ones
  int64_t steps = 100;
  int64_t prompts_per_step = 8;
  int64_t group_size = 8;  // G samples per prompt
  double temperature = 1.0;
  int64_t max_tokens = 256;
  tasks::RewardWeights rewards;
  GrpoVariant variant = GrpoVariant::kGrpo;
  double clip_low = 0.2, clip_high = 0.2;  // DAPO: 0.2 / 0.28
  double beta = 0.001;          // k3 KL penalty weight (0: no reference model)
  int64_t ref_refresh = 400;    // copy the policy into the reference every N steps (0: never)
  int64_t inner_steps = 1;      // optimizer steps per rollout batch
  int64_t overlong_buffer = 0;  // DAPO soft overlong penalty over the last N tokens before max_tokens (0: off)
  double overlong_penalty = 1.0;
  double lr = 1e-5, weight_decay = 0.0, clip = 1.0;
  uint64_t seed = 1;
  int threads = 0;
  int64_t checkpoint_every = 50;
  // float32: an RL update at lr ~1e-5 moves most weights by less than half a bf16 step, so a bf16
  // model would be largely the start model (issue 18's review).
  std::string save_dtype = "float32";
  bool skip_uniform_groups = true;  // rows of zero-variance groups skip forward + backward (backward_rows)
};

GrpoConfig parse_grpo_config(const std::string& json_text, const std::string& source);

}  // namespace whale::train
