#include "train/grpo.h"

#include <algorithm>
#include <chrono>
#include <thread>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/mapped_file.h"
#include "core/progress.h"
#include "formats/checkpoint.h"
#include "model/memory_weights.h"
#include "tokenizer/tokenizer.h"
#include "train/config_json.h"
#include "train/data_parallel.h"
#include "train/grpo_loss.h"
#include "train/grpo_rollout.h"
#include "train/nn/causal_lm.h"
#include "train/run_dir.h"
#include "train/torch_io.h"

namespace whale::train {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

using Clock = std::chrono::steady_clock;
// Sequences per forward/backward in the policy update.
constexpr size_t kMicroBatch = 16;

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The policy's parameters as engine weights, in memory (no file written).
model::Weights export_weights(const nn::CausalLM& m, const formats::ModelArgs& args) {
  std::map<std::string, core::Tensor> tensors;
  for (const auto& p : m.named_parameters()) tensors.emplace(p.key(), from_torch(p.value().detach().to(torch::kFloat32).contiguous()));
  for (const auto& b : m.named_buffers()) tensors.emplace(b.key(), from_torch(b.value().detach().to(torch::kFloat32).contiguous()));
  return model::weights_from_tensors(args, std::move(tensors));
}

// The policy being trained, the frozen reference of the KL term (only when beta > 0) and AdamW.
struct Policy {
  std::shared_ptr<nn::CausalLM> model, ref;
  std::vector<torch::Tensor> params;
  std::unique_ptr<torch::optim::AdamW> opt;
};

Policy make_policy(const GrpoConfig& c, const formats::ModelArgs& args) {
  Policy p;
  p.model = nn::make_causal_lm(args);
  load_state(*p.model, formats::CheckpointReader::open(c.init), torch::kFloat32);
  if (c.beta > 0) {
    p.ref = nn::make_causal_lm(args);
    load_state(*p.ref, formats::CheckpointReader::open(c.init), torch::kFloat32);
    p.ref->eval();
  }
  for (auto& t : p.model->parameters()) {
    if (t.requires_grad()) p.params.push_back(t);
  }
  p.opt = std::make_unique<torch::optim::AdamW>(
      p.params, torch::optim::AdamWOptions(c.lr).betas({0.9, 0.99}).weight_decay(c.weight_decay));
  return p;
}

// Loads the latest checkpoint of `run_dir` into `p`; returns its step.
int64_t resume_policy(Policy& p, const std::string& run_dir) {
  const std::string dir = latest_checkpoint(run_dir);
  load_state(*p.model, formats::CheckpointReader::open(dir), torch::kFloat32);
  if (p.ref) load_state(*p.ref, formats::CheckpointReader::open(dir + "/reference"), torch::kFloat32);
  torch::load(*p.opt, dir + "/optimizer.pt");
  return json::parse(core::read_file(dir + "/trainer_state.json")).at("step").get<int64_t>();
}

// Metrics over every rollout of the step (before DAPO drops uniform groups).
json rollout_metrics(const StepRollouts& s, const GrpoConfig& c, int64_t done, double seconds) {
  double reward = 0, correct = 0, format = 0, length = 0;
  for (const Rollout& ro : s.rollouts) {
    reward += ro.reward;
    correct += ro.correct;
    format += ro.format_ok;
    length += static_cast<double>(ro.completion.size());
  }
  const double n = static_cast<double>(s.rollouts.size());
  return {{"step", done},
          {"reward", reward / n},
          {"accuracy", correct / n},
          {"format", format / n},
          {"response_length", length / n},
          {"rollouts", s.rollouts.size()},
          {"groups_kept", s.groups.kept.size()},
          {"zero_std_fraction", static_cast<double>(s.groups.uniform) * static_cast<double>(c.group_size) / n},
          {"rollout_tokens_per_s", length / std::max(1e-9, seconds)}};
}

// The update batch: every kept group's rollouts with their group-relative advantages.
std::vector<UpdateRow> advantages(const StepRollouts& s, const GrpoConfig& c) {
  std::vector<UpdateRow> rows;
  const size_t G = static_cast<size_t>(c.group_size);
  for (size_t g : s.groups.kept) {
    std::vector<double> r;
    for (size_t k = 0; k < G; ++k) r.push_back(s.rollouts[g * G + k].reward);
    const std::vector<double> a = group_advantages(r, c.variant);
    const bool uniform = std::all_of(r.begin(), r.end(), [&](double x) { return x == r.front(); });
    for (size_t k = 0; k < G; ++k) {
      const Rollout& ro = s.rollouts[g * G + k];
      rows.push_back({.prompt = &ro.prompt, .completion = &ro.completion, .advantage = a[k], .uniform_group = uniform});
    }
  }
  return rows;
}

// log π_old (only needed when several optimizer steps reuse one rollout batch: with one, π_old is
// π_θ.detach(), ratio 1 with the same gradient) and log π_ref of every micro-batch.
void behaviour_logps(std::vector<MicroBatch>& micro, Policy& p, int64_t inner_steps) {
  torch::NoGradGuard no_grad;
  for (MicroBatch& m : micro) {
    if (inner_steps > 1) m.old_logp = token_logp(p.model->forward(m.tokens, m.positions).logits, m.tokens);
    if (p.ref) m.ref_logp = token_logp(p.ref->forward(m.tokens, m.positions).logits, m.tokens);
  }
}

struct UpdateResult {
  LossStats stats;  // summed over inner steps
  double grad_norm = 0;  // of the last inner step, before clipping
  int64_t padded_tokens = 0;
  int64_t backward_rows = 0;  // rows that went through forward + backward (uniform groups skipped)
  double seconds = 0;
};

// The policy update: inner_steps × (zero_grad, forward + loss + backward per micro-batch, clip,
// AdamW). Gradients accumulate over micro-batches; each divides by the whole batch's normaliser.
// Data parallel: rank r trains the rows k with k % world == r, the gradients and statistics are
// summed over the ranks (the normalisers are the whole batch's, so the sum is the 1-rank gradient).
UpdateResult update(Policy& p, const GrpoConfig& c, const tokenizer::Tokenizer& tok, const std::vector<UpdateRow>& rows,
                    DataParallel& dp) {
  const auto t0 = Clock::now();
  UpdateResult u;
  std::vector<UpdateRow> trained = backward_rows(rows, c.skip_uniform_groups);
  u.backward_rows = static_cast<int64_t>(trained.size());
  if (dp.distributed()) {
    std::vector<UpdateRow> mine;
    for (size_t k = static_cast<size_t>(dp.rank()); k < trained.size(); k += static_cast<size_t>(dp.world())) {
      mine.push_back(trained[k]);
    }
    trained = std::move(mine);
  }
  std::vector<MicroBatch> micro = pack_micro_batches(trained, tok.eos_id().value_or(0), kMicroBatch);
  behaviour_logps(micro, p, c.inner_steps);
  int64_t completion_tokens = 0;  // normalisers over every row (see backward_rows)
  for (const UpdateRow& r : rows) completion_tokens += static_cast<int64_t>(r.completion->size());
  for (const MicroBatch& m : micro) u.padded_tokens += m.tokens.numel();
  const LossSpec spec{.variant = c.variant,
                      .clip_low = c.clip_low,
                      .clip_high = c.clip_high,
                      .beta = c.beta,
                      .rows = static_cast<int64_t>(rows.size()),
                      .tokens = static_cast<double>(std::max<int64_t>(1, completion_tokens)),
                      .max_tokens = c.max_tokens};
  for (int64_t inner = 0; inner < c.inner_steps; ++inner) {
    for (auto& t : p.params) t.mutable_grad().reset();  // none, not zeros (see trainer.cpp)
    for (const MicroBatch& m : micro) {
      const nn::Output out = p.model->forward(m.tokens, m.positions);
      const torch::Tensor logp = token_logp(out.logits, m.tokens);
      const PolicyLoss l = policy_loss(m, logp, spec);
      l.loss.backward();
      add_loss_stats(u.stats, m, out.logits, logp, l, spec);
    }
    dp.sum_gradients(p.params);
    u.grad_norm = torch::nn::utils::clip_grad_norm_(p.params, c.clip > 0 ? c.clip : 1e30);
    p.opt->step();
  }
  if (dp.distributed()) {
    std::vector<torch::Tensor> sums = {torch::tensor({u.stats.loss, u.stats.kl, u.stats.clip_fraction, u.stats.entropy,
                                                      u.stats.sampled_logp, static_cast<double>(u.padded_tokens)},
                                                     torch::kFloat64)};
    dp.sum(sums, "the update's statistics");
    const auto* v = sums[0].data_ptr<double>();
    u.stats = {.loss = v[0], .kl = v[1], .clip_fraction = v[2], .entropy = v[3], .sampled_logp = v[4]};
    u.padded_tokens = static_cast<int64_t>(v[5]);
  }
  u.seconds = since(t0);
  return u;
}

void log_update(json& line, const UpdateResult& u, int64_t inner_steps) {
  const double k = static_cast<double>(inner_steps);
  line["loss"] = u.stats.loss / k;
  line["kl"] = u.stats.kl / k;
  line["clip_fraction"] = u.stats.clip_fraction / k;
  line["entropy"] = u.stats.entropy / k;
  line["sampled_logp"] = u.stats.sampled_logp / k;  // mean log-probability of the sampled tokens
  line["grad_norm"] = u.grad_norm;
  line["backward_rows"] = u.backward_rows;
  line["train_tokens_per_s"] = static_cast<double>(u.padded_tokens) * k / std::max(1e-9, u.seconds);
}

void refresh_reference(Policy& p) {
  torch::NoGradGuard no_grad;
  auto src = p.model->named_parameters();
  for (auto& t : p.ref->named_parameters()) t.value().copy_(src[t.key()]);
}

// Two rollouts of every step (the first, and the first correct one) for reading how the responses
// change over training.
void log_samples(std::ofstream& out, const StepRollouts& s, int64_t done) {
  for (size_t i : sample_indices(s.rollouts)) {
    const Rollout& ro = s.rollouts[i];
    out << json{{"step", done}, {"prompt", s.problems[ro.problem].prompt}, {"response", ro.text},
                {"reward", ro.reward}, {"correct", ro.correct}, {"tokens", ro.completion.size()}}.dump()
        << "\n";
  }
  out.flush();
}

void save_checkpoint(const Policy& p, const GrpoConfig& c, const formats::ModelArgs& args, const std::string& run_dir,
                     int64_t done) {
  write_checkpoint(run_dir, done, [&](const fs::path& tmp) {
    formats::ModelArgs a = args;
    a.torch_dtype = "float32";  // exact resume
    save_state(*p.model, a, tmp.string());
    copy_tokenizer_files(c.init, tmp);
    if (p.ref) {
      fs::create_directories(tmp / "reference");
      save_state(*p.ref, a, (tmp / "reference").string());
    }
    torch::save(*p.opt, (tmp / "optimizer.pt").string());
    core::write_file_atomic((tmp / "trainer_state.json").string(), json{{"step", done}}.dump() + "\n");
  });
}

void show_progress(core::Progress& bar, const json& line, int64_t done) {
  char note[96];
  std::snprintf(note, sizeof note, "reward %.3f acc %.2f len %.0f", line["reward"].get<double>(),
                line["accuracy"].get<double>(), line["response_length"].get<double>());
  bar.set_note(note);
  bar.set(done);
}

}  // namespace

