// The training loop end to end on tiny configs: config errors, the schedule by hand, data packing
// and loss masks against the task texts, a short run whose loss falls and whose checkpoint the
// engine runs with libtorch's logits, exact resume after `kill -9`, balancing switches, plots.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "../error_of.h"
#include "core/mapped_file.h"
#include "core/thread_pool.h"
#include "formats/checkpoint.h"
#include "model/forward.h"
#include "model/kv_cache.h"
#include "model/weights.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"
#include "train/config.h"
#include "train/data.h"
#include "train/evaluate.h"
#include "train/nn/causal_lm.h"
#include "train/plot.h"
#include "train/torch_io.h"
#include "train/trainer.h"

namespace whale::train {

// The engine runs the trained checkpoint with the logits libtorch computes for it.
void expect_engine_matches_libtorch(const std::string& model_dir) {
  const formats::ModelArgs args = formats::load_model_args(model_dir);
  auto lm = nn::make_causal_lm(args);
  load_state(*lm, formats::CheckpointReader::open(model_dir), torch::kFloat32);
  lm->eval();
  const std::vector<int32_t> ids = {256, 40, 41, 42, 300, 301, 50, 60, 70, 80};
  const int64_t T = static_cast<int64_t>(ids.size());
  torch::Tensor tokens = torch::empty({1, T}, torch::kInt64);
  for (int64_t t = 0; t < T; ++t) tokens[0][t] = ids[t];
  torch::NoGradGuard g;
  const torch::Tensor ref = lm->forward(tokens, torch::arange(T).unsqueeze(0)).logits[0];

  const model::Weights w = model::load_weights(model_dir, {});
  model::ContiguousKvCache cache(w.args, 1, T, core::DType::kF32);  // libtorch comparison at 1e-4: f32 rows
  model::Scratch scratch;
  model::ForwardOutput out;
  model::Batch batch;
  for (int64_t t = 0; t < T; ++t) batch.add(ids[t], static_cast<int32_t>(t), 0);
  core::ThreadPool pool(1);
  model::forward(w, batch, cache, {}, scratch, pool, out);
  double max_diff = 0;
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t v = 0; v < args.vocab_size; ++v) {
      max_diff = std::max<double>(max_diff, std::fabs(out.logits[t * args.vocab_size + v] - ref[t][v].item<float>()));
    }
  }
  EXPECT_LT(max_diff, 1e-3) << model_dir;
}


namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using whale::testing::error_of;

json tiny_config(int steps) {
  json model = json::parse(formats::model_args_to_json(testing::preset("tiny-deepseek-v3")));
  model["max_position_embeddings"] = 256;
  return {{"kind", "pretrain"},
          {"model", model},
          {"steps", steps},
          {"batch_size", 4},
          {"seq_len", 96},
          {"seed", 3},
          {"threads", 1},
          {"optimizer", {{"lr", 3e-3}, {"warmup_steps", 3}}},
          {"tasks", json::array({{{"task", "addition"}, {"max_digits", 2}}})},
          {"eval_every", 5},
          {"eval_batches", 2},
          {"checkpoint_every", 5}};
}

TrainConfig parse(const json& j) { return parse_train_config(j.dump(), "test.json"); }

std::vector<json> metrics(const std::string& run, const std::string& split = "train") {
  std::vector<json> out;
  std::ifstream in(fs::path(run) / "metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    const json j = json::parse(line);
    if (j.value("split", "") == split) out.push_back(j);
  }
  return out;
}

