// GRPO's rollout side: drawing a step's problems, sampling `group_size` completions of each on the
// whale engine, scoring them with the task verifiers, and DAPO's dynamic sampling.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/weights.h"
#include "tokenizer/tokenizer.h"
#include "train/grpo.h"
#include "train/tasks/task.h"

namespace whale::train {

class DataParallel;

struct Rollout {
  size_t problem = 0;                       // index into the step's problems
  std::vector<int32_t> prompt, completion;  // completion includes EOS when the model stopped
  bool opened = false;                      // the prompt opened <think>
  bool truncated = false;                   // hit max_tokens
  double reward = 0;
  bool correct = false, format_ok = false;
  std::string text;  // the response as the verifier read it
};

// One step's rollouts: group g is rollouts[g·G, (g+1)·G) of problems[rollouts[g·G].problem].
struct StepRollouts {
  std::vector<tasks::Problem> problems;
  std::vector<Rollout> rollouts;
  GroupSelection groups;  // over every group; DAPO keeps only informative ones
};

// Samples and scores the step's groups with the policy's `weights`. DAPO's dynamic sampling draws
// more prompts while fewer than prompts_per_step groups are informative (3 rounds at most).
// Deterministic in (config seed, step). With `dp` distributed, rank r samples the rollouts whose
// index i has i % world == r (each rollout's sampling seed depends on i alone) and the ranks then
// exchange them: every rank returns the whole step.
StepRollouts collect_rollouts(const GrpoConfig& c, const tokenizer::Tokenizer& tok, const model::Weights& weights,
                              int64_t step, DataParallel* dp = nullptr);

// Every rollout's reward, in order.
std::vector<double> rollout_rewards(const std::vector<Rollout>& rollouts);

// The rollouts samples.jsonl keeps for reading: the first, and the first correct one.
std::vector<size_t> sample_indices(const std::vector<Rollout>& rollouts);

}  // namespace whale::train
