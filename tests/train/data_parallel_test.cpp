// Data-parallel training with c10d/Gloo (docs/distributed.md) on localhost: 2 ranks give the
// losses of 1 rank with the same global batch, un-reduced expert loads break that (the negative
// control), a SIGKILLed rank stops the others with an error naming it, and a 2-rank run resumes
// with 1 rank on the uninterrupted run's losses; SFT too.
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

#include "core/mapped_file.h"
#include "formats/model_args.h"
#include "test_util.h"

namespace whale::train {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Env = std::vector<std::pair<std::string, std::string>>;

// The per-step loss tolerance between 1 and 2 ranks. Splitting the batch changes only the order of
// float32 sums (unit roundoff u = 2^-24 ≈ 6e-8): the loss is a sum over n ≈ 380 scored tokens of
// cross-entropies ≈ 6-8, so reordering moves it by at most n·u·8 ≈ 2e-4 (adversarial order) and
// typically by √n·u·8 ≈ 1e-5 (rounding errors as a random walk); the gradient elements are such
// sums too, and AdamW's first steps (m/√v ≈ ±1) pass their noise on to the weights at ~lr·u scale.
// 5e-5 is 5x the typical bound (measured here: ≤ 1e-6, one or two float32 ulps of the loss, over 6
// steps). The negative control moves the loss by ~5e-3 and must exceed 10x the tolerance.
constexpr double kTolerance = 5e-5;

json dp_config(int steps) {
  json model = json::parse(formats::model_args_to_json(testing::preset("tiny-deepseek-v3")));
  model["max_position_embeddings"] = 256;
  return {{"kind", "pretrain"},
          {"model", model},
          {"steps", steps},
          {"batch_size", 4},
          {"seq_len", 96},
          {"seed", 3},
          {"threads", 1},
          {"optimizer", {{"lr", 3e-3}, {"warmup_steps", 2}}},
          // A large γ makes the bias rule's input (the loads) visible in the losses within a few steps.
          {"balance", {{"mode", "aux_free"}, {"gamma", 0.05}}},
          {"tasks", json::array({{{"task", "addition"}, {"max_digits", 2}}})},
          {"eval_every", 3},
          {"eval_batches", 1},
          {"checkpoint_every", 2}};
}

std::vector<json> metrics(const std::string& run, const std::string& split = "train") {
  std::vector<json> out;
  std::ifstream in(fs::path(run) / "metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const json j = json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.value("split", "") == split) out.push_back(j);
  }
  return out;
}

// Starts `whale args...` with `env` added, stdout and stderr to `log`; in its own process group.
pid_t spawn(const std::vector<std::string>& args, const Env& env, const std::string& log) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    std::FILE* f = std::fopen(log.c_str(), "w");
    if (f) {
      ::dup2(::fileno(f), 1);
      ::dup2(::fileno(f), 2);
    }
    std::vector<char*> argv = {const_cast<char*>(WHALE_BINARY)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(WHALE_BINARY, argv.data());
    ::_exit(127);
  }
  return pid;
}

// The wait status of `pid`, or -1 if it is still running after `seconds` (then its group is killed).
int wait_for(pid_t pid, double seconds) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  for (;;) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) return status;
    if (std::chrono::steady_clock::now() > end) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

int run(const std::vector<std::string>& args, const Env& env, const std::string& log) {
  return wait_for(spawn(args, env, log), 300);
}

bool exited_ok(int status) { return status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0; }

// The largest per-step |loss difference| of two runs with the same steps.
double max_loss_diff(const std::string& a, const std::string& b) {
  const auto x = metrics(a), y = metrics(b);
  EXPECT_EQ(x.size(), y.size());
  double d = 0;
  for (size_t i = 0; i < std::min(x.size(), y.size()); ++i) {
    EXPECT_EQ(x[i]["step"], y[i]["step"]);
    d = std::max(d, std::fabs(x[i]["loss"].get<double>() - y[i]["loss"].get<double>()));
  }
  return d;
}

