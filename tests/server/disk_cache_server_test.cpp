// The on-disk prefix cache through the HTTP API: a server restarted over the same --cache-dir answers
// the same long chat request with the same text (greedy) and reports the prompt's full blocks as
// cached in both usage fields (prompt_cache_hit_tokens and prompt_tokens_details.cached_tokens).
#include <gtest/gtest.h>

#include <filesystem>

#include "../test_files.h"
#include "live_server.h"

namespace whale::server::testing {
namespace {

json long_chat() {
  std::string text;
  for (int i = 0; i < 40; ++i) text += "The whale sings line " + std::to_string(i) + " of its long song. ";
  return {{"model", "tiny"},
          {"messages", json::array({{{"role", "user"}, {"content", text}}})},
          {"max_tokens", 12},
          {"ignore_eos", true},
          {"temperature", 0},
          {"thinking", {{"type", "disabled"}}}};
}

TEST(DiskCacheServer, ARestartedServerReadsThePromptBackAndAnswersTheSame) {
  const std::string dir = ::whale::testing::fresh_temp_path("disk_cache").string();
  json first, second;
  {
    LiveServer s({.context = 1024, .cache_dir = dir});
    first = post_ok(s, "/v1/chat/completions", long_chat());
  }
  {
    LiveServer s({.context = 1024, .cache_dir = dir});  // the restart: an empty in-memory cache
    second = post_ok(s, "/v1/chat/completions", long_chat());
  }
  std::filesystem::remove_all(dir);
  const int64_t prompt = first["usage"]["prompt_tokens"];
  ASSERT_GT(prompt, 200);
  EXPECT_EQ(first["usage"]["prompt_cache_hit_tokens"], 0);
  EXPECT_EQ(second["usage"]["prompt_tokens"], prompt);
  // Every full 16-position block below the last prompt token came from disk.
  const int64_t cached = (prompt - 1) / 16 * 16;
  EXPECT_EQ(second["usage"]["prompt_cache_hit_tokens"], cached);
  EXPECT_EQ(second["usage"]["prompt_cache_miss_tokens"], prompt - cached);
  EXPECT_EQ(second["usage"]["prompt_tokens_details"]["cached_tokens"], cached);
  EXPECT_EQ(second["choices"][0]["message"]["content"], first["choices"][0]["message"]["content"]);
  EXPECT_EQ(first["usage"]["completion_tokens"], 12);
}

}  // namespace
}  // namespace whale::server::testing
