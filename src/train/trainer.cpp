#include "train/trainer.h"

#include <ATen/autocast_mode.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/log.h"
#include "core/mapped_file.h"
#include "core/progress.h"
#include "formats/checkpoint.h"
#include "train/data.h"
#include "train/data_parallel.h"
#include "train/moe_balance.h"
#include "train/nn/causal_lm.h"
#include "train/run_dir.h"
#include "train/run_tokenizer.h"
#include "train/torch_io.h"

namespace whale::train {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct Timers {
  double data = 0, forward = 0, backward = 0, optimizer = 0, balance = 0, eval = 0, checkpoint = 0, reduce = 0;
  json to_json(double total) const {
    json j = {{"data_s", data},       {"forward_s", forward},     {"backward_s", backward}, {"optimizer_s", optimizer},
              {"balance_s", balance}, {"eval_s", eval},           {"checkpoint_s", checkpoint}, {"total_s", total}};
    if (reduce > 0) j["reduce_s"] = reduce;  // data parallel: the all-reduces
    return j;
  }
};

struct StepResult {
  torch::Tensor loss;  // total, with graph
  double main = 0, mtp = 0, balance = 0, total = 0;  // over the global batch once reduced
  double tokens = 0;   // scored main targets (of the global batch)
  std::map<int64_t, torch::Tensor> loads;
};

// One pretraining/SFT/distillation run. run() reads like llm.c's loop: data, zero_grad, forward,
// backward, update, balance, log, evaluate, checkpoint; each step is a method below.
class Trainer {
 public:
  Trainer(const TrainConfig& c, std::string run_dir, const RunOptions& o)
      : c_(c), run_dir_(std::move(run_dir)), o_(o) {}
  ~Trainer() {
    std::error_code ec;
    if (!scratch_.empty()) fs::remove_all(scratch_, ec);
  }

  void run(const std::string& config_text);

 private:
  void setup(const std::string& config_text);
  void resume();
  double set_lr(int64_t step);
  void zero_grad();
  StepResult forward(const Batch& b, const Batch& global, int64_t step, bool with_graph);
  Batch shard(const Batch& global) const;
  void backward(const StepResult& r);
  void reduce(StepResult& r);
  double update();
  BalanceStats balance(const StepResult& r);
  void log_step(int64_t step, const Batch& b, const StepResult& r, double lr, double grad_norm,
                const BalanceStats& bal, double step_s);
  void evaluate(int64_t step);
  void save_checkpoint(int64_t step);
  void show_progress(const StepResult& r, const BalanceStats& bal);
  void write_profile();
  void write_metrics(const json& line);

  const TrainConfig& c_;
  std::string run_dir_;
  RunOptions o_;
  formats::ModelArgs args_;
  std::string tok_dir_;
  std::optional<tokenizer::Tokenizer> tok_;
  std::shared_ptr<nn::CausalLM> model_;
  std::unique_ptr<torch::optim::AdamW> opt_;
  std::map<int64_t, torch::Tensor> biases_;
  std::ofstream metrics_;
  std::optional<core::Progress> bar_;
  Timers t_;
  // Where the run stands: a resumed run continues the step, token count and clock of its checkpoint.
  Clock::time_point start_ = Clock::now(), run_start_;
  int64_t start_step_ = 0, tokens_seen_ = 0;
  double elapsed_before_ = 0;
  double run_tokens_ = 0;  // real tokens trained on by this process
  // Data parallelism (docs/distributed.md): the ranks; rank 0 alone writes the run directory.
  std::unique_ptr<DataParallel> dp_;
  bool lead_ = true;
  bool unreduced_loads_ = false;  // WHALE_DP_UNREDUCED_LOADS=1: the tests' negative control only
  fs::path scratch_;              // ranks > 0: their copy of the tokenizer
};

// bf16 autocast for the scope: matmuls in bf16 (oneDNN), reductions and the losses in float32.
class Autocast {
 public:
  explicit Autocast(bool enable) : on_(enable) {
    if (!on_) return;
    at::autocast::set_cpu_enabled(true);
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
  }
  ~Autocast() {
    if (!on_) return;
    at::autocast::set_cpu_enabled(false);
    at::autocast::clear_cache();
  }
  Autocast(const Autocast&) = delete;
  Autocast& operator=(const Autocast&) = delete;

