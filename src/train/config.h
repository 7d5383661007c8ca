// A training run's configuration (`whale train pretrain|sft CONFIG`): one JSON file with the model
// (a Hugging Face config.json object, pretraining) or the checkpoint to start from (SFT), the data
// mix, the optimizer and schedule, MoE balancing and the MTP loss. docs/training.md lists every key.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "formats/model_args.h"
#include "train/tasks/phrasing.h"
#include "train/tasks/task.h"

namespace whale::train {

// kDistill: SFT of a student on verified traces its teacher wrote (`whale train distill`).
enum class RunKind { kPretrain, kSft, kDistill };
// How MoE load is balanced: DeepSeek-V3's bias rule plus its tiny sequence-wise loss; a classic
// auxiliary loss alone (batch-wise α·Σ f_i P_i, as in DeepSeek-V2); or nothing.
enum class Balance { kAuxFree, kAuxLoss, kNone };

struct TaskMix {
  tasks::TaskKind task = tasks::TaskKind::kAddition;
  double weight = 1.0;
  tasks::Difficulty difficulty;
};

// What the examples look like (config "data"; docs/training.md): the questions' surface forms and
// the shares of multi-turn and small-talk examples. The defaults are the one-template data.
struct DataMix {
  tasks::PhrasingSet phrasings = tasks::PhrasingSet::kTemplate;  // kTemplate or kTrain
  int forms_version = 1;     // kTrain: the training forms of table versions <= this (tasks::Form::version)
  double follow_ups = 0;     // SFT: share of 2-3 turn conversations ending in a follow-up
  double small_talk = 0;     // share of identity / greeting / out-of-skill turns
  bool score_prompt = true;  // pretraining: the question's tokens are scored
};

// Distillation (R1 §2.4): the teacher answers training-split problems, a program verifier keeps
// only correct traces (rejection sampling), and the student is fine-tuned on them.
struct DistillSpec {
  std::string teacher;                // the model that writes the traces (an RL-trained checkpoint)
  std::string teacher_prompt = "chat";  // how the teacher is asked: "chat" template or "zero" (BOS + question + "\n")
  std::string prompt = "chat";        // how the student sees the problem in its training examples
  int64_t prompts = 500;              // training-split problems, split across the tasks by weight
  int samples = 4;                    // traces sampled per problem
  int keep = 1;                       // verified-correct, distinct traces kept per problem
  double temperature = 0.6, top_p = 0.95;
  int64_t max_tokens = 512;
};

struct TrainConfig {
  RunKind kind = RunKind::kPretrain;
  formats::ModelArgs model;  // pretraining: from "model"; SFT: the init checkpoint's config
  std::string init;          // SFT, distillation: the checkpoint directory to start from ("" for pretraining)
  std::string tokenizer;     // a tokenizer directory; "" = the tiny trained vocabulary
  std::string save_dtype = "bfloat16";  // the final model's stored dtype (checkpoints keep float32)

  int64_t steps = 1000;
  int64_t batch_size = 16;  // rows per step
  int64_t seq_len = 256;    // tokens per row (examples packed whole, never split)
  uint64_t seed = 1;        // parameter init and data
  int threads = 0;          // 0: all cores

  // AdamW and the schedule: linear warmup to lr, cosine to lr * min_lr_ratio at the last step.
  double lr = 1e-3, min_lr_ratio = 0.1, beta1 = 0.9, beta2 = 0.95, weight_decay = 0.1, eps = 1e-8;
  int64_t warmup_steps = 50;
  double clip = 1.0;  // global gradient-norm clip (0: off)

  Balance balance = Balance::kAuxFree;
  double gamma = 0.001;     // bias update speed (aux_free)
  double seq_alpha = 1e-4;  // the complementary sequence-wise loss (aux_free)
  double aux_alpha = 0.01;  // the classic auxiliary loss (aux_loss)

  // MTP loss weight: mtp_weight until mtp_switch (a fraction of the steps), then mtp_weight_after.
  double mtp_weight = 0.3, mtp_weight_after = 0.1, mtp_switch = 0.7;

  std::vector<TaskMix> tasks;  // the data: problems drawn from these tasks by weight
  DataMix data;

  int64_t log_every = 10;        // progress note; every step goes to metrics.jsonl
  int64_t eval_every = 100;      // validation loss and MaxVio over the validation batches
  int64_t eval_batches = 4;
  int64_t checkpoint_every = 100;
  bool autocast_bf16 = false;    // bf16 autocast on the CPU (docs/training.md: measured slower here)

  DistillSpec distill;           // kind kDistill only
};

// One problem of `split`: the task chosen by weight with the top 53 bits of `pick_bits`, generated
// from `seed` (the data of pretraining, SFT and RL all draw this way).
tasks::Problem draw_problem(const std::vector<TaskMix>& mix, tasks::Split split, uint64_t pick_bits, uint64_t seed);

// Parses and validates; `source` names the file in errors (kInvalidArgument / kFormat naming the key).
TrainConfig parse_train_config(const std::string& json_text, const std::string& source);
TrainConfig load_train_config(const std::string& path);

// The MTP loss weight at `step` (0-based) of `steps` (used only when the model has an MTP module;
// for SFT the model comes from `init`, not `model`).
double mtp_weight_at(const TrainConfig& c, int64_t step);
// The learning rate at `step`: linear warmup from lr/warmup to lr, then cosine down to lr*min_lr_ratio.
double lr_at(const TrainConfig& c, int64_t step);

}  // namespace whale::train
