#include "train/grpo_rollout.h"

#include <algorithm>
#include <span>

#include "engine/chat_session.h"
#include "engine/engine.h"
#include "train/data_parallel.h"
#include "train/tasks/response.h"
#include "train/tasks/rng.h"

namespace whale::train {

namespace {

// The step's stream of training problems: fresh ones, or the k-th of a fixed set of dataset_size.
struct ProblemStream {
  const GrpoConfig& c;
  uint64_t state;

  ProblemStream(const GrpoConfig& config, int64_t step)
      : c(config), state(tasks::mix64(config.seed * 0x9e3779b97f4a7c15ull + static_cast<uint64_t>(step))) {}

  void draw(int64_t n, std::vector<tasks::Problem>& out) {
    for (int64_t i = 0; i < n; ++i) {
      state = tasks::mix64(state + 1);
      uint64_t bits = state;
      if (c.dataset_size > 0) {
        bits = tasks::mix64(c.seed * 0x2545f4914f6cdd1dull + state % static_cast<uint64_t>(c.dataset_size));
      }
      out.push_back(draw_problem(c.tasks, tasks::Split::kTrain, bits, tasks::mix64(bits ^ 0x5bd1e995)));
    }
  }
};

// The engine request for rollout `index` of the step; fills the rollout's prompt and `opened`.
engine::Request rollout_request(const GrpoConfig& c, const tokenizer::Tokenizer& tok, const tasks::Problem& p,
                                int64_t step, size_t index, Rollout& ro) {
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
  r.sampling.seed = tasks::mix64(c.seed ^ (static_cast<uint64_t>(step) << 20) ^ index);
  r.max_tokens = c.max_tokens;
  return r;
}

// G rollouts of each problem from `first_problem` on, sampled together on one engine.
void generate(const GrpoConfig& c, const tokenizer::Tokenizer& tok, const model::Weights& weights, int64_t step,
              size_t first_problem, StepRollouts& s, DataParallel* dp) {
  const size_t world = dp ? static_cast<size_t>(dp->world()) : 1, rank = dp ? static_cast<size_t>(dp->rank()) : 0;
  const int64_t n_new = static_cast<int64_t>(s.problems.size() - first_problem) * c.group_size;
  engine::Engine eng(weights, nullptr,
                     {.max_seqs = static_cast<int32_t>(std::min<int64_t>(64, n_new)),
                      .max_batch_tokens = 1024,
                      .max_context = std::min<int64_t>(weights.args.max_position_embeddings, 4096),
                      .threads = c.threads,
                      // f32 rows: rollouts keep the bits of the committed runs (bf16 KV would change
                      // every sampled trajectory), and the sampler stays nearer the trainer's f32 policy.
                      .kv_type = core::DType::kF32});
  const size_t base = s.rollouts.size();
  for (size_t pi = first_problem; pi < s.problems.size(); ++pi) {
    for (int64_t g = 0; g < c.group_size; ++g) s.rollouts.push_back({.problem = pi});
  }
  for (size_t i = base; i < s.rollouts.size(); ++i) {
    Rollout& ro = s.rollouts[i];
    engine::Request r = rollout_request(c, tok, s.problems[ro.problem], step, i, ro);
    if (i % world != rank) continue;  // another rank samples it
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
  if (world == 1) return;
  // The exchange: (index, truncated, length, tokens...) of every rollout this rank sampled.
  std::vector<int64_t> mine;
  for (size_t i = base; i < s.rollouts.size(); ++i) {
    if (i % world != rank) continue;
    const Rollout& ro = s.rollouts[i];
    mine.insert(mine.end(), {static_cast<int64_t>(i), ro.truncated ? 1 : 0, static_cast<int64_t>(ro.completion.size())});
    mine.insert(mine.end(), ro.completion.begin(), ro.completion.end());
  }
  const std::vector<int64_t> all = dp->all_gather(mine, "the rollouts' exchange");
  for (size_t at = 0; at + 3 <= all.size();) {
    Rollout& ro = s.rollouts.at(static_cast<size_t>(all[at]));
    ro.truncated = all[at + 1] != 0;
    const auto n = static_cast<size_t>(all[at + 2]);
    ro.completion.assign(all.begin() + static_cast<std::ptrdiff_t>(at + 3), all.begin() + static_cast<std::ptrdiff_t>(at + 3 + n));
    at += 3 + n;
  }
}

// Rewards from the task verifiers (plus DAPO's overlong penalty) for rollouts from `from` on.
void score(const GrpoConfig& c, const tokenizer::Tokenizer& tok, size_t from, StepRollouts& s) {
  for (size_t i = from; i < s.rollouts.size(); ++i) {
    Rollout& ro = s.rollouts[i];
    std::vector<int32_t> body = ro.completion;
    if (!ro.truncated && !body.empty()) body.pop_back();  // EOS
    ro.text = (ro.opened ? "<think>\n" : "") + tok.decode(body);
    const tasks::Verdict v = tasks::verify(s.problems[ro.problem], ro.text);
    ro.correct = v.correct;
    ro.format_ok = v.format_ok;
    ro.reward = tasks::reward(v, c.rewards);
    const double overlong =
        overlong_reward(static_cast<int64_t>(ro.completion.size()), c.max_tokens, c.overlong_buffer, c.overlong_penalty);
    if (overlong != 0.0) ro.reward += overlong;
  }
}

}  // namespace

std::vector<double> rollout_rewards(const std::vector<Rollout>& rollouts) {
  std::vector<double> r;
  r.reserve(rollouts.size());
  for (const Rollout& ro : rollouts) r.push_back(ro.reward);
  return r;
}

StepRollouts collect_rollouts(const GrpoConfig& c, const tokenizer::Tokenizer& tok, const model::Weights& weights,
                              int64_t step, DataParallel* dp) {
  StepRollouts s;
  ProblemStream stream(c, step);
  stream.draw(c.prompts_per_step, s.problems);
  generate(c, tok, weights, step, 0, s, dp);
  score(c, tok, 0, s);
  s.groups = select_groups(rollout_rewards(s.rollouts), c.group_size, c.variant);
  for (int round = 0; c.variant == GrpoVariant::kDapo && round < 3 &&
                      static_cast<int64_t>(s.groups.kept.size()) < c.prompts_per_step;
       ++round) {
    const size_t first = s.problems.size(), from = s.rollouts.size();
    stream.draw(c.prompts_per_step - static_cast<int64_t>(s.groups.kept.size()), s.problems);
    generate(c, tok, weights, step, first, s, dp);
    score(c, tok, from, s);
    s.groups = select_groups(rollout_rewards(s.rollouts), c.group_size, c.variant);
  }
  return s;
}

std::vector<size_t> sample_indices(const std::vector<Rollout>& rollouts) {
  std::vector<size_t> out;
  if (rollouts.empty()) return out;
  out.push_back(0);
  const auto first_correct = std::find_if(rollouts.begin(), rollouts.end(), [](const Rollout& r) { return r.correct; });
  if (first_correct != rollouts.begin() && first_correct != rollouts.end()) {
    out.push_back(static_cast<size_t>(first_correct - rollouts.begin()));
  }
  return out;
}

}  // namespace whale::train