 private:
  bool on_;
};

// Mean cross-entropy over the scored targets: logits [B, T, V], targets [B, T], mask [B, T]; with
// `count` (data parallel: the global batch's scored targets) a rank's share of the global mean.
torch::Tensor masked_cross_entropy(const torch::Tensor& logits, const torch::Tensor& targets, const torch::Tensor& mask,
                                   std::optional<double> count = std::nullopt) {
  const int64_t V = logits.size(-1);
  const torch::Tensor ce = torch::nn::functional::cross_entropy(
      logits.to(torch::kFloat32).reshape({-1, V}), targets.reshape({-1}),
      torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
  const torch::Tensor n = count ? torch::scalar_tensor(std::max(1.0, *count)) : mask.sum().clamp_min(1.0);
  return (ce * mask.reshape({-1})).sum() / n;
}

// Scored targets of `b` from column `from` on (the MTP module's targets start one later).
double scored(const Batch& b, int64_t from) {
  double n = 0;
  for (int64_t r = 0; r < b.rows; ++r) {
    for (int64_t t = from; t < b.len; ++t) n += b.mask[r * b.len + t];
  }
  return n;
}

// This rank's rows of the global batch (all of it in one process).
Batch Trainer::shard(const Batch& global) const {
  if (!dp_->distributed()) return global;
  const int64_t n = global.rows / dp_->world();
  return slice_rows(global, dp_->rank() * n, (dp_->rank() + 1) * n);
}

// `b` is this rank's shard of `global`: its losses are its share of the global batch's means.
StepResult Trainer::forward(const Batch& b, const Batch& global, int64_t step, bool with_graph) {
  const auto i64 = torch::TensorOptions().dtype(torch::kInt64);
  const torch::Tensor inputs = torch::from_blob(const_cast<int64_t*>(b.inputs.data()), {b.rows, b.len}, i64);
  const torch::Tensor targets = torch::from_blob(const_cast<int64_t*>(b.targets.data()), {b.rows, b.len}, i64);
  const torch::Tensor mask = torch::from_blob(const_cast<float*>(b.mask.data()), {b.rows, b.len});
  const torch::Tensor real =
      torch::from_blob(const_cast<uint8_t*>(b.real.data()), {b.rows, b.len}, torch::kUInt8).to(torch::kBool);
  const torch::Tensor positions = torch::arange(b.len, i64).unsqueeze(0).expand({b.rows, b.len}).contiguous();

  StepResult r;
  auto t0 = Clock::now();
  const Autocast autocast(c_.autocast_bf16);
  const nn::Output out = model_->forward(inputs, positions);
  const bool dist = dp_->distributed();
  const torch::Tensor main =
      masked_cross_entropy(out.logits, targets, mask, dist ? std::optional(scored(global, 0)) : std::nullopt);
  torch::Tensor loss = main;
  r.main = main.item<double>();
  r.tokens = dist ? scored(global, 0) : mask.sum().item<double>();

  torch::Tensor real_mtp;
  if (args_.num_nextn_predict_layers > 0) {
    // Position t of the MTP module predicts token t + 2 from the hidden state at t and token t + 1.
    const int64_t T = b.len;
    const nn::Output m = model_->mtp_forward(out.hidden.slice(1, 0, T - 1), inputs.slice(1, 1, T),
                                             positions.slice(1, 0, T - 1));
    const torch::Tensor mtp = masked_cross_entropy(m.logits, targets.slice(1, 1, T), mask.slice(1, 1, T).contiguous(),
                                                   dist ? std::optional(scored(global, 1)) : std::nullopt);
    r.mtp = mtp.item<double>();
    const double w = mtp_weight_at(c_, step);
    if (with_graph && w > 0) loss = loss + w * mtp;
    real_mtp = real.slice(1, 0, T - 1).reshape({-1});
  }
  t_.forward += seconds_since(t0);

  auto t1 = Clock::now();
  const auto routing = model_->routing();
  if (!routing.empty()) {
    r.loads = expert_loads(routing, real.reshape({-1}), real_mtp, args_.num_hidden_layers, args_.n_routed_experts);
    if (with_graph && c_.balance != Balance::kNone) {
      const double alpha = c_.balance == Balance::kAuxFree ? c_.seq_alpha : c_.aux_alpha;
      if (alpha > 0) {
        torch::Tensor bl = torch::zeros({});
        for (const auto& [layer, rt] : routing) {
          const bool is_mtp = layer >= args_.num_hidden_layers;
          const torch::Tensor& rl = is_mtp ? real_mtp : real.reshape({-1});
          const int64_t groups = c_.balance == Balance::kAuxFree ? b.rows : 1;  // per sequence, or the batch
          bl = bl + balance_loss(rt, rl, groups, args_.num_experts_per_tok);
        }
        bl = alpha * bl;
        // The sequence-wise loss is a mean over the global batch's rows: this rank's share of it.
        if (dist) bl = bl * (static_cast<double>(b.rows) / static_cast<double>(global.rows));
        r.balance = bl.item<double>();
        loss = loss + bl;
      }
    }
  }
  r.loss = loss;
  r.total = loss.item<double>();
  t_.balance += seconds_since(t1);
  return r;
}

void Trainer::write_metrics(const json& line) {
  if (!lead_) return;
  metrics_ << line.dump() << "\n";
  metrics_.flush();
}

void Trainer::evaluate(int64_t step) {
  if (c_.eval_batches == 0) return;
  auto t0 = Clock::now();
  torch::NoGradGuard no_grad;
  double main = 0, mtp = 0, tokens = 0;
  std::map<int64_t, torch::Tensor> loads;
  for (int64_t k = 0; k < c_.eval_batches; ++k) {
    const Batch g = make_batch(c_, *tok_, tasks::Split::kValidation, k);
    StepResult r = forward(shard(g), g, step, /*with_graph=*/false);
    main += r.main * r.tokens;
    mtp += r.mtp * r.tokens;
    tokens += r.tokens;
    for (auto& [layer, l] : r.loads) loads[layer] = loads.count(layer) ? loads[layer] + l : l;
  }
  if (dp_->distributed()) {
    std::vector<torch::Tensor> sums = {torch::tensor({main, mtp}, torch::kFloat64)};
    for (auto& [layer, l] : loads) sums.push_back(l);
    dp_->sum(sums, "the validation losses");
    main = sums[0][0].item<double>();
    mtp = sums[0][1].item<double>();
  }
  json line = {{"split", "validation"}, {"step", step}, {"loss", main / std::max(1.0, tokens)}};
  if (args_.num_nextn_predict_layers > 0) line["mtp_loss"] = mtp / std::max(1.0, tokens);
  if (!loads.empty()) {
    double sum = 0;
    json per_layer = json::array();
    for (const auto& [layer, l] : loads) {
      const double v = max_vio(l);
      per_layer.push_back(v);
      sum += v;
    }
    line["maxvio_global"] = sum / static_cast<double>(loads.size());
    line["maxvio_global_layers"] = per_layer;
  }
  write_metrics(line);
  t_.eval += seconds_since(t0);
}

void Trainer::save_checkpoint(int64_t step) {
  if (!lead_) return;
  auto t0 = Clock::now();
  const double elapsed = elapsed_before_ + seconds_since(start_);
  write_checkpoint(run_dir_, step, [&](const fs::path& tmp) {
    formats::ModelArgs a = args_;
    a.torch_dtype = "float32";  // exact resume
    save_state(*model_, a, tmp.string());
    copy_tokenizer_files(tok_dir_, tmp);
    torch::save(*opt_, (tmp / "optimizer.pt").string());
    core::write_file_atomic((tmp / "trainer_state.json").string(),
                            json{{"step", step}, {"elapsed_s", elapsed}, {"tokens", tokens_seen_}}.dump(1) + "\n");
  });
  t_.checkpoint += seconds_since(t0);
}

// The run directory, the model's config and tokenizer, the model (fresh or from `init`) and AdamW.
void Trainer::setup(const std::string& config_text) {
  keep_freed_memory();
  const DistEnv env = dist_env_from_environment();
  if (c_.threads > 0) {
    torch::set_num_threads(c_.threads);
  } else if (env.local_world > 1) {  // the ranks on this machine share its cores
    torch::set_num_threads(std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / env.local_world));
  }
  if (env.world > 1) {
    if (c_.batch_size % env.world != 0) {
      fail(ErrorKind::kInvalidArgument, "batch_size ", c_.batch_size, " (the global batch) is not divisible by WORLD_SIZE ",
           env.world);
    }
    if (c_.balance == Balance::kAuxLoss) {
      fail(ErrorKind::kUnsupported, "balance \"aux_loss\" is not supported with data parallelism (its batch-wise f_i "
           "needs the whole batch on one rank); use \"aux_free\" or \"none\"");
    }
  }
  const char* unreduced = std::getenv("WHALE_DP_UNREDUCED_LOADS");
  unreduced_loads_ = unreduced && std::string(unreduced) == "1";
  dp_ = std::make_unique<DataParallel>(env);
  lead_ = dp_->rank() == 0;
  if (lead_) {
    fs::create_directories(run_dir_);
    check_run_dir(run_dir_, o_.resume);
    core::write_file_atomic((fs::path(run_dir_) / "config.json").string(), config_text);
  } else {
    scratch_ = fs::temp_directory_path() / ("whale-rank" + std::to_string(dp_->rank()) + "-" + std::to_string(::getpid()));
  }

  args_ = c_.kind != RunKind::kPretrain ? formats::load_model_args(c_.init) : c_.model;
  if (args_.max_position_embeddings < c_.seq_len) {
    fail(ErrorKind::kInvalidArgument, "seq_len ", c_.seq_len, " exceeds the model's max_position_embeddings ",
         args_.max_position_embeddings);
  }
  tok_dir_ = prepare_tokenizer(c_, args_, lead_ ? run_dir_ : scratch_.string());
  tok_.emplace(tokenizer::Tokenizer::from_dir(tok_dir_));
  if (static_cast<int64_t>(tok_->vocab_size()) > args_.vocab_size) {
    fail(ErrorKind::kInvalidArgument, "the tokenizer has ", tok_->vocab_size(), " tokens, the model only ", args_.vocab_size);
  }

  torch::manual_seed(c_.seed);
  model_ = nn::make_causal_lm(args_);
  if (c_.kind != RunKind::kPretrain) {
    load_state(*model_, formats::CheckpointReader::open(c_.init), torch::kFloat32);
  }
  biases_ = gate_biases(*model_);

  // Decay matrices only (not norms, biases or the balancing bias).
  std::vector<torch::Tensor> decay, no_decay;
  for (auto& p : model_->named_parameters()) {
    if (!p.value().requires_grad()) continue;
    (p.value().dim() >= 2 ? decay : no_decay).push_back(p.value());
  }
  auto opts = torch::optim::AdamWOptions(c_.lr).betas({c_.beta1, c_.beta2}).eps(c_.eps).weight_decay(c_.weight_decay);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(opts));
  auto nd = opts;
  nd.weight_decay(0.0);
  groups.emplace_back(no_decay, std::make_unique<torch::optim::AdamWOptions>(nd));
  opt_ = std::make_unique<torch::optim::AdamW>(std::move(groups), opts);
}

