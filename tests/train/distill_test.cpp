// `whale train distill` at tiny scale: the shipped default model writes addition traces, only
// correct ones are kept (checked here against sums computed from the prompts), and a tiny dense
// qwen2 student learns them (its loss on the traces falls).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>

#include "../error_of.h"
#include "core/mapped_file.h"
#include "model/weights.h"
#include "test_util.h"
#include "train/config.h"
#include "train/distill.h"

namespace whale::train {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kRoot = std::string(WHALE_TEST_DATA) + "/../..";

json distill_config(const std::string& student, int steps) {
  return {{"kind", "distill"},
          {"init", student},
          {"tokenizer", kRoot + "/configs/tasks-tokenizer"},
          {"distill", {{"teacher", kRoot + "/models/default"}, {"prompt", "zero"}, {"prompts", 8}, {"samples", 2},
                       {"keep", 1}, {"max_tokens", 96}}},
          {"steps", steps},
          {"batch_size", 4},
          {"seq_len", 128},
          {"seed", 5},
          {"threads", 2},
          {"optimizer", {{"lr", 3e-3}, {"warmup_steps", 2}}},
          {"tasks", json::array({{{"task", "addition"}, {"min_digits", 1}, {"max_digits", 2}}})},
          {"eval_every", 10},
          {"eval_batches", 1},
          {"checkpoint_every", 10}};
}

TEST(Distill, ConfigErrors) {
  using whale::testing::error_of;
  json j = distill_config("student", 5);
  j["distill"].erase("teacher");
  EXPECT_NE(error_of([&] { parse_train_config(j.dump(), "d.json"); }).find("\"teacher\""), std::string::npos);
  j = distill_config("student", 5);
  j["distill"]["prompt"] = "plain";
  EXPECT_NE(error_of([&] { parse_train_config(j.dump(), "d.json"); }).find("\"chat\" or \"zero\""), std::string::npos);
  j = distill_config("student", 5);
  j["distill"]["keep"] = 0;
  EXPECT_NE(error_of([&] { parse_train_config(j.dump(), "d.json"); }).find("keep"), std::string::npos);
  j = distill_config("student", 5);
  j["kind"] = "sft";
  EXPECT_NE(error_of([&] { parse_train_config(j.dump(), "d.json"); }).find("\"distill\" belongs"), std::string::npos);
}

TEST(Distill, KeepsOnlyCorrectTracesAndTheStudentLearnsThem) {
  formats::ModelArgs a = testing::preset("tiny-qwen2");
  a.vocab_size = 512;
  a.bos_token_id = 0;
  a.eos_token_ids = {1};
  a.max_position_embeddings = 256;
  const std::string student = testing::random_checkpoint(a, "distill_student");
  const std::string run = testing::temp_dir("distill_run");
  const json j = distill_config(student, 20);
  train_distill(parse_train_config(j.dump(), "d.json"), j.dump(), run, {.progress = false});

  const json stats = json::parse(core::read_file(run + "/distill.json"));
  EXPECT_EQ(stats["responses"].get<int>(), 16);  // 8 problems × 2 samples
  const int kept = stats["kept"].get<int>();
  EXPECT_GE(kept, 4);  // the teacher adds two-digit numbers almost always right
  EXPECT_LE(kept, 8);  // keep 1 per problem
  EXPECT_LE(kept, stats["correct"].get<int>());
  // Every kept trace is right: the sum computed here from the prompt is the boxed answer.
  std::ifstream in(run + "/traces.jsonl");
  std::string line;
  std::map<std::string, int> per_problem;
  int lines = 0;
  const std::regex q(R"(What is (\d+) \+ (\d+)\?)");
  while (std::getline(in, line)) {
    const json t = json::parse(line);
    ++lines;
    ++per_problem[t["problem"].get<std::string>()];
    std::smatch mq;
    const std::string prompt = t["prompt"];
    ASSERT_TRUE(std::regex_search(prompt, mq, q)) << prompt;
    const int sum = std::stoi(mq[1]) + std::stoi(mq[2]);
    const std::string resp = t["response"];
    EXPECT_NE(resp.find("</think>"), std::string::npos);
    EXPECT_NE(resp.rfind("\\boxed{" + std::to_string(sum) + "}"), std::string::npos) << resp;
  }
  EXPECT_EQ(lines, kept);
  for (const auto& [id, n] : per_problem) EXPECT_EQ(n, 1) << id;

  // The student's loss on the traces falls.
  std::vector<double> loss;
  std::ifstream mf(run + "/metrics.jsonl");
  while (std::getline(mf, line)) {
    const json m = json::parse(line);
    if (m.value("split", "") == "train") loss.push_back(m["loss"].get<double>());
  }
  ASSERT_EQ(loss.size(), 20u);
  EXPECT_LT(loss.back(), loss.front() - 1.0);
  EXPECT_NO_THROW(model::load_weights(run + "/model", {}));
  // A finished run is not overwritten.
  EXPECT_NE(whale::testing::error_of([&] { train_distill(parse_train_config(j.dump(), "d.json"), j.dump(), run, {.progress = false}); })
                .find("already holds a run"),
            std::string::npos);
  fs::remove_all(run);
  fs::remove_all(student);
}

}  // namespace
}  // namespace whale::train