class DataParallel : public ::testing::Test {
 protected:
  static constexpr int kSteps = 6;
  // One uninterrupted 1-rank run, shared by the tests that compare with it.
  static void SetUpTestSuite() {
    base_ = testing::temp_dir("dp");
    fs::create_directories(base_);
    config_ = base_ + "/config.json";
    core::write_file_atomic(config_, dp_config(kSteps).dump());
    one_ = base_ + "/one";
    one_status_ = run({"train", "pretrain", config_, "--run", one_, "-q"}, {}, base_ + "/one.log");
  }
  static void TearDownTestSuite() { fs::remove_all(base_); }
  void SetUp() override { ASSERT_TRUE(exited_ok(one_status_)) << core::read_file(base_ + "/one.log"); }

  static std::string log(const std::string& run) { return core::read_file(run + ".log"); }

  static inline std::string base_, config_, one_;
  static inline int one_status_ = -1;
};

TEST_F(DataParallel, TwoRanksGiveTheLossesOfOne) {
  const std::string two = base_ + "/two";
  ASSERT_TRUE(exited_ok(run({"train", "pretrain", config_, "--run", two, "-q", "--nproc", "2"}, {}, two + ".log"))) << log(two);
  ASSERT_EQ(metrics(two).size(), static_cast<size_t>(kSteps)) << "rank 0 alone writes the metrics";
  EXPECT_LT(max_loss_diff(one_, two), kTolerance);
  // The global expert loads: MaxVio over the global batch is the 1-rank one.
  const auto a = metrics(one_), b = metrics(two);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_NEAR(a[i]["maxvio_batch"].get<double>(), b[i]["maxvio_batch"].get<double>(), 1e-9) << "step " << i + 1;
    EXPECT_NEAR(a[i]["grad_norm"].get<double>(), b[i]["grad_norm"].get<double>(), 1e-3 * a[i]["grad_norm"].get<double>());
  }
  const auto va = metrics(one_, "validation"), vb = metrics(two, "validation");
  ASSERT_EQ(va.size(), vb.size());
  EXPECT_NEAR(va.back()["loss"].get<double>(), vb.back()["loss"].get<double>(), kTolerance);
  EXPECT_TRUE(fs::exists(two + "/model/model.safetensors"));
  EXPECT_NE(log(two).find("model: " + two + "/model"), std::string::npos);
}

// SFT scores only the replies, so rows carry different numbers of scored tokens: the global-count
// normalisation (not a mean of the ranks' means) is what makes 2 ranks equal 1 here.
TEST_F(DataParallel, SftTwoRanksGiveTheLossesOfOne) {
  json j = dp_config(4);
  j.erase("model");
  j["kind"] = "sft";
  j["init"] = one_ + "/checkpoints/step-6";
  const std::string cfg = base_ + "/sft.json";
  core::write_file_atomic(cfg, j.dump());
  const std::string one = base_ + "/sft1", two = base_ + "/sft2";
  ASSERT_TRUE(exited_ok(run({"train", "sft", cfg, "--run", one, "-q"}, {}, one + ".log"))) << log(one);
  ASSERT_TRUE(exited_ok(run({"train", "sft", cfg, "--run", two, "-q", "--nproc", "2"}, {}, two + ".log"))) << log(two);
  ASSERT_EQ(metrics(two).size(), 4u);
  EXPECT_LT(max_loss_diff(one, two), kTolerance);
}