TEST(TrainConfig, ErrorsNameTheKey) {
  json j = tiny_config(5);
  j["stepz"] = 3;
  EXPECT_NE(error_of([&] { parse(j); }).find("unknown key \"stepz\""), std::string::npos);
  j = tiny_config(5);
  j["balance"] = {{"mode", "magic"}};
  EXPECT_NE(error_of([&] { parse(j); }).find("aux_free, aux_loss or none"), std::string::npos);
  j = tiny_config(5);
  j.erase("tasks");
  EXPECT_NE(error_of([&] { parse(j); }).find("\"tasks\""), std::string::npos);
  j = tiny_config(5);
  j["tasks"][0]["task"] = "division";
  EXPECT_NE(error_of([&] { parse(j); }).find("division"), std::string::npos);
  j = tiny_config(5);
  j["steps"] = "ten";
  EXPECT_NE(error_of([&] { parse(j); }).find("\"steps\""), std::string::npos);
  EXPECT_NE(error_of([&] { parse_train_config("{nope", "x.json"); }).find("x.json: not valid JSON"), std::string::npos);
  j = tiny_config(5);
  j["kind"] = "sft";
  EXPECT_NE(error_of([&] { parse(j); }).find("\"init\""), std::string::npos);
}

TEST(TrainConfig, ScheduleByHand) {
  json j = tiny_config(110);
  j["optimizer"] = {{"lr", 1e-3}, {"warmup_steps", 10}, {"min_lr_ratio", 0.1}};
  const TrainConfig c = parse(j);
  EXPECT_DOUBLE_EQ(lr_at(c, 0), 1e-4);        // 1/10 of the way up
  EXPECT_DOUBLE_EQ(lr_at(c, 9), 1e-3);        // warmup done
  EXPECT_DOUBLE_EQ(lr_at(c, 10), 1e-3);       // cosine starts at the peak
  EXPECT_NEAR(lr_at(c, 60), 0.55e-3, 1e-12);  // halfway: min + (1 - min)/2
  EXPECT_NEAR(lr_at(c, 110), 1e-4, 1e-12);    // the floor
  // MTP weight 0.3 until 70% of the steps, then 0.1 (V3's schedule).
  EXPECT_DOUBLE_EQ(mtp_weight_at(c, 76), 0.3);
  EXPECT_DOUBLE_EQ(mtp_weight_at(c, 77), 0.1);
}

TEST(TrainData, PretrainAndSftTextsAndMasks) {
  const std::string dir = testing::random_checkpoint(testing::preset("tiny-deepseek-v3"), "data");
  const tokenizer::Tokenizer tok = tokenizer::Tokenizer::from_dir(dir);
  tasks::TaskSpec spec;
  spec.count = 1;
  spec.seed = 5;
  const tasks::Problem p = tasks::generate(spec)[0];

  const Example pre = pretrain_example(tok, p);
  EXPECT_EQ(pre.tokens.front(), *tok.bos_id());
  EXPECT_EQ(pre.tokens.back(), *tok.eos_id());
  EXPECT_EQ(tok.decode(pre.tokens, /*skip_special=*/true), p.prompt + "\n" + tasks::solution(p));

  const Example sft = sft_example(tok, p);
  std::vector<int32_t> scored;
  for (size_t i = 0; i < sft.tokens.size(); ++i) {
    if (sft.target[i]) scored.push_back(sft.tokens[i]);
  }
  // Only the reply is scored: the solution without the "<think>\n" the template opened, then EOS.
  ASSERT_EQ(scored.back(), *tok.eos_id());
  scored.pop_back();
  EXPECT_EQ(tok.decode(scored), tasks::solution(p).substr(8));
  const std::string prompt_text = tok.decode(std::vector<int32_t>(sft.tokens.begin(), sft.tokens.end() - scored.size() - 1));
  EXPECT_TRUE(prompt_text.ends_with("<｜Assistant｜><think>\n")) << prompt_text;
  EXPECT_NE(prompt_text.find(p.prompt), std::string::npos);

  // Batches: a pure function of the step; targets are the inputs shifted by one inside a row.
  json j = tiny_config(5);
  j["kind"] = "sft";
  j["init"] = dir;
  j.erase("model");
  const TrainConfig c = parse(j);
  const Batch a = make_batch(c, tok, tasks::Split::kTrain, 7), b = make_batch(c, tok, tasks::Split::kTrain, 7);
  EXPECT_EQ(a.inputs, b.inputs);
  EXPECT_EQ(a.mask, b.mask);
  EXPECT_NE(a.inputs, make_batch(c, tok, tasks::Split::kTrain, 8).inputs);
  for (int64_t r = 0; r < a.rows; ++r) {
    for (int64_t t = 0; t + 1 < a.len; ++t) {
      const int64_t i = r * a.len + t;
      if (a.real[i + 1]) {
        EXPECT_EQ(a.targets[i], a.inputs[i + 1]);
      }
      if (a.mask[i] > 0) {
        EXPECT_TRUE(a.real[i]);  // padding is never scored
      }
    }
  }
  EXPECT_GT(a.examples, 0);
}

