// The pretraining and SFT loop (`whale train pretrain|sft`): AdamW with warmup + cosine, gradient
// clipping, the MTP loss, auxiliary-loss-free MoE balancing (or a classic auxiliary loss, or none),
// metrics to RUN_DIR/metrics.jsonl, atomic checkpoints and exact resume (docs/training.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "train/config.h"
#include "train/data.h"

namespace whale::train {

struct RunOptions {
  bool resume = false;    // continue from RUN_DIR's latest checkpoint (error if there is none)
  bool progress = true;   // a progress bar with loss and ETA on stderr
  // The training examples to draw from instead of generated problems (distillation's traces).
  const std::vector<Example>* examples = nullptr;
};

// Layout of RUN_DIR:
//   config.json              the training config as given
//   tokenizer/               the tokenizer files every checkpoint carries
//   metrics.jsonl            one line per step ("split":"train") and per evaluation ("split":"validation")
//   checkpoints/step-N/      HF checkpoint (float32) + optimizer.pt + trainer_state.json
//   checkpoints/latest       the name of the newest complete checkpoint (replaced atomically)
//   model/                   the final model in save_dtype (what `whale chat/eval` load)
//   profile.json             where the time went (data, forward, backward, optimizer, balancing, eval)
// Throws whale::Error on a bad config, an existing run without --resume, or a broken checkpoint.
void train(const TrainConfig& config, const std::string& config_text, const std::string& run_dir,
           const RunOptions& options);

}  // namespace whale::train
