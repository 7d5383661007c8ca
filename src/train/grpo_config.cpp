// Parsing and validating GRPO configs; the task mix reuses the training config's parser.
#include "train/grpo_config.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "train/config_json.h"

namespace whale::train {

using nlohmann::json;

GrpoConfig parse_grpo_config(const std::string& text, const std::string& source) {
  const json j = parse_config_object(text, source);
  GrpoConfig c;
  auto get = [&](const json& o, const char* key, auto& out) { get_key(o, key, out, source); };
  check_known_keys(j, {"kind", "init", "prompt", "tasks", "dataset_size", "steps", "prompts_per_step", "group_size",
                                 "temperature", "max_tokens", "rewards", "loss", "optimizer", "seed", "threads",
                                 "checkpoint_every", "save_dtype", "skip_uniform_groups", "comment"}, source);
  get(j, "init", c.init);
  if (c.init.empty()) fail(ErrorKind::kInvalidArgument, source, ": GRPO needs \"init\" (the checkpoint to start from)");
  get(j, "prompt", c.prompt);
  if (c.prompt != "chat" && c.prompt != "zero") fail(ErrorKind::kInvalidArgument, source, ": \"prompt\" must be chat or zero");
  get(j, "steps", c.steps);
  get(j, "dataset_size", c.dataset_size);
  if (c.dataset_size < 0) fail(ErrorKind::kInvalidArgument, source, ": \"dataset_size\" must be >= 0");
  get(j, "prompts_per_step", c.prompts_per_step);
  get(j, "group_size", c.group_size);
  get(j, "temperature", c.temperature);
  get(j, "max_tokens", c.max_tokens);
  get(j, "seed", c.seed);
  get(j, "threads", c.threads);
  get(j, "checkpoint_every", c.checkpoint_every);
  get(j, "save_dtype", c.save_dtype);
  get(j, "skip_uniform_groups", c.skip_uniform_groups);
  if (c.steps <= 0 || c.prompts_per_step <= 0 || c.group_size < 2 || c.max_tokens <= 0 || c.checkpoint_every <= 0) {
    fail(ErrorKind::kInvalidArgument, source, ": steps, prompts_per_step, max_tokens, checkpoint_every must be positive and group_size >= 2");
  }
  if (const json* rewards = nested_object(j, "rewards", {"accuracy", "format", "tinyzero"}, source)) {
    const json& r = *rewards;
    get(r, "accuracy", c.rewards.accuracy);
    get(r, "format", c.rewards.format);
    get(r, "tinyzero", c.rewards.tinyzero);
  }
  if (const json* loss = nested_object(j, "loss", {"variant", "clip_low", "clip_high", "beta", "ref_refresh", "inner_steps",
                                                   "overlong_buffer", "overlong_penalty"}, source)) {
    const json& l = *loss;
    std::string v = "grpo";
    get(l, "variant", v);
    if (v == "grpo") {
      c.variant = GrpoVariant::kGrpo;
    } else if (v == "dr_grpo") {
      c.variant = GrpoVariant::kDrGrpo;
    } else if (v == "dapo") {
      c.variant = GrpoVariant::kDapo;
      c.clip_high = 0.28;
    } else {
      fail(ErrorKind::kInvalidArgument, source, ": \"variant\" must be grpo, dr_grpo or dapo");
    }
    get(l, "clip_low", c.clip_low);
    get(l, "clip_high", c.clip_high);
    get(l, "beta", c.beta);
    get(l, "ref_refresh", c.ref_refresh);
    get(l, "inner_steps", c.inner_steps);
    get(l, "overlong_buffer", c.overlong_buffer);
    get(l, "overlong_penalty", c.overlong_penalty);
  }
  if (const json* opt = nested_object(j, "optimizer", {"lr", "weight_decay", "clip"}, source)) {
    const json& o = *opt;
    get(o, "lr", c.lr);
    get(o, "weight_decay", c.weight_decay);
    get(o, "clip", c.clip);
  }
  // The task mix reuses the pretraining config's parser.
  json t = {{"kind", "sft"}, {"init", c.init}, {"tasks", j.value("tasks", json::array())}};
  c.tasks = parse_train_config(t.dump(), source).tasks;
  return c;
}

}  // namespace whale::train
