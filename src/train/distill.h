// `whale train distill CONFIG`: R1's distillation at small scale. The teacher (an RL-trained
// checkpoint) answers training-split problems on the whale engine; the tasks' program verifiers
// keep only correct traces (rejection sampling, `keep` distinct ones per problem); the student
// (any architecture whale trains, a dense qwen2 model in docs/rl.md) is fine-tuned on them with
// the SFT loop (loss on the response only).
#pragma once

#include <string>

#include "train/config.h"
#include "train/trainer.h"

namespace whale::train {

// RUN_DIR gains traces.jsonl (every kept trace: task, problem, prompt, response) and
// distill.json (generated / correct / kept counts and the teacher's time) before the SFT run's
// usual files. --resume reuses traces.jsonl and continues the fine-tuning from its checkpoint.
void train_distill(const TrainConfig& config, const std::string& config_text, const std::string& run_dir,
                   const RunOptions& options);

}  // namespace whale::train