void train_grpo(const GrpoConfig& config, const std::string& config_text, const std::string& run_dir, bool resume,
                bool progress) {
  keep_freed_memory();
  // Data parallel (docs/distributed.md): rollouts and update rows split over the ranks; rank 0 writes.
  const DistEnv env = dist_env_from_environment();
  GrpoConfig c = config;
  if (c.threads == 0 && env.local_world > 1) {  // the ranks on this machine share its cores
    c.threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / env.local_world);
  }
  if (c.threads > 0) torch::set_num_threads(c.threads);
  DataParallel dp(env);
  const bool lead = dp.rank() == 0;
  const fs::path metrics_path = fs::path(run_dir) / "metrics.jsonl";
  const fs::path samples_path = fs::path(run_dir) / "samples.jsonl";
  if (lead) {
    fs::create_directories(run_dir);
    check_run_dir(run_dir, resume);
    core::write_file_atomic((fs::path(run_dir) / "config.json").string(), config_text);
  }
  const formats::ModelArgs args = formats::load_model_args(c.init);
  const tokenizer::Tokenizer tok = tokenizer::Tokenizer::from_dir(c.init);

  Policy p = make_policy(c, args);
  int64_t start_step = 0;
  if (resume) {
    start_step = resume_policy(p, run_dir);
    if (lead) {
      trim_metrics(metrics_path, start_step);
      trim_metrics(samples_path, start_step);
    }
  }
  std::vector<torch::Tensor> state = p.model->parameters();  // every rank starts from rank 0's weights
  dp.broadcast(state, "the weights' broadcast");
  std::ofstream metrics, samples;
  if (lead) {
    metrics.open(metrics_path, std::ios::app);
    samples.open(samples_path, std::ios::app);
  }
  std::optional<core::Progress> bar;
  if (progress && lead) bar.emplace("grpo", c.steps, core::ProgressOptions{.unit = "steps"});
  if (bar) bar->start_at(start_step);

  for (int64_t step = start_step; step < c.steps; ++step) {
    const int64_t done = step + 1;
    const auto t_roll = Clock::now();
    const StepRollouts r = collect_rollouts(c, tok, export_weights(*p.model, args), step, &dp);  // rollout, score
    json line = rollout_metrics(r, c, done, since(t_roll));
    const std::vector<UpdateRow> rows = advantages(r, c);
    // Loss, backward, AdamW; a step whose groups are all uniform has no policy gradient to take.
    if (!backward_rows(rows, c.skip_uniform_groups).empty()) log_update(line, update(p, c, tok, rows, dp), c.inner_steps);
    if (p.ref && c.ref_refresh > 0 && done % c.ref_refresh == 0) refresh_reference(p);
    if (!lead) continue;
    metrics << line.dump() << "\n";
    metrics.flush();
    log_samples(samples, r, done);
    if (done % c.checkpoint_every == 0 || done == c.steps) save_checkpoint(p, c, args, run_dir, done);
    if (bar) show_progress(*bar, line, done);
  }
  if (bar) bar->finish();
  dp.barrier("the last step");
  if (lead) write_final_model(run_dir, *p.model, args, c.save_dtype, c.init);
}

}  // namespace whale::train
