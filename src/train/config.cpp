#include "train/config.h"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numbers>
#include <sstream>

#include "core/error.h"
#include "train/config_json.h"

namespace whale::train {

namespace {

using nlohmann::json;

void positive(int64_t v, const char* key, const std::string& source) {
  if (v <= 0) fail(ErrorKind::kInvalidArgument, source, ": \"", key, "\" must be positive, got ", v);
}

}  // namespace

TrainConfig parse_train_config(const std::string& text, const std::string& source) {
  const json j = parse_config_object(text, source);
  check_known_keys(j,
                   {"kind", "model", "init", "tokenizer", "save_dtype", "steps", "batch_size", "seq_len", "seed", "threads", "optimizer", "balance", "mtp", "tasks", "log_every", "eval_every",
                                 "eval_batches", "checkpoint_every", "autocast_bf16", "distill", "data", "comment"}, source);
  TrainConfig c;
  std::string kind = "pretrain";
  get_key(j, "kind", kind, source);
  if (kind == "pretrain") {
    c.kind = RunKind::kPretrain;
  } else if (kind == "sft") {
    c.kind = RunKind::kSft;
  } else if (kind == "distill") {
    c.kind = RunKind::kDistill;
  } else {
    fail(ErrorKind::kInvalidArgument, source, ": \"kind\" must be \"pretrain\", \"sft\" or \"distill\", got \"", kind, "\"");
  }
  get_key(j, "init", c.init, source);
  get_key(j, "tokenizer", c.tokenizer, source);
  get_key(j, "save_dtype", c.save_dtype, source);
  if (c.save_dtype != "float32" && c.save_dtype != "bfloat16" && c.save_dtype != "float16") {
    fail(ErrorKind::kInvalidArgument, source, ": \"save_dtype\" must be float32, bfloat16 or float16");
  }
  if (c.kind == RunKind::kPretrain) {
    if (!j.contains("model")) fail(ErrorKind::kInvalidArgument, source, ": pretraining needs \"model\" (a config.json object)");
    c.model = formats::parse_model_args(j.at("model").dump(), source + " \"model\"");
  } else {
    if (c.init.empty()) fail(ErrorKind::kInvalidArgument, source, ": ", kind, " needs \"init\" (the checkpoint to start from)");
    if (j.contains("model")) fail(ErrorKind::kInvalidArgument, source, ": ", kind, " takes the model from \"init\"; drop \"model\"");
  }
  if (c.kind == RunKind::kDistill) {
    if (!j.contains("distill") || !j.at("distill").is_object()) {
      fail(ErrorKind::kInvalidArgument, source, ": distillation needs \"distill\": {\"teacher\": DIR, ...}");
    }
    const json& d = *nested_object(j, "distill", {"teacher", "teacher_prompt", "prompt", "prompts", "samples", "keep",
                                                  "temperature", "top_p", "max_tokens"}, source);
    const std::string s = source + " \"distill\"";
    DistillSpec& ds = c.distill;
    get_key(d, "teacher", ds.teacher, s);
    get_key(d, "teacher_prompt", ds.teacher_prompt, s);
    get_key(d, "prompt", ds.prompt, s);
    get_key(d, "prompts", ds.prompts, s);
    get_key(d, "samples", ds.samples, s);
    get_key(d, "keep", ds.keep, s);
    get_key(d, "temperature", ds.temperature, s);
    get_key(d, "top_p", ds.top_p, s);
    get_key(d, "max_tokens", ds.max_tokens, s);
    if (ds.teacher.empty()) fail(ErrorKind::kInvalidArgument, s, ": \"teacher\" (the model that writes the traces) is required");
    for (const std::string* p : {&ds.teacher_prompt, &ds.prompt}) {
      if (*p != "chat" && *p != "zero") fail(ErrorKind::kInvalidArgument, s, ": prompts must be \"chat\" or \"zero\", got \"", *p, "\"");
    }
    if (ds.prompts <= 0 || ds.samples <= 0 || ds.keep <= 0 || ds.max_tokens <= 0) {
      fail(ErrorKind::kInvalidArgument, s, ": prompts, samples, keep and max_tokens must be positive");
    }
  } else if (j.contains("distill")) {
    fail(ErrorKind::kInvalidArgument, source, ": \"distill\" belongs to kind \"distill\" configs");
  }
  get_key(j, "steps", c.steps, source);
  get_key(j, "batch_size", c.batch_size, source);
  get_key(j, "seq_len", c.seq_len, source);
  get_key(j, "seed", c.seed, source);
  get_key(j, "threads", c.threads, source);
  get_key(j, "log_every", c.log_every, source);
  get_key(j, "eval_every", c.eval_every, source);
  get_key(j, "eval_batches", c.eval_batches, source);
  get_key(j, "checkpoint_every", c.checkpoint_every, source);
  get_key(j, "autocast_bf16", c.autocast_bf16, source);
  positive(c.steps, "steps", source);
  positive(c.batch_size, "batch_size", source);
  positive(c.seq_len, "seq_len", source);
  positive(c.eval_every, "eval_every", source);
  positive(c.checkpoint_every, "checkpoint_every", source);
  positive(c.log_every, "log_every", source);
  if (c.eval_batches < 0) fail(ErrorKind::kInvalidArgument, source, ": \"eval_batches\" must be >= 0");
  if (c.seq_len < 8) fail(ErrorKind::kInvalidArgument, source, ": \"seq_len\" must be at least 8");

  if (const json* opt = nested_object(j, "optimizer", {"lr", "min_lr_ratio", "weight_decay", "eps", "warmup_steps", "clip", "betas"}, source)) {
    const json& o = *opt;
    const std::string s = source + " \"optimizer\"";
    get_key(o, "lr", c.lr, s);
    get_key(o, "min_lr_ratio", c.min_lr_ratio, s);
    get_key(o, "weight_decay", c.weight_decay, s);
    get_key(o, "eps", c.eps, s);
    get_key(o, "warmup_steps", c.warmup_steps, s);
    get_key(o, "clip", c.clip, s);
    if (o.contains("betas")) {
      std::vector<double> b;
      get_key(o, "betas", b, s);
      if (b.size() != 2) fail(ErrorKind::kInvalidArgument, s, ": \"betas\" must hold two numbers");
      c.beta1 = b[0];
      c.beta2 = b[1];
    }
    if (!(c.lr > 0)) fail(ErrorKind::kInvalidArgument, s, ": \"lr\" must be positive");
    if (c.warmup_steps < 0) fail(ErrorKind::kInvalidArgument, s, ": \"warmup_steps\" must be >= 0");
  }
  if (const json* bal = nested_object(j, "balance", {"mode", "gamma", "seq_alpha", "aux_alpha"}, source)) {
    const json& b = *bal;
    const std::string s = source + " \"balance\"";
    std::string mode = "aux_free";
    get_key(b, "mode", mode, s);
    if (mode == "aux_free") {
      c.balance = Balance::kAuxFree;
    } else if (mode == "aux_loss") {
      c.balance = Balance::kAuxLoss;
    } else if (mode == "none") {
      c.balance = Balance::kNone;
    } else {
      fail(ErrorKind::kInvalidArgument, s, ": \"mode\" must be aux_free, aux_loss or none, got \"", mode, "\"");
    }
    get_key(b, "gamma", c.gamma, s);
    get_key(b, "seq_alpha", c.seq_alpha, s);
    get_key(b, "aux_alpha", c.aux_alpha, s);
  }
  if (const json* mtp = nested_object(j, "mtp", {"weight", "weight_after", "switch_at"}, source)) {
    const json& m = *mtp;
    const std::string s = source + " \"mtp\"";
    get_key(m, "weight", c.mtp_weight, s);
    get_key(m, "weight_after", c.mtp_weight_after, s);
    get_key(m, "switch_at", c.mtp_switch, s);
  }
  if (!j.contains("tasks") || !j.at("tasks").is_array() || j.at("tasks").empty()) {
    fail(ErrorKind::kInvalidArgument, source, ": \"tasks\" must be a non-empty array of {\"task\": NAME, ...}");
  }
  for (size_t i = 0; i < j.at("tasks").size(); ++i) {
    const json& t = j.at("tasks")[i];
    const std::string s = source + " \"tasks\"";
    if (!t.is_object()) fail(ErrorKind::kFormat, s, ": each task must be a JSON object");
    check_known_keys(t, {"task", "weight", "min_digits", "max_digits", "min_numbers", "max_numbers", "max_number",
                         "min_target", "max_target", "min_pages", "max_pages", "page_chars", "no_search"}, source, "tasks[" + std::to_string(i) + "]");
    TaskMix m;
    std::string name;
    get_key(t, "task", name, s);
    m.task = tasks::parse_task(name);
    get_key(t, "weight", m.weight, s);
    get_key(t, "min_digits", m.difficulty.min_digits, s);
    get_key(t, "max_digits", m.difficulty.max_digits, s);
    get_key(t, "min_numbers", m.difficulty.min_numbers, s);
    get_key(t, "max_numbers", m.difficulty.max_numbers, s);
    get_key(t, "max_number", m.difficulty.max_number, s);
    get_key(t, "min_target", m.difficulty.min_target, s);
    get_key(t, "max_target", m.difficulty.max_target, s);
    get_key(t, "min_pages", m.difficulty.min_pages, s);
    get_key(t, "max_pages", m.difficulty.max_pages, s);
    get_key(t, "page_chars", m.difficulty.page_chars, s);
    get_key(t, "no_search", m.difficulty.no_search, s);
    if (!(m.weight > 0)) fail(ErrorKind::kInvalidArgument, s, ": task \"", name, "\" needs a positive weight");
    c.tasks.push_back(m);
  }
  if (j.contains("data")) {
    const json& d = *nested_object(j, "data", {"phrasings", "forms_version", "follow_ups", "small_talk", "score_prompt"}, source);
    const std::string s = source + " \"data\"";
    std::string phrasings = "template";
    get_key(d, "phrasings", phrasings, s);
    c.data.phrasings = tasks::parse_phrasing_set(phrasings);
    if (c.data.phrasings == tasks::PhrasingSet::kHeldOut)
      fail(ErrorKind::kInvalidArgument, s, ": \"phrasings\" must be \"template\" or \"train\" (held-out forms are for evaluation only)");
    get_key(d, "forms_version", c.data.forms_version, s);
    if (c.data.forms_version < 1 || c.data.forms_version > tasks::kLatestFormsVersion)
      fail(ErrorKind::kInvalidArgument, s, ": \"forms_version\" must be 1 to ", tasks::kLatestFormsVersion, ", got ",
           c.data.forms_version);
    get_key(d, "follow_ups", c.data.follow_ups, s);
    get_key(d, "small_talk", c.data.small_talk, s);
    get_key(d, "score_prompt", c.data.score_prompt, s);
    if (!(c.data.follow_ups >= 0 && c.data.small_talk >= 0 && c.data.follow_ups + c.data.small_talk <= 1))
      fail(ErrorKind::kInvalidArgument, s, ": \"follow_ups\" and \"small_talk\" must be shares >= 0 summing to at most 1");
    if (c.data.follow_ups > 0 && c.kind == RunKind::kPretrain)
      fail(ErrorKind::kInvalidArgument, s, ": \"follow_ups\" are chat conversations, for sft configs only");
  }
  return c;
}

TrainConfig load_train_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorKind::kNotFound, "cannot open training config ", path);
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_train_config(ss.str(), path);
}