TEST(Train, ShortRunLearnsAndTheEngineRunsIt) {
  const std::string run = testing::temp_dir("short_run");
  json j = tiny_config(30);
  train(parse(j), j.dump(), run, {.progress = false});
  const auto val = metrics(run, "validation");
  ASSERT_GE(val.size(), 2u);
  // Validation loss falls well below its start (ln 512 = 6.24 for a uniform guess).
  EXPECT_LT(val.back()["loss"].get<double>(), val.front()["loss"].get<double>() - 1.0);
  const auto tr = metrics(run);
  ASSERT_EQ(tr.size(), 30u);
  for (const json& m : tr) {
    EXPECT_TRUE(m.contains("mtp_loss"));
    EXPECT_GE(m["maxvio_batch"].get<double>(), 0.0);
    EXPECT_LE(m["grad_norm"].get<double>(), 1e3);
  }
  // aux_free moves every bias by exactly ±γ per step: after 30 steps all lie on the γ grid.
  const formats::CheckpointReader r = formats::CheckpointReader::open(run + "/model");
  const torch::Tensor bias = to_torch(r.view("model.layers.1.mlp.gate.e_score_correction_bias"));
  const torch::Tensor steps = bias / 0.001;
  EXPECT_LT((steps - steps.round()).abs().max().item<double>(), 1e-2);
  EXPECT_GT(bias.abs().max().item<double>(), 0.0);
  EXPECT_LE(bias.abs().max().item<double>(), 0.030 + 1e-6);
  expect_engine_matches_libtorch(run + "/model");
  EXPECT_TRUE(fs::exists(run + "/profile.json"));

  // Plots: one SVG per metric, a line per run.
  const auto files = plot_runs({run, run}, {"a", "b"}, run + "/plots");
  EXPECT_GE(files.size(), 8u);
  const std::string svg = core::read_file(run + "/plots/train_loss.svg");
  EXPECT_EQ(std::count(svg.begin(), svg.end(), '\n') > 10, true);
  size_t lines = 0;
  for (size_t p = svg.find("<polyline"); p != std::string::npos; p = svg.find("<polyline", p + 1)) ++lines;
  EXPECT_EQ(lines, 2u);

  // Evaluation on the engine: every response is graded by the verifier again here.
  const model::Weights w = model::load_weights(run + "/model", {});
  const tokenizer::Tokenizer tok = tokenizer::load_tokenizer(run + "/model");
  EvalOptions eo;
  eo.count = 6;
  eo.samples = 2;
  eo.max_tokens = 64;
  eo.difficulty.max_digits = 2;
  const EvalResult er = evaluate(w, tok, eo);
  ASSERT_EQ(er.responses.size(), 18u);
  tasks::TaskSpec spec;
  spec.split = tasks::Split::kTest;
  spec.count = 6;
  spec.seed = 1;
  spec.difficulty.max_digits = 2;
  const auto problems = tasks::generate(spec);
  int greedy_ok = 0;
  for (size_t i = 0; i < er.responses.size(); ++i) {
    EXPECT_EQ(er.responses[i].problem_id, problems[i / 3].id);
    const bool ok = tasks::verify(problems[i / 3], er.responses[i].response).correct;
    EXPECT_EQ(ok, er.responses[i].correct);
    if (i % 3 == 0) greedy_ok += ok;
  }
  EXPECT_DOUBLE_EQ(er.greedy_accuracy, greedy_ok / 6.0);
  fs::remove_all(run);
}

