#include "train/grpo.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>

#include "core/error.h"
#include "core/mapped_file.h"
#include "core/progress.h"
#include "engine/chat_session.h"
#include "engine/engine.h"
#include "formats/checkpoint.h"
#include "model/memory_weights.h"
#include "tokenizer/tokenizer.h"
#include "train/nn/causal_lm.h"
#include "train/tasks/rng.h"
#include "train/config_json.h"
#include "train/run_dir.h"
#include "train/torch_io.h"

namespace whale::train {

namespace fs = std::filesystem;
using nlohmann::json;

std::vector<double> group_advantages(const std::vector<double>& r, GrpoVariant variant) {
  const double n = static_cast<double>(r.size());
  const double mean = std::accumulate(r.begin(), r.end(), 0.0) / n;
  double var = 0;
  for (double x : r) var += (x - mean) * (x - mean);
  const double sd = std::sqrt(var / n);
  std::vector<double> a(r.size());
  for (size_t i = 0; i < r.size(); ++i) {
    a[i] = variant == GrpoVariant::kDrGrpo ? r[i] - mean : (r[i] - mean) / (sd + 1e-6);
  }
  return a;
}

double k3(double logp, double ref_logp) {
  const double d = ref_logp - logp;
  return std::exp(d) - d - 1.0;
}

namespace {

using Clock = std::chrono::steady_clock;
// Sequences per forward/backward in the policy update.
constexpr size_t kMicroBatch = 16;

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct Rollout {
  size_t problem = 0;              // index into the step's problems
  std::vector<int32_t> prompt, completion;  // completion includes EOS when the model stopped
  bool opened = false;             // the prompt opened <think>
  bool truncated = false;          // hit max_tokens
  double reward = 0, advantage = 0;
  bool correct = false, format_ok = false;
  std::string text;  // the response as the verifier read it
};

model::Weights export_weights(const nn::CausalLM& m, const formats::ModelArgs& args) {
  std::map<std::string, core::Tensor> tensors;
  for (const auto& p : m.named_parameters()) tensors.emplace(p.key(), from_torch(p.value().detach().to(torch::kFloat32).contiguous()));
  for (const auto& b : m.named_buffers()) tensors.emplace(b.key(), from_torch(b.value().detach().to(torch::kFloat32).contiguous()));
  return model::weights_from_tensors(args, std::move(tensors));
}

// Log-probability of each next token, [N, T-1], from logits [N, T, V] (float32).
torch::Tensor token_logp(const torch::Tensor& logits, const torch::Tensor& tokens) {
  const torch::Tensor lp = torch::log_softmax(logits.slice(1, 0, logits.size(1) - 1).to(torch::kFloat32), -1);
  return lp.gather(-1, tokens.slice(1, 1, tokens.size(1)).unsqueeze(-1)).squeeze(-1);
}

}  // namespace

GrpoConfig parse_grpo_config(const std::string& text, const std::string& source) {
  const json j = parse_config_object(text, source);
  GrpoConfig c;
  auto get = [&](const json& o, const char* key, auto& out) { get_key(o, key, out, source); };
  check_known_keys(j, {"kind", "init", "prompt", "tasks", "dataset_size", "steps", "prompts_per_step", "group_size",
                                 "temperature", "max_tokens", "rewards", "loss", "optimizer", "seed", "threads",
                                 "checkpoint_every", "save_dtype", "comment"}, source);
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
  if (c.steps <= 0 || c.prompts_per_step <= 0 || c.group_size < 2 || c.max_tokens <= 0 || c.checkpoint_every <= 0) {
    fail(ErrorKind::kInvalidArgument, source, ": steps, prompts_per_step, max_tokens, checkpoint_every must be positive and group_size >= 2");
  }
  if (j.contains("rewards")) {
    const json& r = j.at("rewards");
    get(r, "accuracy", c.rewards.accuracy);
    get(r, "format", c.rewards.format);
    get(r, "tinyzero", c.rewards.tinyzero);
  }
  if (j.contains("loss")) {
    const json& l = j.at("loss");
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
  if (j.contains("optimizer")) {
    const json& o = j.at("optimizer");
    get(o, "lr", c.lr);
    get(o, "weight_decay", c.weight_decay);
    get(o, "clip", c.clip);
  }
  // The task mix reuses the pretraining config's parser.
  json t = {{"kind", "sft"}, {"init", c.init}, {"tasks", j.value("tasks", json::array())}};
  c.tasks = parse_train_config(t.dump(), source).tasks;
  return c;
}

void train_grpo(const GrpoConfig& c, const std::string& config_text, const std::string& run_dir, bool resume,
                bool progress) {
  keep_freed_memory();
  if (c.threads > 0) torch::set_num_threads(c.threads);
  fs::create_directories(run_dir);
  const fs::path metrics_path = fs::path(run_dir) / "metrics.jsonl";
  // Two rollouts of every step (the first, and the first correct one) for reading how the
  // responses change over training.
  const fs::path samples_path = fs::path(run_dir) / "samples.jsonl";
  check_run_dir(run_dir, resume);
  core::write_file_atomic((fs::path(run_dir) / "config.json").string(), config_text);
  const formats::ModelArgs args = formats::load_model_args(c.init);
  const tokenizer::Tokenizer tok = tokenizer::Tokenizer::from_dir(c.init);

  auto policy = nn::make_causal_lm(args);
  load_state(*policy, formats::CheckpointReader::open(c.init), torch::kFloat32);
  std::shared_ptr<nn::CausalLM> ref;
  if (c.beta > 0) {
    ref = nn::make_causal_lm(args);
    load_state(*ref, formats::CheckpointReader::open(c.init), torch::kFloat32);
    ref->eval();
  }
  std::vector<torch::Tensor> params;
  for (auto& p : policy->parameters()) {
    if (p.requires_grad()) params.push_back(p);
  }
  torch::optim::AdamW opt(params, torch::optim::AdamWOptions(c.lr).betas({0.9, 0.99}).weight_decay(c.weight_decay));
  int64_t start_step = 0;
  if (resume) {
    const std::string dir = latest_checkpoint(run_dir);
    load_state(*policy, formats::CheckpointReader::open(dir), torch::kFloat32);
    if (ref) load_state(*ref, formats::CheckpointReader::open(dir + "/reference"), torch::kFloat32);
    torch::load(opt, dir + "/optimizer.pt");
    start_step = json::parse(core::read_file(dir + "/trainer_state.json")).at("step").get<int64_t>();
    trim_metrics(metrics_path, start_step);
    trim_metrics(samples_path, start_step);
  }
  std::ofstream metrics(metrics_path, std::ios::app);
  std::ofstream samples(samples_path, std::ios::app);

  std::optional<core::Progress> bar;
  if (progress) bar.emplace("grpo", c.steps, core::ProgressOptions{.unit = "steps"});
  if (bar) bar->set(start_step);

  for (int64_t step = start_step; step < c.steps; ++step) {
    // 1. Rollouts with the current policy on the engine.
    const auto t_roll = Clock::now();
    const model::Weights weights = export_weights(*policy, args);
    std::vector<tasks::Problem> problems;
    std::vector<Rollout> rollouts;
    uint64_t state = tasks::mix64(c.seed * 0x9e3779b97f4a7c15ull + static_cast<uint64_t>(step));
    auto draw_problems = [&](int64_t n) {
      for (int64_t i = 0; i < n; ++i) {
        state = tasks::mix64(state + 1);
        uint64_t bits = state;
        if (c.dataset_size > 0) {  // the k-th problem of the fixed set
          bits = tasks::mix64(c.seed * 0x2545f4914f6cdd1dull + state % static_cast<uint64_t>(c.dataset_size));
        }
        problems.push_back(draw_problem(c.tasks, tasks::Split::kTrain, bits, tasks::mix64(bits ^ 0x5bd1e995)));
      }
    };
    auto roll = [&](size_t first_problem) {
      engine::Engine eng(weights, nullptr,
                         {.max_seqs = static_cast<int32_t>(std::min<int64_t>(64, (problems.size() - first_problem) * c.group_size)),
                          .max_batch_tokens = 1024, .max_context = std::min<int64_t>(args.max_position_embeddings, 4096),
                          .threads = c.threads});
      const size_t base = rollouts.size();
      for (size_t pi = first_problem; pi < problems.size(); ++pi) {
        for (int64_t g = 0; g < c.group_size; ++g) rollouts.push_back({.problem = pi});
      }
      for (size_t i = base; i < rollouts.size(); ++i) {
        Rollout& ro = rollouts[i];
        const tasks::Problem& p = problems[ro.problem];
        engine::Request r;
        if (c.prompt == "zero") {
          r.prompt = tok.encode(p.prompt + "\n", {.add_special = false, .parse_special = false});
          if (tok.bos_id()) r.prompt.insert(r.prompt.begin(), *tok.bos_id());
        } else {
          const tokenizer::ChatMessage user{.role = "user", .content = p.prompt};
          engine::prepare_chat_prompt(tok, std::span<const tokenizer::ChatMessage>(&user, 1), true, r);
          ro.opened = r.reasoning.starts_in_reasoning;
        }
        ro.prompt = r.prompt;
        r.reasoning.enabled = false;
        r.sampling.temperature = static_cast<float>(c.temperature);
        r.sampling.top_p = 1.0f;
        r.sampling.seed = tasks::mix64(c.seed ^ (static_cast<uint64_t>(step) << 20) ^ i);
        r.max_tokens = c.max_tokens;
        r.on_event = [&ro, &tok](const engine::Event& e) {
          if (e.kind == engine::Event::Kind::kFinished) {
            ro.truncated = e.finish == engine::FinishReason::kLength;
            if (!ro.truncated && tok.eos_id()) ro.completion.push_back(*tok.eos_id());
          } else {
            ro.completion.insert(ro.completion.end(), e.tokens.begin(), e.tokens.end());
          }
        };
        eng.add(std::move(r));
      }
      eng.run_until_idle();
    };
    draw_problems(c.prompts_per_step);
    roll(0);
    int64_t rollout_tokens = 0;
    // 2. Rewards and advantages per group.
    auto score = [&](size_t from) {
      for (size_t i = from; i < rollouts.size(); ++i) {
        Rollout& ro = rollouts[i];
        std::vector<int32_t> body = ro.completion;
        if (!ro.truncated && !body.empty()) body.pop_back();  // EOS
        ro.text = (ro.opened ? "<think>\n" : "") + tok.decode(body);
        const tasks::Verdict v = tasks::verify(problems[ro.problem], ro.text);
        ro.correct = v.correct;
        ro.format_ok = v.format_ok;
        ro.reward = tasks::reward(v, c.rewards);
        const int64_t L = static_cast<int64_t>(ro.completion.size());
        if (c.overlong_buffer > 0 && L > c.max_tokens - c.overlong_buffer) {
          ro.reward += c.overlong_penalty * static_cast<double>(c.max_tokens - c.overlong_buffer - L) /
                       static_cast<double>(c.overlong_buffer);
        }
        rollout_tokens += L;
      }
    };
    score(0);
    // DAPO dynamic sampling: drop groups whose rewards are all equal, draw more prompts (3 rounds at most).
    std::vector<size_t> kept_groups;
    size_t uniform_groups = 0;  // groups whose rewards are all equal (no learning signal)
    auto keep_informative = [&]() {
      kept_groups.clear();
      uniform_groups = 0;
      for (size_t g = 0; g * c.group_size < rollouts.size(); ++g) {
        bool same = true;
        for (int64_t k = 1; k < c.group_size; ++k) same = same && rollouts[g * c.group_size + k].reward == rollouts[g * c.group_size].reward;
        uniform_groups += same;
        if (!(same && c.variant == GrpoVariant::kDapo)) kept_groups.push_back(g);
      }
    };
    keep_informative();
    for (int round = 0; c.variant == GrpoVariant::kDapo && round < 3 &&
                        static_cast<int64_t>(kept_groups.size()) < c.prompts_per_step;
         ++round) {
      const size_t first = problems.size(), from = rollouts.size();
      draw_problems(c.prompts_per_step - static_cast<int64_t>(kept_groups.size()));
      roll(first);
      score(from);
      keep_informative();
    }
    const double roll_s = since(t_roll);

    // Metrics over every rollout of the step (before dropping).
    double reward_sum = 0, correct = 0, fmt = 0, length = 0;
    for (const Rollout& ro : rollouts) {
      reward_sum += ro.reward;
      correct += ro.correct;
      fmt += ro.format_ok;
      length += static_cast<double>(ro.completion.size());
    }
    const double n_roll = static_cast<double>(rollouts.size());

    // 3. The update batch: kept groups, advantages within each group.
    std::vector<const Rollout*> batch;
    std::vector<double> adv;
    for (size_t g : kept_groups) {
      std::vector<double> r;
      for (int64_t k = 0; k < c.group_size; ++k) r.push_back(rollouts[g * c.group_size + k].reward);
      const std::vector<double> a = group_advantages(r, c.variant);
      for (int64_t k = 0; k < c.group_size; ++k) {
        batch.push_back(&rollouts[g * c.group_size + k]);
        adv.push_back(a[k]);
      }
    }
    json line = {{"step", step + 1},
                 {"reward", reward_sum / n_roll},
                 {"accuracy", correct / n_roll},
                 {"format", fmt / n_roll},
                 {"response_length", length / n_roll},
                 {"rollouts", rollouts.size()},
                 {"groups_kept", kept_groups.size()},
                 {"zero_std_fraction", static_cast<double>(uniform_groups) * static_cast<double>(c.group_size) / n_roll},
                 {"rollout_tokens_per_s", static_cast<double>(rollout_tokens) / std::max(1e-9, roll_s)}};
    if (!batch.empty()) {
      const auto t_train = Clock::now();
      const int64_t N = static_cast<int64_t>(batch.size());
      // Micro-batches of similar lengths (less padding, bounded memory); gradients accumulate and
      // every loss term is divided by the whole batch's normaliser, so the sum is the batch loss.
      std::vector<int64_t> order(batch.size());
      std::iota(order.begin(), order.end(), 0);
      auto len = [&](int64_t i) { return static_cast<int64_t>(batch[i]->prompt.size() + batch[i]->completion.size()); };
      std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return len(a) < len(b); });
      int64_t total_completion = 0;
      for (const Rollout* ro : batch) total_completion += static_cast<int64_t>(ro->completion.size());
      struct Micro {
        torch::Tensor tokens, positions, mask, A, ntok, old_logp, ref_logp;
      };
      std::vector<Micro> micro;
      int64_t padded_tokens = 0;
      for (size_t from = 0; from < order.size(); from += kMicroBatch) {
        const size_t to = std::min(order.size(), from + kMicroBatch);
        const int64_t n = static_cast<int64_t>(to - from);
        int64_t T = 0;
        for (size_t j = from; j < to; ++j) T = std::max(T, len(order[j]));
        Micro m;
        m.tokens = torch::full({n, T}, tok.eos_id().value_or(0), torch::kInt64);
        m.mask = torch::zeros({n, T - 1});
        std::vector<double> a;
        auto tok_acc = m.tokens.accessor<int64_t, 2>();
        auto mask_acc = m.mask.accessor<float, 2>();
        for (int64_t i = 0; i < n; ++i) {
          const Rollout& ro = *batch[order[from + i]];
          a.push_back(adv[order[from + i]]);
          int64_t t = 0;
          for (int32_t id : ro.prompt) tok_acc[i][t++] = id;
          for (int32_t id : ro.completion) {
            mask_acc[i][t - 1] = 1.0f;  // logits at t-1 predict the completion token at t
            tok_acc[i][t++] = id;
          }
        }
        m.positions = torch::arange(T, torch::kInt64).unsqueeze(0).expand({n, T}).contiguous();
        m.A = torch::tensor(a, torch::kFloat64).to(torch::kFloat32).unsqueeze(1);  // [n, 1]
        m.ntok = m.mask.sum(1).clamp_min(1.0);
        {
          torch::NoGradGuard ng;
          // With one optimizer step per rollout batch the sampling policy is the current one:
          // π_old = π_θ.detach() (ratio 1, same gradient) and its forward is not needed.
          if (c.inner_steps > 1) m.old_logp = token_logp(policy->forward(m.tokens, m.positions).logits, m.tokens);
          if (ref) m.ref_logp = token_logp(ref->forward(m.tokens, m.positions).logits, m.tokens);
        }
        padded_tokens += n * T;
        micro.push_back(std::move(m));
      }
      const double msum = static_cast<double>(std::max<int64_t>(1, total_completion));
      double kl_sum = 0, clip_sum = 0, ent_sum = 0, loss_sum = 0, grad_norm = 0, logp_sum = 0;
      for (int64_t inner = 0; inner < c.inner_steps; ++inner) {
        for (auto& p : params) p.mutable_grad().reset();  // none, not zeros (see trainer.cpp)
        for (Micro& m : micro) {
          const nn::Output out = policy->forward(m.tokens, m.positions);
          const torch::Tensor logp = token_logp(out.logits, m.tokens);
          const torch::Tensor old_logp = m.old_logp.defined() ? m.old_logp : logp.detach();
          const torch::Tensor ratio = torch::exp(logp - old_logp);
          const torch::Tensor surr = torch::min(ratio * m.A, torch::clamp(ratio, 1.0 - c.clip_low, 1.0 + c.clip_high) * m.A);
          torch::Tensor per_token = -surr;
          torch::Tensor kl;
          if (ref) {
            const torch::Tensor d = m.ref_logp - logp;
            kl = torch::exp(d) - d - 1.0;
            per_token = per_token + c.beta * kl;
          }
          torch::Tensor loss;
          if (c.variant == GrpoVariant::kGrpo) {
            loss = (per_token * m.mask).sum(1).div(m.ntok).sum() / static_cast<double>(N);
          } else if (c.variant == GrpoVariant::kDapo) {
            loss = (per_token * m.mask).sum() / msum;
          } else {
            loss = (per_token * m.mask).sum() / static_cast<double>(N * c.max_tokens);
          }
          loss.backward();
          torch::NoGradGuard ng;
          loss_sum += loss.item<double>();
          logp_sum += (logp.detach() * m.mask).sum().item<double>() / msum;
          if (kl.defined()) kl_sum += (kl * m.mask).sum().item<double>() / msum;
          const torch::Tensor clipped = ((ratio < 1.0 - c.clip_low) | (ratio > 1.0 + c.clip_high)).to(torch::kFloat32);
          clip_sum += (clipped * m.mask).sum().item<double>() / msum;
          const torch::Tensor lp = torch::log_softmax(out.logits.slice(1, 0, out.logits.size(1) - 1).to(torch::kFloat32), -1);
          ent_sum += ((-(lp.exp() * lp).sum(-1)) * m.mask).sum().item<double>() / msum;
        }
        grad_norm = torch::nn::utils::clip_grad_norm_(params, c.clip > 0 ? c.clip : 1e30);
        opt.step();
      }
      const double k = static_cast<double>(c.inner_steps);
      line["loss"] = loss_sum / k;
      line["kl"] = kl_sum / k;
      line["clip_fraction"] = clip_sum / k;
      line["entropy"] = ent_sum / k;
      line["sampled_logp"] = logp_sum / k;  // mean log-probability of the sampled tokens
      line["grad_norm"] = grad_norm;
      line["train_tokens_per_s"] = static_cast<double>(padded_tokens) * k / std::max(1e-9, since(t_train));
    }
    if (ref && c.ref_refresh > 0 && (step + 1) % c.ref_refresh == 0) {
      torch::NoGradGuard ng;
      auto src = policy->named_parameters();
      for (auto& p : ref->named_parameters()) p.value().copy_(src[p.key()]);
    }
    metrics << line.dump() << "\n";
    metrics.flush();
    for (size_t i = 0; i < rollouts.size(); ++i) {
      const Rollout& ro = rollouts[i];
      if (i != 0 && !(ro.correct && std::none_of(rollouts.begin(), rollouts.begin() + static_cast<std::ptrdiff_t>(i),
                                                 [](const Rollout& r) { return r.correct; }))) {
        continue;
      }
      samples << json{{"step", step + 1}, {"prompt", problems[ro.problem].prompt}, {"response", ro.text},
                      {"reward", ro.reward}, {"correct", ro.correct}, {"tokens", ro.completion.size()}}.dump()
              << "\n";
    }
    samples.flush();
    if ((step + 1) % c.checkpoint_every == 0 || step + 1 == c.steps) {
      write_checkpoint(run_dir, step + 1, [&](const fs::path& tmp) {
        formats::ModelArgs a = args;
        a.torch_dtype = "float32";
        save_state(*policy, a, tmp.string());
        copy_tokenizer_files(c.init, tmp);
        if (ref) {
          fs::create_directories(tmp / "reference");
          save_state(*ref, a, (tmp / "reference").string());
        }
        torch::save(opt, (tmp / "optimizer.pt").string());
        core::write_file_atomic((tmp / "trainer_state.json").string(), json{{"step", step + 1}}.dump() + "\n");
      });
    }
    if (bar) {
      char note[96];
      std::snprintf(note, sizeof note, "reward %.3f acc %.2f len %.0f", reward_sum / n_roll, correct / n_roll, length / n_roll);
      bar->set_note(note);
      bar->set(step + 1);
    }
  }
  if (bar) bar->finish();
  write_final_model(run_dir, *policy, args, c.save_dtype, c.init);
}

}  // namespace whale::train
