// `--spec` end to end through the binary: whale run gives the same ids and text with speculation
// as without (tiny random V3, and the trained default model, whose MTP module is accepted most of
// the time), reports acceptance; the bench's oracle mode labels its lines and checks its outputs;
// a model without MTP and a draft model with another tokenizer are refused with a message.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "cli_util.h"

namespace {

namespace fs = std::filesystem;

using whale::cli_testing::CmdResult;
using whale::cli_testing::temp_dir;
using whale::cli_testing::whale;

// The generated ids (stdout; the timing lines on stderr may follow on the same line, unflushed).
std::string first_line(const std::string& s) {
  const std::string line = s.substr(0, s.find('\n'));
  return line.substr(0, line.find("load "));
}

// The --json result line.
std::string json_line(const std::string& s) {
  const size_t at = s.find("{\"");
  return at == std::string::npos ? "" : s.substr(at, s.find('\n', at) - at);
}

TEST(SpecCli, RunGivesTheSameTokensWithAndWithoutSpeculation) {
  const std::string dir = temp_dir("spec_v3");
  ASSERT_EQ(whale("init --preset tiny-deepseek-v3 --out " + dir).status, 0);
  const std::string args = "run " + dir + " --prompt-ids 256,17,42,99,3 -n 40 --greedy -t 1";
  const CmdResult off = whale(args + " --spec off");
  ASSERT_EQ(off.status, 0) << off.out;
  for (const char* k : {"1", "3"}) {
    const CmdResult on = whale(args + " --spec mtp --spec-k " + k);
    ASSERT_EQ(on.status, 0) << on.out;
    EXPECT_EQ(first_line(on.out), first_line(off.out));
    EXPECT_NE(on.out.find(std::string("spec mtp k=") + k + ": accepted draft 1"), std::string::npos) << on.out;
  }
  // The default for a model with MTP modules is mtp.
  EXPECT_NE(whale(args).out.find("spec mtp k=1"), std::string::npos);
  const CmdResult bench = whale("bench " + dir + " --spec-oracle 0.5 --spec-k 2 -p 8 -n 24 -r 1 -t 1");
  ASSERT_EQ(bench.status, 0) << bench.out;
  EXPECT_NE(bench.out.find("outputs identical to plain decoding: yes"), std::string::npos) << bench.out;
  for (const char* what : {"speedup over --spec off", "acceptance per draft position", "tokens per verify step"}) {
    const size_t at = bench.out.find(what);
    ASSERT_NE(at, std::string::npos) << what;
    const size_t bol = bench.out.rfind('\n', at) + 1;
    EXPECT_EQ(bench.out.compare(bol, 6, "ORACLE"), 0) << "unlabelled line: " << bench.out.substr(bol, at - bol);
  }
  fs::remove_all(dir);
}

TEST(SpecCli, DefaultModelAcceptsMostDraftsAndKeepsItsAnswer) {
  const fs::path model = fs::path(WHALE_TEST_DATA) / ".." / ".." / "models" / "default";
  if (!fs::exists(model / "model.safetensors")) GTEST_SKIP() << "no default model at " << model;
  const std::string args = "run " + model.string() + " -p \"What is 12 plus 30?\" -n 60 --greedy --json -t 1";
  const CmdResult off = whale(args + " --spec off"), on = whale(args + " --spec mtp");
  ASSERT_EQ(off.status, 0) << off.out;
  ASSERT_EQ(on.status, 0) << on.out;
  EXPECT_FALSE(json_line(off.out).empty()) << off.out;
  EXPECT_EQ(json_line(on.out), json_line(off.out));
  const size_t at = on.out.find("accepted draft 1 ");
  ASSERT_NE(at, std::string::npos) << on.out;
  EXPECT_GT(std::stod(on.out.substr(at + 17)), 0.5) << on.out;  // the trained MTP module mostly agrees
}

TEST(SpecCli, RefusesWhatCannotSpeculate) {
  const std::string qwen = temp_dir("spec_qwen"), v3 = temp_dir("spec_v3b");
  ASSERT_EQ(whale("init --preset tiny-qwen2 --out " + qwen).status, 0);
  ASSERT_EQ(whale("init --preset tiny-deepseek-v3 --placeholder-tokenizer --out " + v3).status, 0);
  const CmdResult no_mtp = whale("run " + qwen + " --prompt-ids 1,2,3 -n 4 --spec mtp");
  EXPECT_EQ(no_mtp.status, 1);
  EXPECT_NE(no_mtp.out.find("no MTP modules"), std::string::npos) << no_mtp.out;
  const CmdResult other_tok = whale("run " + qwen + " --prompt-ids 1,2,3 -n 4 --spec draft --draft " + v3);
  EXPECT_EQ(other_tok.status, 1);
  EXPECT_NE(other_tok.out.find("--draft"), std::string::npos) << other_tok.out;
  const CmdResult no_draft = whale("run " + qwen + " --prompt-ids 1,2,3 -n 4 --spec draft");
  EXPECT_EQ(no_draft.status, 1);
  EXPECT_NE(no_draft.out.find("needs --draft MODEL"), std::string::npos) << no_draft.out;
  // The same tokenizer drafts fine (the model drafting for itself), output unchanged.
  const std::string args = "run " + qwen + " --prompt-ids 1,2,3 -n 20 --greedy -t 1";
  const CmdResult self = whale(args + " --spec draft --spec-k 2 --draft " + qwen);
  ASSERT_EQ(self.status, 0) << self.out;
  EXPECT_EQ(first_line(self.out), first_line(whale(args).out));
  EXPECT_NE(self.out.find("accepted draft 1 1.000"), std::string::npos) << self.out;
  fs::remove_all(qwen);
  fs::remove_all(v3);
}

}  // namespace
