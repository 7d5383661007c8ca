// Config keys of every training loop: a typo in a nested object ("loss", "rewards", "optimizer",
// "balance", "mtp", "distill", a task) is refused with its path, never read as the default; every
// config shipped in configs/ parses.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "../error_of.h"
#include "core/mapped_file.h"
#include "train/config.h"
#include "train/grpo.h"

namespace whale::train {
namespace {

using nlohmann::json;
using whale::testing::error_of;

json sft_config() {
  return {{"kind", "sft"},
          {"init", "ckpt"},
          {"optimizer", {{"lr", 1e-3}, {"betas", {0.9, 0.95}}}},
          {"balance", {{"mode", "aux_free"}, {"gamma", 0.001}}},
          {"mtp", {{"weight", 0.3}}},
          {"tasks", json::array({{{"task", "addition"}, {"max_digits", 2}}})}};
}

json grpo_config() {
  return {{"init", "ckpt"},
          {"tasks", json::array({{{"task", "countdown"}}})},
          {"rewards", {{"accuracy", 1.0}, {"format", 0.1}}},
          {"loss", {{"variant", "dapo"}, {"clip_high", 0.3}}},
          {"optimizer", {{"lr", 1e-5}}}};
}

std::string train_error(const json& j) { return error_of([&] { parse_train_config(j.dump(), "t.json"); }); }
std::string grpo_error(const json& j) { return error_of([&] { parse_grpo_config(j.dump(), "g.json"); }); }

TEST(TrainConfig, UnknownNestedKeysNameTheirPath) {
  EXPECT_EQ(train_error(sft_config()), "(no error)");
  const struct {
    const char* object;
    const char* typo;
  } cases[] = {{"optimizer", "lr_min"}, {"balance", "gama"}, {"mtp", "switch"}};
  for (const auto& c : cases) {
    json j = sft_config();
    j[c.object][c.typo] = 1;
    EXPECT_NE(train_error(j).find(std::string("t.json: unknown key \"") + c.object + "." + c.typo + "\""), std::string::npos)
        << train_error(j);
  }
  json j = sft_config();
  j["tasks"].push_back({{"task", "addition"}, {"max_digit", 3}});
  EXPECT_NE(train_error(j).find("unknown key \"tasks[1].max_digit\""), std::string::npos) << train_error(j);
  j = sft_config();
  j["tasks"][0] = "addition";
  EXPECT_NE(train_error(j).find("JSON object"), std::string::npos) << train_error(j);
  j = sft_config();
  j["balance"] = "aux_free";  // not an object: would silently keep every default
  EXPECT_NE(train_error(j).find("\"balance\" must be a JSON object"), std::string::npos) << train_error(j);
  j = sft_config();
  j["kind"] = "distill";
  j["distill"] = {{"teacher", "t"}, {"sample", 4}};
  EXPECT_NE(train_error(j).find("unknown key \"distill.sample\""), std::string::npos) << train_error(j);
  j["distill"].erase("sample");
  EXPECT_EQ(train_error(j), "(no error)");
}

// A number the key's type cannot hold is an error naming the key and the range, never a cast (the
// fuzzer's "max_number": 5.5e34 was undefined behaviour); whole numbers written as 2.0 still read.
TEST(TrainConfig, NumbersOutOfRangeAreRefusedNotCast) {
  json j = grpo_config();
  j["tasks"][0]["max_number"] = 55555555555555555555555555555555550.0;
  EXPECT_NE(grpo_error(j).find("key \"max_number\" must be an integer in [-2147483648, 2147483647], got 5.555"),
            std::string::npos)
      << grpo_error(j);
  j["tasks"][0]["max_number"] = 2147483648LL;
  EXPECT_NE(grpo_error(j).find("max_number\" must be an integer"), std::string::npos) << grpo_error(j);
  j["tasks"][0]["max_number"] = 2.5;
  EXPECT_NE(grpo_error(j).find("max_number\" must be an integer"), std::string::npos) << grpo_error(j);
  j["tasks"][0]["max_number"] = 50.0;
  EXPECT_EQ(grpo_error(j), "(no error)");
  j["tasks"][0]["max_number"] = -2147483648LL;  // in range; the task's own check may refuse it later
  EXPECT_EQ(grpo_error(j).find("must be an integer"), std::string::npos) << grpo_error(j);
  json t = sft_config();
  t["optimizer"]["lr"] = 12345;
  std::string text = t.dump();
  text.replace(text.find("12345"), 5, "1e999");  // past a double: the JSON parser refuses it
  const std::string inf_error = error_of([&] { parse_train_config(text, "t.json"); });
  EXPECT_NE(inf_error.find("t.json: not valid JSON"), std::string::npos) << inf_error;
  EXPECT_NE(inf_error.find("number overflow"), std::string::npos) << inf_error;
  t["optimizer"]["lr"] = "fast";
  EXPECT_NE(train_error(t).find("key \"lr\" has the wrong type"), std::string::npos) << train_error(t);
}

TEST(GrpoConfig, UnknownNestedKeysNameTheirPath) {
  ASSERT_EQ(grpo_error(grpo_config()), "(no error)");
  const GrpoConfig ok = parse_grpo_config(grpo_config().dump(), "g.json");
  EXPECT_EQ(ok.clip_high, 0.3);
  EXPECT_EQ(ok.rewards.format, 0.1);
  const struct {
    const char* object;
    const char* typo;
  } cases[] = {{"loss", "clip_hgh"}, {"rewards", "acuracy"}, {"optimizer", "weight_decai"}};
  for (const auto& c : cases) {
    json j = grpo_config();
    j[c.object][c.typo] = 1;
    EXPECT_NE(grpo_error(j).find(std::string("g.json: unknown key \"") + c.object + "." + c.typo + "\""), std::string::npos)
        << grpo_error(j);
  }
  json j = grpo_config();
  j["tasks"][0]["wieght"] = 2;
  EXPECT_NE(grpo_error(j).find("unknown key \"tasks[0].wieght\""), std::string::npos) << grpo_error(j);
  j = grpo_config();
  j["loss"] = "dapo";
  EXPECT_NE(grpo_error(j).find("\"loss\" must be a JSON object"), std::string::npos) << grpo_error(j);
}

// The shipped configs use only keys the parsers know.
TEST(TrainConfig, EveryShippedConfigParses) {
  namespace fs = std::filesystem;
  const fs::path root = fs::path(WHALE_TEST_DATA) / "../../configs";
  int n = 0;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (e.path().extension() != ".json" || e.path().parent_path().filename().string().ends_with("-tokenizer")) continue;
    const std::string text = core::read_file(e.path().string());
    const bool grpo = !json::parse(text).contains("kind");
    EXPECT_EQ(error_of([&] {
                if (grpo) {
                  parse_grpo_config(text, e.path().string());
                } else {
                  parse_train_config(text, e.path().string());
                }
              }),
              "(no error)")
        << e.path();
    ++n;
  }
  EXPECT_GE(n, 19);
}

}  // namespace
}  // namespace whale::train
