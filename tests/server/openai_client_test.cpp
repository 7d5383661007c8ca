// The official `openai` npm client (pinned in tests/server/npm) against a live server: runs
// tests/server/npm/openai_client.mjs under node, which checks streams, reasoning, usage and errors.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>

#include "live_server.h"

namespace whale::server::testing {
namespace {

TEST(OpenAiClient, NodeClientAgainstLiveServer) {
  const std::string npm = std::string(WHALE_TEST_DATA) + "/../server/npm";
  ASSERT_TRUE(std::filesystem::exists(npm + "/node_modules/openai/package.json"))
      << "the openai npm client is not installed in " << npm << ": run scripts/npm_setup.sh first";
  LiveServer s;
  const std::vector<tokenizer::ChatMessage> hello = {{"user", "Hello there, how are you?", std::nullopt}};
  const std::string cmd = "node " + npm + "/openai_client.mjs " + s.url() + "/v1 " +
                          std::to_string(prompt_tokens(hello, true)) + " " + std::to_string(prompt_tokens(hello, false)) +
                          " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int rc = ::pclose(p);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("all checks passed"), std::string::npos) << out;
}

}  // namespace
}  // namespace whale::server::testing
