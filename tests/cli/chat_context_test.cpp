// `whale chat` at the context limit: many turns through a tiny context drop the oldest exchanges
// (whole user/assistant pairs, the system prompt kept) with a notice; a message that alone does
// not fit is refused with a clear message and the chat goes on; on a terminal it asks first.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>

#include "cli_util.h"

namespace whale {
namespace {

namespace fs = std::filesystem;
using cli_testing::CmdResult;
using cli_testing::temp_dir;
using cli_testing::whale;

class ChatContext : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = temp_dir("chatctx");
    ASSERT_EQ(whale("init --preset tiny-deepseek-v3 --out " + dir_).status, 0);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string dir_;
};

// 30 turns through a 160-token context with 8-token answers: the room for the prompt is
// 160 - min(8, 80) = 152 tokens, so every notice goes from above 152 to at most 152 tokens, and
// what /save keeps is the system prompt then the newest exchanges, in order, ending with the last.
TEST_F(ChatContext, PipedChatDropsTheOldestExchangesAndKeepsTheSystemPrompt) {
  std::string script;
  for (int i = 0; i < 30; ++i) script += "question " + std::to_string(i) + " about whales\n";
  const std::string saved = dir_ + "/conversation.json";
  script += "/save " + saved + "\n/exit\n";
  const CmdResult r = whale("chat " + dir_ + " --ctx 160 --max-tokens 8 --seed 3 -t 1 --no-think --system 'Be brief.' "
                            "< /dev/stdin <<'EOF'\n" + script + "EOF");
  ASSERT_EQ(r.status, 0) << r.out;
  const std::regex notice(R"(\(dropped the oldest (\d+) of (\d+) exchanges to fit the context of 160 tokens: (\d+) -> (\d+) tokens\))");
  int notices = 0;
  for (auto it = std::sregex_iterator(r.out.begin(), r.out.end(), notice); it != std::sregex_iterator(); ++it) {
    ++notices;
    const int dropped = std::stoi((*it)[1]), total = std::stoi((*it)[2]);
    const int before = std::stoi((*it)[3]), after = std::stoi((*it)[4]);
    EXPECT_GE(dropped, 1);
    EXPECT_LT(dropped, total);  // the newest exchanges stay when they fit
    EXPECT_GT(before, 152) << it->str();
    EXPECT_LE(after, 152) << it->str();
  }
  EXPECT_GE(notices, 5) << r.out;
  const nlohmann::json j = nlohmann::json::parse(testing::read_bytes(saved));
  ASSERT_GE(j.size(), 3u) << j;
  EXPECT_EQ(j[0]["role"], "system");
  EXPECT_EQ(j[0]["content"], "Be brief.");
  ASSERT_EQ(j.size() % 2, 1u) << j;  // system + whole exchanges
  const int first = std::stoi(j[1]["content"].get<std::string>().substr(9));
  EXPECT_GT(first, 0) << j;  // the first question is gone
  for (size_t k = 1; k < j.size(); k += 2) {
    EXPECT_EQ(j[k]["role"], "user");
    EXPECT_EQ(j[k]["content"], "question " + std::to_string(first + static_cast<int>(k / 2)) + " about whales");
    EXPECT_EQ(j[k + 1]["role"], "assistant");
  }
  EXPECT_EQ(j[j.size() - 2]["content"], "question 29 about whales");
}

// A message longer than the whole context is refused (nothing dropped for it); the next one is
// answered as usual. With --ctx 64 and a 200-word message there is no room at all.
TEST_F(ChatContext, AMessageThatAloneDoesNotFitIsRefusedAndTheChatGoesOn) {
  std::string big;
  for (int i = 0; i < 200; ++i) big += "word ";
  const std::string saved = dir_ + "/conversation.json";
  const CmdResult r = whale("chat " + dir_ + " --ctx 64 --max-tokens 4 --seed 3 -t 1 --no-think < /dev/stdin <<'EOF'\n"
                            "hello\n" + big + "\nafter the long one\n/save " + saved + "\n/exit\nEOF");
  ASSERT_EQ(r.status, 0) << r.out;
  const std::regex refused(R"(\(this message takes (\d+) tokens with the chat template; the context holds 64: it was not sent\. )"
                           R"(Shorten it, or start whale chat with a larger --ctx\))");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, refused)) << r.out;
  EXPECT_GE(std::stoi(m[1]), 200);  // at least one token per word
  const nlohmann::json j = nlohmann::json::parse(testing::read_bytes(saved));
  ASSERT_EQ(j.size(), 4u) << j;
  EXPECT_EQ(j[0]["content"], "hello");
  EXPECT_EQ(j[2]["content"], "after the long one");
}

// On a terminal (util-linux `script` gives the chat a pseudo-terminal) the chat asks before it
// drops anything. Every line typed is "n": read at the prompt it is a message, read at the
// question it keeps the conversation, until a message no longer fits at all and is not sent.
// Which of those turns come depends on the lengths of the sampled replies, so the attention is
// pinned to the f32 kernel (WHALE_BF16_ATTN=0): the same replies on every CPU.
TEST_F(ChatContext, OnATerminalItAsksFirst) {
  if (std::system("script --version > /dev/null 2>&1") != 0) GTEST_SKIP() << "no util-linux script";
  const CmdResult r =
      cli_testing::run("yes n | head -40 | WHALE_BF16_ATTN=0 timeout 300 script -qec '" + std::string(WHALE_BINARY) +
                       " chat " + dir_ + " --ctx 64 --max-tokens 24 --seed 3 -t 1 --no-think' /dev/null");
  EXPECT_NE(r.out.find("exchanges? [Y/n])"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("(kept the whole conversation; the answer stops where the context fills)"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("(without dropping, this message does not fit the context of 64 tokens: it was not sent)"),
            std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("(dropped the oldest"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace whale
