// `n` > 1 over real HTTP: each choice equals a single request with the derived seed (seed + i),
// greedy choices are identical, usage counts the prompt once, the later choices reuse choice 0's
// prompt blocks from the prefix cache, and a stream's chunks carry their choice's index.
#include <gtest/gtest.h>

#include <set>

#include "live_server.h"

namespace whale::server::testing {
namespace {

json request(const std::string& content, int max_tokens, uint64_t seed) {
  return {{"model", "deepseek-reasoner"}, {"messages", {{{"role", "user"}, {"content", content}}}},
          {"max_tokens", max_tokens}, {"ignore_eos", true}, {"temperature", 0.9}, {"seed", seed},
          {"thinking_budget", 4}};
}

TEST(Choices, EachChoiceEqualsASingleRequestWithTheDerivedSeed) {
  LiveServer s;
  json body = request("Tell me three things about whales.", 12, 40);
  body["n"] = 3;
  const json r = post_ok(s, "/v1/chat/completions", body);
  ASSERT_EQ(r["choices"].size(), 3u) << r.dump();
  std::set<std::string> distinct;
  int64_t prompt = 0;
  for (size_t i = 0; i < 3; ++i) {
    const json one = post_ok(s, "/v1/chat/completions", request("Tell me three things about whales.", 12, 40 + i));
    EXPECT_EQ(r["choices"][i]["index"], i);
    EXPECT_EQ(r["choices"][i]["message"], one["choices"][0]["message"]) << "choice " << i;
    EXPECT_EQ(r["choices"][i]["finish_reason"], "length");
    distinct.insert(r["choices"][i]["message"].dump());
    prompt = one["usage"]["prompt_tokens"];
  }
  EXPECT_EQ(distinct.size(), 3u);  // different seeds, different samples
  EXPECT_EQ(r["usage"]["prompt_tokens"], prompt) << "the prompt counts once";
  EXPECT_EQ(r["usage"]["completion_tokens"], 36);
  EXPECT_EQ(r["usage"]["total_tokens"], prompt + 36);
}

TEST(Choices, GreedyChoicesAreIdenticalAndShareThePromptBlocks) {
  LiveServer s;
  std::string text;
  for (int i = 0; i < 12; ++i) text += "whales sing ";
  json body = request(text, 6, 1);
  body["temperature"] = 0;
  body["n"] = 3;
  const int64_t cached_before = s.loop().stats().cached_prompt_tokens;
  const json r = post_ok(s, "/v1/chat/completions", body);
  ASSERT_EQ(r["choices"].size(), 3u);
  EXPECT_EQ(r["choices"][0]["message"], r["choices"][1]["message"]);
  EXPECT_EQ(r["choices"][0]["message"], r["choices"][2]["message"]);
  // Choices 1 and 2 found choice 0's full blocks (16 tokens each; one token is always computed).
  const int64_t prompt = r["usage"]["prompt_tokens"];
  ASSERT_GE(prompt, 33);
  const int64_t reused = s.loop().stats().cached_prompt_tokens - cached_before;
  EXPECT_GE(reused, 2 * ((prompt - 1) / 16) * 16) << "prompt " << prompt;
  EXPECT_EQ(r["usage"]["prompt_cache_hit_tokens"], 0) << "usage is choice 0's prompt, computed fresh";
}

TEST(Choices, StreamChunksCarryTheirIndex) {
  LiveServer s;
  for (const bool chat : {true, false}) {
    json body = chat ? request("Count to five.", 10, 9)
                     : json{{"prompt", "Once upon a time"}, {"max_tokens", 10}, {"ignore_eos", true}, {"seed", 9}};
    body["n"] = 2;
    const std::string path = chat ? "/v1/chat/completions" : "/v1/completions";
    const json whole = post_ok(s, path, body);
    body["stream"] = true;
    body["stream_options"] = {{"include_usage", true}};
    const SseResult st = post_stream(s.port(), path, body);
    ASSERT_EQ(st.status, 200);
    ASSERT_TRUE(st.done);
    std::vector<std::string> answer(2), reasoning(2);
    std::vector<int> finishes(2, 0);
    json usage;
    for (const json& c : st.chunks) {
      if (c.contains("usage") && !c["usage"].is_null()) usage = c["usage"];
      if (c["choices"].empty()) continue;
      ASSERT_EQ(c["choices"].size(), 1u);
      const json& ch = c["choices"][0];
      const size_t i = ch["index"];
      ASSERT_LT(i, 2u) << c.dump();
      if (!ch["finish_reason"].is_null()) ++finishes[i];
      if (!chat) {
        answer[i] += ch["text"].get<std::string>();
      } else {
        answer[i] += ch["delta"].value("content", "");
        reasoning[i] += ch["delta"].value("reasoning_content", "");
      }
    }
    for (size_t i = 0; i < 2; ++i) {
      EXPECT_EQ(finishes[i], 1) << "choice " << i;
      const json& want = whole["choices"][i];
      if (chat) {
        EXPECT_EQ(answer[i], want["message"]["content"]) << "choice " << i;
        EXPECT_EQ(reasoning[i], want["message"]["reasoning_content"]) << "choice " << i;
      } else {
        EXPECT_EQ(answer[i], want["text"]) << "choice " << i;
      }
    }
    EXPECT_EQ(usage["completion_tokens"], whole["usage"]["completion_tokens"]);
    EXPECT_EQ(usage["completion_tokens"], 20);
  }
  EXPECT_TRUE(s.wait_idle());
}

}  // namespace
}  // namespace whale::server::testing