// GRPO: 2 ranks sample half the rollouts each (rollout i's sampling seed depends on i alone) and
// train half the update rows each: the rollouts are the 1-rank ones (rewards and lengths vary by
// step here: the default model solves about 15% of three-number Countdown samples) and the losses
// agree within tolerance.
TEST_F(DataParallel, GrpoTwoRanksShareTheRollouts) {
  const json j = {{"init", std::string(WHALE_TEST_DATA) + "/../../models/default"},
                  {"tasks", json::array({{{"task", "countdown"}, {"min_numbers", 3}, {"max_numbers", 3}, {"max_number", 30},
                                           {"min_target", 10}, {"max_target", 60}}})},
                  {"dataset_size", 4},
                  {"steps", 3},
                  {"prompts_per_step", 2},
                  {"group_size", 4},
                  {"max_tokens", 256},
                  {"rewards", {{"accuracy", 1.0}, {"format", 0.1}}},
                  {"loss", {{"variant", "dr_grpo"}, {"beta", 0.001}}},
                  {"optimizer", {{"lr", 2e-4}}},
                  {"seed", 1},
                  {"threads", 1},
                  {"checkpoint_every", 2}};
  const std::string cfg = base_ + "/grpo.json";
  core::write_file_atomic(cfg, j.dump());
  const std::string one = base_ + "/grpo1", two = base_ + "/grpo2";
  ASSERT_TRUE(exited_ok(run({"train", "grpo", cfg, "--run", one, "-q"}, {}, one + ".log"))) << log(one);
  ASSERT_TRUE(exited_ok(run({"train", "grpo", cfg, "--run", two, "-q", "--nproc", "2"}, {}, two + ".log"))) << log(two);
  const auto a = metrics(one, ""), b = metrics(two, "");
  ASSERT_EQ(a.size(), 3u);
  ASSERT_EQ(b.size(), 3u);
  int updates = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    for (const char* key : {"reward", "response_length", "rollouts", "groups_kept", "backward_rows"}) {
      EXPECT_EQ(a[i].value(key, json()), b[i].value(key, json())) << "step " << i + 1 << " " << key;
    }
    if (!a[i].contains("loss")) continue;
    ++updates;
    EXPECT_NEAR(a[i]["loss"].get<double>(), b[i]["loss"].get<double>(), kTolerance) << "step " << i + 1;
    EXPECT_NEAR(a[i]["grad_norm"].get<double>(), b[i]["grad_norm"].get<double>(), 1e-3 * a[i]["grad_norm"].get<double>());
  }
  EXPECT_GE(updates, 1);
  EXPECT_NE(a[0]["reward"], a[1]["reward"]);  // the rollouts differ from step to step
}

// Negative control: with each rank's bias rule fed only its own expert loads, the equality above
// must fail; otherwise the test could not see a missing load all-reduce.
TEST_F(DataParallel, UnreducedExpertLoadsBreakTheEquality) {
  const std::string bad = base_ + "/unreduced";
  ASSERT_TRUE(exited_ok(run({"train", "pretrain", config_, "--run", bad, "-q", "--nproc", "2"},
                            {{"WHALE_DP_UNREDUCED_LOADS", "1"}}, bad + ".log")))
      << log(bad);
  EXPECT_GT(max_loss_diff(one_, bad), 10 * kTolerance);
}

