#include "train/trainer.h"

#include <ATen/autocast_mode.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/log.h"
#include "core/mapped_file.h"
#include "core/progress.h"
#include "formats/checkpoint.h"
#include "formats/generation_config.h"
#include "formats/gguf_model_args.h"
#include "formats/tiny_tokenizer.h"
#include "formats/tokenizer_files.h"
#include "train/data.h"
#include "train/nn/causal_lm.h"
#include "train/nn/deepseek.h"
#include "train/run_dir.h"
#include "train/torch_io.h"

namespace whale::train {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

const char* kTokenizerFiles[] = {"tokenizer.json", "tokenizer_config.json", "generation_config.json"};

// The tokenizer files of the run: copied from the config's tokenizer directory, the SFT init
// checkpoint, or written for the tiny trained vocabulary.
std::string prepare_tokenizer(const TrainConfig& c, const formats::ModelArgs& a, const std::string& run_dir) {
  const fs::path dir = fs::path(run_dir) / "tokenizer";
  fs::create_directories(dir);
  const std::string from = !c.tokenizer.empty() ? c.tokenizer : c.kind != RunKind::kPretrain ? c.init : "";
  if (!from.empty()) {
    for (const char* f : kTokenizerFiles) {
      const fs::path src = fs::path(from) / f;
      if (fs::exists(src)) {
        core::write_file_atomic((dir / f).string(), core::read_file(src.string()));
      } else if (std::string(f) != "generation_config.json") {
        fail(ErrorKind::kNotFound, "tokenizer file ", src.string(), " not found");
      }
    }
    // Sampling defaults travel with the model: R1's advice when the source has none.
    if (!fs::exists(dir / "generation_config.json") && a.bos_token_id >= 0) {
      core::write_file_atomic((dir / "generation_config.json").string(),
                              formats::generation_config_json(a.bos_token_id, a.eos_token_ids));
    }
    return dir.string();
  }
  if (a.bos_token_id < 0 || a.eos_token_ids.empty()) {
    fail(ErrorKind::kInvalidArgument, "the model config needs bos_token_id and eos_token_id for the tiny tokenizer");
  }
  const auto specials = formats::deepseek_special_tokens(a.bos_token_id, a.eos_token_ids[0]);
  if (!formats::tiny_tokenizer_fits(specials, a.vocab_size)) {
    fail(ErrorKind::kInvalidArgument, "vocab_size ", a.vocab_size, " is too small for the tiny tokenizer (",
         formats::tiny_tokenizer_merge_count(), " merges + 256 bytes + specials)");
  }
  core::write_file_atomic((dir / "tokenizer.json").string(),
                          formats::tiny_tokenizer_json(specials, a.vocab_size, formats::gguf_tokenizer_pre(a.family)));
  core::write_file_atomic((dir / "tokenizer_config.json").string(),
                          formats::deepseek_tokenizer_config_json(specials, a.bos_token_id, a.eos_token_ids[0],
                                                                  a.max_position_embeddings));
  core::write_file_atomic((dir / "generation_config.json").string(),
                          formats::generation_config_json(a.bos_token_id, a.eos_token_ids));
  return dir.string();
}

// The balancing bias of every MoE layer with noaux_tc routing, by layer index.
std::map<int64_t, torch::Tensor> gate_biases(nn::CausalLM& model) {
  std::map<int64_t, torch::Tensor> out;
  auto* ds = dynamic_cast<nn::DeepseekForCausalLM*>(&model);
  if (!ds) return out;
  const int64_t L = ds->model->layers.size();
  for (int64_t i = 0; i < L; ++i) {
    const auto& m = ds->model->layers[i]->moe;
    if (m && m->gate->e_score_correction_bias.defined()) out[i] = m->gate->e_score_correction_bias;
  }
  for (size_t k = 0; k < ds->model->mtp.size(); ++k) {
    const auto& m = ds->model->mtp[k]->moe;
    if (m && m->gate->e_score_correction_bias.defined()) out[L + k] = m->gate->e_score_correction_bias;
  }
  return out;
}

// Expert loads per MoE layer over the real tokens of the latest forward (main stack and MTP).
std::map<int64_t, torch::Tensor> expert_loads(const std::map<int64_t, nn::Routing>& routing, const torch::Tensor& real_main,
                                              const torch::Tensor& real_mtp, int64_t main_layers, int64_t E) {
  std::map<int64_t, torch::Tensor> out;
  for (const auto& [layer, r] : routing) {
    const torch::Tensor& real = layer < main_layers ? real_main : real_mtp;  // [N] bool
    const torch::Tensor ids = r.ids.index({real}).flatten();
    out[layer] = torch::bincount(ids, {}, E).to(torch::kFloat64);
  }
  return out;
}

double max_vio(const torch::Tensor& load) {
  const double mean = load.mean().item<double>();
  if (mean <= 0) return 0.0;
  return (load.max().item<double>() - mean) / mean;
}

// Σ_i f_i P_i for one layer, averaged over `groups` equal runs of the N tokens, each a balancing
// unit (a sequence for the sequence-wise loss, the whole batch for the classic loss):
// f_i = E/(K·T) · #real tokens routed to i, P_i = mean over real tokens of s_i / Σ_j s_j.
torch::Tensor balance_loss(const nn::Routing& r, const torch::Tensor& real, int64_t groups, int64_t top_k) {
  const int64_t N = r.scores.size(0), E = r.scores.size(1);
  const torch::Tensor s = r.scores / (r.scores.sum(-1, true) + 1e-20);  // [N, E]
  const torch::Tensor realf = real.to(torch::kFloat32).view({groups, N / groups, 1});
  const torch::Tensor hits = torch::zeros({N, E}).scatter_add(1, r.ids, torch::ones(r.ids.sizes())).view({groups, N / groups, E});
  const torch::Tensor count = realf.sum(1).clamp_min(1.0);  // [G, 1]
  const torch::Tensor f = (hits * realf).sum(1) * (static_cast<double>(E) / static_cast<double>(top_k)) / count;
  const torch::Tensor P = (s.view({groups, N / groups, E}) * realf).sum(1) / count;
  return (f.detach() * P).sum(-1).mean();
}

struct Timers {
  double data = 0, forward = 0, backward = 0, optimizer = 0, balance = 0, eval = 0, checkpoint = 0;
  json to_json(double total) const {
    return {{"data_s", data},       {"forward_s", forward},     {"backward_s", backward}, {"optimizer_s", optimizer},
            {"balance_s", balance}, {"eval_s", eval},           {"checkpoint_s", checkpoint}, {"total_s", total}};
  }
};

struct StepResult {
  torch::Tensor loss;  // total, with graph
  double main = 0, mtp = 0, balance = 0;
  double tokens = 0;   // scored main targets
  std::map<int64_t, torch::Tensor> loads;
};

class Trainer {
 public:
  Trainer(const TrainConfig& c, std::string run_dir, const RunOptions& o)
      : c_(c), run_dir_(std::move(run_dir)), o_(o) {}

