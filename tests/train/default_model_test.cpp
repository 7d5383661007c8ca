// The shipped default model (models/default): the engine's logits equal libtorch's for it, and a
// question piped through `whale chat` with no model argument gets an answer the verifier accepts.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "formats/model_args.h"
#include "train/tasks/task.h"

namespace whale::train {
void expect_engine_matches_libtorch(const std::string& model_dir);  // training_test.cpp

namespace {

const std::string kRoot = std::string(WHALE_TEST_DATA) + "/../..";

std::string run_capture(const std::string& cmd) {
  std::FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return "";
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  ::pclose(p);
  return out;
}

TEST(DefaultModel, IsADeepseekV3WithMtpAndTheEngineMatchesLibtorch) {
  const std::string dir = kRoot + "/models/default";
  ASSERT_TRUE(std::filesystem::exists(dir + "/config.json")) << "models/default is missing";
  const formats::ModelArgs a = formats::load_model_args(dir);
  EXPECT_EQ(a.model_type, "deepseek_v3");
  EXPECT_GT(a.q_lora_rank, 0);
  EXPECT_EQ(a.topk_method, formats::TopkMethod::kNoauxTc);
  EXPECT_EQ(a.scoring_func, formats::ScoringFunc::kSigmoid);
  EXPECT_EQ(a.first_k_dense_replace, 1);
  EXPECT_EQ(a.num_nextn_predict_layers, 1);
  expect_engine_matches_libtorch(dir);
}

// `whale chat` with no MODEL, run from the repository root, answers piped questions; the verifier
// grades the boxed answers (greedy, so the outcome is fixed for the shipped weights).
TEST(DefaultModel, ChatAnswersPipedQuestionsCorrectly) {
  tasks::TaskSpec spec;
  spec.task = tasks::TaskKind::kAddition;
  spec.split = tasks::Split::kTest;
  spec.count = 3;
  spec.seed = 11;
  spec.difficulty.min_digits = 2;
  spec.difficulty.max_digits = 3;
  int correct = 0;
  for (const tasks::Problem& p : tasks::generate(spec)) {
    const std::string cmd = "cd " + kRoot + " && printf '%s\\n' '" + p.prompt + "' | " + WHALE_BINARY +
                            " chat --temperature 0 2>/dev/null";
    const std::string out = run_capture(cmd);
    // The chat prints the thinking, then the answer; the verifier reads the final \boxed{}.
    const size_t box = out.rfind("\\boxed{");
    ASSERT_NE(box, std::string::npos) << out;
    const tasks::Verdict v = tasks::verify(p, "<think>\nx\n</think>\n" + out.substr(box));
    correct += v.correct;
  }
  EXPECT_GE(correct, 2) << "of 3 test-split additions";
}

}  // namespace
}  // namespace whale::train