// Resume with a different number of ranks: a 2-rank run killed after its step-2 checkpoint,
// resumed by 1 rank, ends on the uninterrupted 1-rank run's losses.
TEST_F(DataParallel, TwoRankRunResumesWithOneRank) {
  const std::string run_dir = base_ + "/resumed";
  const pid_t pid = spawn({"train", "pretrain", config_, "--run", run_dir, "-q", "--nproc", "2"}, {}, run_dir + ".log");
  for (int i = 0; i < 6000 && metrics(run_dir).size() < 3; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ::kill(-pid, SIGKILL);  // the launcher and both ranks, without warning
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the run ended before it was killed";
  ASSERT_GE(metrics(run_dir).size(), 3u);
  ASSERT_FALSE(fs::exists(run_dir + "/model"));
  ASSERT_TRUE(exited_ok(run({"train", "pretrain", config_, "--run", run_dir, "--resume", "-q"}, {}, run_dir + "-2.log")))
      << core::read_file(run_dir + "-2.log");
  ASSERT_EQ(metrics(run_dir).size(), static_cast<size_t>(kSteps));
  EXPECT_LT(max_loss_diff(one_, run_dir), kTolerance);
}

// A rank killed without warning: the other one (started by hand, torchrun-style) exits non-zero
// within 60 s naming the lost rank, instead of waiting out Gloo's 30-minute default.
TEST_F(DataParallel, KilledRankStopsTheOther) {
  json j = dp_config(100000);
  const std::string cfg = base_ + "/long.json";
  core::write_file_atomic(cfg, j.dump());
  const std::string run_dir = base_ + "/killed";
  const std::string port = std::to_string(29400 + ::getpid() % 500);
  auto env = [&](int rank) {
    return Env{{"RANK", std::to_string(rank)}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", port},
               {"WHALE_DIST_TIMEOUT", "30"}};
  };
  const pid_t r0 = spawn({"train", "pretrain", cfg, "--run", run_dir, "-q"}, env(0), run_dir + "-0.log");
  const pid_t r1 = spawn({"train", "pretrain", cfg, "--run", run_dir, "-q"}, env(1), run_dir + "-1.log");
  for (int i = 0; i < 6000 && metrics(run_dir).size() < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_GE(metrics(run_dir).size(), 2u) << core::read_file(run_dir + "-0.log");
  ::kill(r1, SIGKILL);
  ::waitpid(r1, nullptr, 0);
  const int status = wait_for(r0, 60);
  ASSERT_NE(status, -1) << "rank 0 was still running 60 s after rank 1 died";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0);
  const std::string err = core::read_file(run_dir + "-0.log");
  EXPECT_NE(err.find("rank 0 of 2 lost rank 1"), std::string::npos) << err;
}

// The --nproc launcher notices a rank killed under it, stops the other and names the lost one.
TEST_F(DataParallel, LauncherStopsTheRanksWhenOneDies) {
  const std::string cfg = base_ + "/long.json";
  core::write_file_atomic(cfg, dp_config(100000).dump());
  const std::string run_dir = base_ + "/launched";
  const pid_t pid = spawn({"train", "pretrain", cfg, "--run", run_dir, "-q", "--nproc", "2"}, {}, run_dir + ".log");
  for (int i = 0; i < 6000 && metrics(run_dir).size() < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_GE(metrics(run_dir).size(), 2u) << log(run_dir);
  // Rank 1: the launcher's child whose environment says RANK=1.
  pid_t rank1 = 0;
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string stat, environ;
    try {
      stat = core::read_file(e.path() / "stat");
      environ = core::read_file(e.path() / "environ");
    } catch (...) {
      continue;
    }
    const size_t close = stat.rfind(')');
    if (close == std::string::npos || std::stoi(stat.substr(close + 4)) != pid) continue;  // field 4: ppid
    if (environ.find(std::string("RANK=1") + '\0') == 0 || environ.find(std::string("\0RANK=1\0", 8)) != std::string::npos) {
      rank1 = static_cast<pid_t>(std::stoi(name));
    }
  }
  ASSERT_GT(rank1, 0);
  ::kill(rank1, SIGKILL);
  const int status = wait_for(pid, 60);
  ASSERT_NE(status, -1) << "the launcher was still running 60 s after rank 1 died";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0);
  const std::string err = log(run_dir);
  EXPECT_NE(err.find("rank 1 (pid " + std::to_string(rank1) + ") was killed by signal 9 (SIGKILL)"), std::string::npos) << err;
}

TEST_F(DataParallel, GlobalBatchMustSplitEvenly) {
  const std::string run_dir = base_ + "/uneven";
  const int status = run({"train", "pretrain", config_, "--run", run_dir, "-q", "--nproc", "3"}, {}, run_dir + ".log");
  EXPECT_TRUE(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) != 0);
  EXPECT_NE(log(run_dir).find("batch_size 4 (the global batch) is not divisible by WORLD_SIZE 3"), std::string::npos)
      << log(run_dir);
}

}  // namespace
}  // namespace whale::train