  void run(const std::string& config_text);

 private:
  StepResult compute(const Batch& b, int64_t step, bool with_graph);
  void evaluate(int64_t step);
  void save_checkpoint(int64_t step, double elapsed, int64_t tokens_seen);
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
  Timers t_;
};

StepResult Trainer::compute(const Batch& b, int64_t step, bool with_graph) {
  const auto i64 = torch::TensorOptions().dtype(torch::kInt64);
  const torch::Tensor inputs = torch::from_blob(const_cast<int64_t*>(b.inputs.data()), {b.rows, b.len}, i64);
  const torch::Tensor targets = torch::from_blob(const_cast<int64_t*>(b.targets.data()), {b.rows, b.len}, i64);
  const torch::Tensor mask = torch::from_blob(const_cast<float*>(b.mask.data()), {b.rows, b.len});
  const torch::Tensor real =
      torch::from_blob(const_cast<uint8_t*>(b.real.data()), {b.rows, b.len}, torch::kUInt8).to(torch::kBool);
  const torch::Tensor positions = torch::arange(b.len, i64).unsqueeze(0).expand({b.rows, b.len}).contiguous();

  StepResult r;
  auto t0 = Clock::now();
  // bf16 autocast: matmuls in bf16 (oneDNN), reductions and the losses in float32.
  struct Autocast {
    bool on;
    explicit Autocast(bool enable) : on(enable) {
      if (!on) return;
      at::autocast::set_cpu_enabled(true);
      at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    }
    ~Autocast() {
      if (!on) return;
      at::autocast::set_cpu_enabled(false);
      at::autocast::clear_cache();
    }
  } autocast(c_.autocast_bf16);
  const nn::Output out = model_->forward(inputs, positions);
  const int64_t V = out.logits.size(-1);
  const torch::Tensor ce = torch::nn::functional::cross_entropy(
      out.logits.to(torch::kFloat32).reshape({-1, V}), targets.reshape({-1}), torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
  const torch::Tensor msum = mask.sum().clamp_min(1.0);
  torch::Tensor main = (ce * mask.reshape({-1})).sum() / msum;
  torch::Tensor loss = main;
  r.main = main.item<double>();
  r.tokens = mask.sum().item<double>();

  const bool has_mtp = args_.num_nextn_predict_layers > 0;
  torch::Tensor real_mtp;
  if (has_mtp) {
    // Position t of the MTP module predicts token t + 2 from the hidden state at t and token t + 1.
    const int64_t T = b.len;
    const nn::Output m = model_->mtp_forward(out.hidden.slice(1, 0, T - 1), inputs.slice(1, 1, T),
                                             positions.slice(1, 0, T - 1));
    const torch::Tensor mmask = mask.slice(1, 1, T).contiguous();
    const torch::Tensor mce = torch::nn::functional::cross_entropy(
        m.logits.to(torch::kFloat32).reshape({-1, V}), targets.slice(1, 1, T).reshape({-1}),
        torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
    const torch::Tensor mtp = (mce * mmask.reshape({-1})).sum() / mmask.sum().clamp_min(1.0);
    r.mtp = mtp.item<double>();
    const double w = mtp_weight_at(c_, step);
    if (with_graph && w > 0) loss = loss + w * mtp;
    real_mtp = real.slice(1, 0, T - 1).reshape({-1});
  }
  t_.forward += seconds_since(t0);

  auto t1 = Clock::now();
  const auto routing = model_->routing();
  if (!routing.empty()) {
    const int64_t E = args_.n_routed_experts;
    r.loads = expert_loads(routing, real.reshape({-1}), real_mtp, args_.num_hidden_layers, E);
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
        r.balance = bl.item<double>();
        loss = loss + bl;
      }
    }
  }
  r.loss = loss;
  t_.balance += seconds_since(t1);
  return r;
}

void Trainer::write_metrics(const json& line) {
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
    const Batch b = make_batch(c_, *tok_, tasks::Split::kValidation, k);
    StepResult r = compute(b, step, /*with_graph=*/false);
    main += r.main * r.tokens;
    mtp += r.mtp * r.tokens;
    tokens += r.tokens;
    for (auto& [layer, l] : r.loads) loads[layer] = loads.count(layer) ? loads[layer] + l : l;
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

void Trainer::save_checkpoint(int64_t step, double elapsed, int64_t tokens_seen) {
  auto t0 = Clock::now();
  write_checkpoint(run_dir_, step, [&](const fs::path& tmp) {
    formats::ModelArgs a = args_;
    a.torch_dtype = "float32";  // exact resume
    save_state(*model_, a, tmp.string());
    copy_tokenizer_files(tok_dir_, tmp);
    torch::save(*opt_, (tmp / "optimizer.pt").string());
    core::write_file_atomic((tmp / "trainer_state.json").string(),
                            json{{"step", step}, {"elapsed_s", elapsed}, {"tokens", tokens_seen}}.dump(1) + "\n");
  });
  t_.checkpoint += seconds_since(t0);
}

void Trainer::run(const std::string& config_text) {
  const auto start = Clock::now();
  keep_freed_memory();
  if (c_.threads > 0) torch::set_num_threads(c_.threads);
  fs::create_directories(run_dir_);
  const fs::path metrics_path = fs::path(run_dir_) / "metrics.jsonl";
  check_run_dir(run_dir_, o_.resume);
  core::write_file_atomic((fs::path(run_dir_) / "config.json").string(), config_text);

  args_ = c_.kind != RunKind::kPretrain ? formats::load_model_args(c_.init) : c_.model;
  if (args_.max_position_embeddings < c_.seq_len) {
    fail(ErrorKind::kInvalidArgument, "seq_len ", c_.seq_len, " exceeds the model's max_position_embeddings ",
         args_.max_position_embeddings);
  }
  tok_dir_ = prepare_tokenizer(c_, args_, run_dir_);
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

  int64_t start_step = 0, tokens_seen = 0;
  double elapsed_before = 0;
  if (o_.resume) {
    const fs::path dir = latest_checkpoint(run_dir_);
    load_state(*model_, formats::CheckpointReader::open(dir.string()), torch::kFloat32);
    torch::load(*opt_, (dir / "optimizer.pt").string());
    const json st = json::parse(core::read_file((dir / "trainer_state.json").string()));
    start_step = st.at("step").get<int64_t>();
    tokens_seen = st.at("tokens").get<int64_t>();
    elapsed_before = st.at("elapsed_s").get<double>();
    trim_metrics(metrics_path, start_step);  // drop what came after the checkpoint
    core::log_info("resuming ", run_dir_, " at step ", start_step);
  }
  metrics_.open(metrics_path, std::ios::app);
  if (!metrics_) fail(ErrorKind::kIo, "cannot write ", metrics_path.string());

  model_->train();
  std::optional<core::Progress> bar;
  if (o_.progress) bar.emplace(c_.kind == RunKind::kPretrain ? "pretrain" : c_.kind == RunKind::kSft ? "sft" : "distill", c_.steps, core::ProgressOptions{.unit = "steps"});
  if (bar) bar->set(start_step);
  if (start_step == 0) evaluate(0);
  double run_tokens = 0;
  const auto run_start = Clock::now();
  for (int64_t step = start_step; step < c_.steps; ++step) {
    const auto step_start = Clock::now();
    auto t0 = Clock::now();
    const Batch b = make_batch(c_, *tok_, tasks::Split::kTrain, step, o_.examples);
    t_.data += seconds_since(t0);

    const double lr = lr_at(c_, step);
    for (auto& g : opt_->param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
    // Gradients to None (PyTorch's default since 2.0), not zeros: an expert no token reached then
    // has no gradient and AdamW leaves it alone, the same in a resumed process as in a running one.
    for (auto& g : opt_->param_groups()) {
      for (auto& p : g.params()) p.mutable_grad().reset();
    }
    StepResult r = compute(b, step, /*with_graph=*/true);
    t0 = Clock::now();
    r.loss.backward();
    t_.backward += seconds_since(t0);
    t0 = Clock::now();
    double grad_norm = 0;
    {
      std::vector<torch::Tensor> params;
      for (auto& g : opt_->param_groups()) params.insert(params.end(), g.params().begin(), g.params().end());
      grad_norm = c_.clip > 0 ? torch::nn::utils::clip_grad_norm_(params, c_.clip)
                              : torch::nn::utils::clip_grad_norm_(params, 1e30);
    }
    opt_->step();
    t_.optimizer += seconds_since(t0);

    // Auxiliary-loss-free balancing: b_i += γ·sign(mean load − load_i) over the whole batch.
    t0 = Clock::now();
    json maxvio_layers = json::array();
    double maxvio_sum = 0, bias_min = 0, bias_max = 0;
    bool first_bias = true;
    {
      torch::NoGradGuard no_grad;
      for (const auto& [layer, load] : r.loads) {
        const double v = max_vio(load);
        maxvio_layers.push_back(v);
        maxvio_sum += v;
        auto it = biases_.find(layer);
        if (it == biases_.end()) continue;
        if (c_.balance == Balance::kAuxFree && c_.gamma > 0) {
          const torch::Tensor delta = torch::sign(load.mean() - load).to(torch::kFloat32) * c_.gamma;
          it->second.add_(delta);
        }
        const double lo = it->second.min().item<double>(), hi = it->second.max().item<double>();
        bias_min = first_bias ? lo : std::min(bias_min, lo);
        bias_max = first_bias ? hi : std::max(bias_max, hi);
        first_bias = false;
      }
    }
    t_.balance += seconds_since(t0);

    const double step_s = seconds_since(step_start);
    const int64_t real_tokens = std::count(b.real.begin(), b.real.end(), uint8_t{1});
    tokens_seen += real_tokens;
    run_tokens += static_cast<double>(real_tokens);
    json line = {{"split", "train"},
                 {"step", step + 1},
                 {"loss", r.loss.item<double>()},
                 {"main_loss", r.main},
                 {"lr", lr},
                 {"grad_norm", grad_norm},
                 {"tokens", tokens_seen},
                 {"tokens_per_s", static_cast<double>(real_tokens) / std::max(1e-9, step_s)},
                 {"examples", b.examples},
                 {"elapsed_s", elapsed_before + seconds_since(start)}};
    if (args_.num_nextn_predict_layers > 0) {
      line["mtp_loss"] = r.mtp;
      line["mtp_weight"] = mtp_weight_at(c_, step);
    }
    if (!r.loads.empty()) {
      line["maxvio_batch"] = maxvio_sum / static_cast<double>(r.loads.size());
      line["maxvio_layers"] = maxvio_layers;
      line["balance_loss"] = r.balance;
    }
    if (!biases_.empty()) {
      line["bias_min"] = bias_min;
      line["bias_max"] = bias_max;
    }
    if (b.truncated) line["truncated"] = b.truncated;
    if (!std::isfinite(r.main)) fail(ErrorKind::kInternal, "loss is not finite at step ", step + 1, "; lower the learning rate");
    write_metrics(line);

    const int64_t done = step + 1;
    if (done % c_.eval_every == 0 || done == c_.steps) evaluate(done);
    if (done % c_.checkpoint_every == 0 || done == c_.steps) {
      save_checkpoint(done, elapsed_before + seconds_since(start), tokens_seen);
    }
    if (done % c_.log_every == 0 || done == c_.steps) {
      char note[160];
      std::snprintf(note, sizeof note, "loss %.3f%s  %.0f tok/s", r.main,
                    r.loads.empty() ? "" : (" maxvio " + std::to_string(maxvio_sum / r.loads.size()).substr(0, 5)).c_str(),
                    run_tokens / std::max(1e-9, seconds_since(run_start)));
      if (bar) bar->set_note(note);
    }
    if (bar) bar->set(done);
  }
  if (bar) bar->finish();

  write_final_model(run_dir_, *model_, args_, c_.save_dtype, tok_dir_);  // in the dtype it ships in
  const double total = seconds_since(start);
  json prof = t_.to_json(total);
  prof["steps"] = c_.steps - start_step;
  prof["tokens"] = run_tokens;
  prof["tokens_per_s"] = run_tokens / std::max(1e-9, seconds_since(run_start));
  prof["threads"] = torch::get_num_threads();
  core::write_file_atomic((fs::path(run_dir_) / "profile.json").string(), prof.dump(1) + "\n");
  core::log_info("wrote ", run_dir_, "/model", " (", run_tokens / std::max(1e-9, seconds_since(run_start)), " tokens/s)");
}

}  // namespace

void train(const TrainConfig& config, const std::string& config_text, const std::string& run_dir,
           const RunOptions& options) {
  Trainer(config, run_dir, options).run(config_text);
}

}  // namespace whale::train