// The latest checkpoint's model, optimizer state, step, token count and clock.
void Trainer::resume() {
  const fs::path dir = latest_checkpoint(run_dir_);
  load_state(*model_, formats::CheckpointReader::open(dir.string()), torch::kFloat32);
  torch::load(*opt_, (dir / "optimizer.pt").string());
  const json st = json::parse(core::read_file((dir / "trainer_state.json").string()));
  start_step_ = st.at("step").get<int64_t>();
  tokens_seen_ = st.at("tokens").get<int64_t>();
  elapsed_before_ = st.at("elapsed_s").get<double>();
  if (!lead_) return;
  trim_metrics(fs::path(run_dir_) / "metrics.jsonl", start_step_);  // drop what came after the checkpoint
  core::log_info("resuming ", run_dir_, " at step ", start_step_);
}

double Trainer::set_lr(int64_t step) {
  const double lr = lr_at(c_, step);
  for (auto& g : opt_->param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
  return lr;
}

// Gradients to None (PyTorch's default since 2.0), not zeros: an expert no token reached then has
// no gradient and AdamW leaves it alone, the same in a resumed process as in a running one.
void Trainer::zero_grad() {
  for (auto& g : opt_->param_groups()) {
    for (auto& p : g.params()) p.mutable_grad().reset();
  }
}

void Trainer::backward(const StepResult& r) {
  auto t0 = Clock::now();
  r.loss.backward();
  t_.backward += seconds_since(t0);
}

// Data parallel: the gradients summed over the ranks (each rank's loss is its share of the global
// mean, so the sum is the one-process gradient), the losses, and the global expert loads that the
// bias rule and MaxVio need.
void Trainer::reduce(StepResult& r) {
  if (!dp_->distributed()) return;
  auto t0 = Clock::now();
  std::vector<torch::Tensor> params;
  for (auto& g : opt_->param_groups()) params.insert(params.end(), g.params().begin(), g.params().end());
  dp_->sum_gradients(params);
  std::vector<torch::Tensor> sums = {torch::tensor({r.main, r.mtp, r.balance, r.total}, torch::kFloat64)};
  if (!unreduced_loads_) {
    for (auto& [layer, l] : r.loads) sums.push_back(l);
  }
  dp_->sum(sums, "the losses and expert loads");
  r.main = sums[0][0].item<double>();
  r.mtp = sums[0][1].item<double>();
  r.balance = sums[0][2].item<double>();
  r.total = sums[0][3].item<double>();
  t_.reduce += seconds_since(t0);
}

// Global-norm clipping and the AdamW step; returns the norm before clipping.
double Trainer::update() {
  auto t0 = Clock::now();
  std::vector<torch::Tensor> params;
  for (auto& g : opt_->param_groups()) params.insert(params.end(), g.params().begin(), g.params().end());
  const double grad_norm = c_.clip > 0 ? torch::nn::utils::clip_grad_norm_(params, c_.clip)
                                       : torch::nn::utils::clip_grad_norm_(params, 1e30);
  opt_->step();
  t_.optimizer += seconds_since(t0);
  return grad_norm;
}

// Auxiliary-loss-free balancing: b_i += γ·sign(mean load − load_i) over the whole batch.
BalanceStats Trainer::balance(const StepResult& r) {
  auto t0 = Clock::now();
  const double gamma = c_.balance == Balance::kAuxFree ? c_.gamma : 0.0;
  BalanceStats s = update_biases(r.loads, biases_, gamma);
  t_.balance += seconds_since(t0);
  return s;
}

void Trainer::log_step(int64_t step, const Batch& b, const StepResult& r, double lr, double grad_norm,
                       const BalanceStats& bal, double step_s) {
  const int64_t real_tokens = std::count(b.real.begin(), b.real.end(), uint8_t{1});
  tokens_seen_ += real_tokens;
  run_tokens_ += static_cast<double>(real_tokens);
  json line = {{"split", "train"},
               {"step", step + 1},
               {"loss", r.total},
               {"main_loss", r.main},
               {"lr", lr},
               {"grad_norm", grad_norm},
               {"tokens", tokens_seen_},
               {"tokens_per_s", static_cast<double>(real_tokens) / std::max(1e-9, step_s)},
               {"examples", b.examples},
               {"elapsed_s", elapsed_before_ + seconds_since(start_)}};
  if (args_.num_nextn_predict_layers > 0) {
    line["mtp_loss"] = r.mtp;
    line["mtp_weight"] = mtp_weight_at(c_, step);
  }
  if (!r.loads.empty()) {
    line["maxvio_batch"] = bal.maxvio_sum / static_cast<double>(r.loads.size());
    line["maxvio_layers"] = bal.maxvio;
    line["balance_loss"] = r.balance;
  }
  if (!biases_.empty()) {
    line["bias_min"] = bal.bias_min;
    line["bias_max"] = bal.bias_max;
  }
  if (b.truncated) line["truncated"] = b.truncated;
  if (!std::isfinite(r.main)) fail(ErrorKind::kInternal, "loss is not finite at step ", step + 1, "; lower the learning rate");
  write_metrics(line);
}

void Trainer::show_progress(const StepResult& r, const BalanceStats& bal) {
  char note[160];
  std::snprintf(note, sizeof note, "loss %.3f%s  %.0f tok/s", r.main,
                r.loads.empty() ? "" : (" maxvio " + std::to_string(bal.maxvio_sum / r.loads.size()).substr(0, 5)).c_str(),
                run_tokens_ / std::max(1e-9, seconds_since(run_start_)));
  if (bar_) bar_->set_note(note);
}

// profile.json: where this process's time went.
void Trainer::write_profile() {
  if (!lead_) return;
  const double total = seconds_since(start_);
  json prof = t_.to_json(total);
  prof["steps"] = c_.steps - start_step_;
  prof["tokens"] = run_tokens_;
  prof["tokens_per_s"] = run_tokens_ / std::max(1e-9, seconds_since(run_start_));
  prof["threads"] = torch::get_num_threads();
  core::write_file_atomic((fs::path(run_dir_) / "profile.json").string(), prof.dump(1) + "\n");
}

void Trainer::run(const std::string& config_text) {
  start_ = Clock::now();
  setup(config_text);
  if (o_.resume) resume();
  // Every rank starts from rank 0's weights (and balancing biases).
  std::vector<torch::Tensor> state = model_->parameters();
  for (const auto& b : model_->buffers()) state.push_back(b);
  dp_->broadcast(state, "the weights' broadcast");
  const fs::path metrics_path = fs::path(run_dir_) / "metrics.jsonl";
  if (lead_) {
    metrics_.open(metrics_path, std::ios::app);
    if (!metrics_) fail(ErrorKind::kIo, "cannot write ", metrics_path.string());
  }

  model_->train();
  if (o_.progress && lead_) {
    bar_.emplace(c_.kind == RunKind::kPretrain ? "pretrain" : c_.kind == RunKind::kSft ? "sft" : "distill", c_.steps,
                 core::ProgressOptions{.unit = "steps"});
    bar_->start_at(start_step_);
  }
  if (start_step_ == 0) evaluate(0);
  run_start_ = Clock::now();
  for (int64_t step = start_step_; step < c_.steps; ++step) {
    const auto step_start = Clock::now();
    auto t0 = Clock::now();
    const Batch b = make_batch(c_, *tok_, tasks::Split::kTrain, step, o_.examples);  // the global batch
    t_.data += seconds_since(t0);
    const double lr = set_lr(step);
    zero_grad();
    const Batch mine = shard(b);  // outlives backward: the graph holds views of its buffers
    StepResult r = forward(mine, b, step, /*with_graph=*/true);
    backward(r);
    reduce(r);
    const double grad_norm = update();
    const BalanceStats bal = balance(r);
    log_step(step, b, r, lr, grad_norm, bal, seconds_since(step_start));

    const int64_t done = step + 1;
    if (done % c_.eval_every == 0 || done == c_.steps) evaluate(done);
    if (done % c_.checkpoint_every == 0 || done == c_.steps) save_checkpoint(done);
    if (done % c_.log_every == 0 || done == c_.steps) show_progress(r, bal);
    if (bar_) bar_->set(done);
  }
  if (bar_) bar_->finish();

  dp_->barrier("the last step");
  if (!lead_) return;
  write_final_model(run_dir_, *model_, args_, c_.save_dtype, tok_dir_);  // in the dtype it ships in
  write_profile();
  core::log_info("wrote ", run_dir_, "/model", " (", run_tokens_ / std::max(1e-9, seconds_since(run_start_)), " tokens/s)");
}

}  // namespace

void train(const TrainConfig& config, const std::string& config_text, const std::string& run_dir,
           const RunOptions& options) {
  Trainer(config, run_dir, options).run(config_text);
}

}  // namespace whale::train