TEST(Train, BalancingSwitches) {
  for (const char* mode : {"none", "aux_loss"}) {
    const std::string run = testing::temp_dir(std::string("bal_") + mode);
    json j = tiny_config(3);
    j["balance"] = {{"mode", mode}, {"aux_alpha", 0.1}};
    train(parse(j), j.dump(), run, {.progress = false});
    const formats::CheckpointReader r = formats::CheckpointReader::open(run + "/model");
    // Only aux_free moves the bias.
    EXPECT_EQ(to_torch(r.view("model.layers.1.mlp.gate.e_score_correction_bias")).abs().max().item<double>(), 0.0);
    const auto tr = metrics(run);
    ASSERT_EQ(tr.size(), 3u);
    if (std::string(mode) == "none") {
      EXPECT_EQ(tr[0]["balance_loss"].get<double>(), 0.0);
    } else {
      // α·Σ_layers Σ_i f_i P_i with Σ f_i P_i ≈ 1 for an untrained router: ≈ α × MoE layers (2 + MTP).
      EXPECT_GT(tr[0]["balance_loss"].get<double>(), 0.1 * 3 * 0.5);
      EXPECT_LT(tr[0]["balance_loss"].get<double>(), 0.1 * 3 * 2.0);
    }
    fs::remove_all(run);
  }
}

TEST(Train, RefusesToOverwriteARun) {
  const std::string run = testing::temp_dir("overwrite");
  json j = tiny_config(2);
  train(parse(j), j.dump(), run, {.progress = false});
  EXPECT_NE(error_of([&] { train(parse(j), j.dump(), run, {.progress = false}); }).find("--resume"), std::string::npos);
  const std::string empty = testing::temp_dir("noresume");
  EXPECT_NE(error_of([&] { train(parse(j), j.dump(), empty, {.resume = true, .progress = false}); }).find("no checkpoint"),
            std::string::npos);
  fs::remove_all(run);
  fs::remove_all(empty);
}

// Kill -9 a `whale train` process mid-run, resume it, and get exactly the losses of a run that was
// never interrupted.
TEST(Train, ResumeAfterKillIsExact) {
  const std::string base = testing::temp_dir("resume");
  fs::create_directories(base);
  json j = tiny_config(16);
  j["checkpoint_every"] = 2;
  j["eval_every"] = 4;
  const std::string cfg = base + "/config.json";
  core::write_file_atomic(cfg, j.dump());
  const std::string whale = WHALE_BINARY;
  const std::string full = base + "/full", killed = base + "/killed";
  ASSERT_EQ(std::system((whale + " train pretrain " + cfg + " --run " + full + " -q > /dev/null 2>&1").c_str()), 0);

  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::execl(whale.c_str(), whale.c_str(), "train", "pretrain", cfg.c_str(), "--run", killed.c_str(), "-q", (char*)nullptr);
    _exit(127);
  }
  // Wait until it is past a few checkpoints, then kill it without warning.
  for (int i = 0; i < 6000; ++i) {
    if (fs::exists(killed + "/metrics.jsonl") && metrics(killed).size() >= 9) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the run ended before it was killed";
  ASSERT_FALSE(fs::exists(killed + "/model"));
  ASSERT_EQ(std::system((whale + " train pretrain " + cfg + " --run " + killed + " --resume -q > /dev/null 2>&1").c_str()), 0);

  const auto a = metrics(full), b = metrics(killed);
  ASSERT_EQ(a.size(), 16u);
  ASSERT_EQ(b.size(), 16u);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i]["step"], b[i]["step"]);
    EXPECT_EQ(a[i]["loss"].get<double>(), b[i]["loss"].get<double>()) << "step " << i + 1;
    EXPECT_EQ(a[i]["grad_norm"].get<double>(), b[i]["grad_norm"].get<double>()) << "step " << i + 1;
  }
  EXPECT_EQ(metrics(full, "validation").back()["loss"], metrics(killed, "validation").back()["loss"]);
  EXPECT_EQ(core::read_file(full + "/model/model.safetensors"), core::read_file(killed + "/model/model.safetensors"));
  fs::remove_all(base);
}

}  // namespace
}  // namespace whale::train