tasks::Problem draw_problem(const std::vector<TaskMix>& mix, tasks::Split split, uint64_t pick_bits, uint64_t seed) {
  if (mix.empty()) fail(ErrorKind::kInvalidArgument, "no tasks to draw problems from");
  double total = 0;
  for (const TaskMix& m : mix) total += m.weight;
  const double pick = static_cast<double>(pick_bits >> 11) / 9007199254740992.0 * total;
  double acc = 0;
  const TaskMix* chosen = &mix.back();
  for (const TaskMix& m : mix) {
    acc += m.weight;
    if (pick < acc) {
      chosen = &m;
      break;
    }
  }
  tasks::TaskSpec spec;
  spec.task = chosen->task;
  spec.split = split;
  spec.count = 1;
  spec.seed = seed;
  spec.difficulty = chosen->difficulty;
  return tasks::generate(spec).at(0);
}

double mtp_weight_at(const TrainConfig& c, int64_t step) {
  return static_cast<double>(step) < c.mtp_switch * static_cast<double>(c.steps) ? c.mtp_weight : c.mtp_weight_after;
}

double lr_at(const TrainConfig& c, int64_t step) {
  if (step < c.warmup_steps) return c.lr * static_cast<double>(step + 1) / static_cast<double>(c.warmup_steps);
  const double span = std::max<double>(1.0, static_cast<double>(c.steps - c.warmup_steps));
  const double progress = std::min(1.0, static_cast<double>(step - c.warmup_steps) / span);
  const double cosine = 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
  return c.lr * (c.min_lr_ratio + (1.0 - c.min_lr_ratio) * cosine);
}

}  // namespace whale::train
