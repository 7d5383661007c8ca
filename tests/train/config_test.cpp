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
