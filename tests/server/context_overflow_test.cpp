// The server at the context limit: a prompt that does not fit is a 400 in OpenAI's shape naming
// the limits (prompt tokens, max_tokens, context); a prompt that fits runs until the context is
// full and finishes with "length" (whole and streamed, many at once); the server keeps serving.
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "live_server.h"

namespace whale::server::testing {
namespace {

constexpr int64_t kContext = 128;

json ids_prompt(int n) {
  json ids = json::array();
  for (int i = 0; i < n; ++i) ids.push_back(65 + i % 26);  // byte tokens of the tiny tokenizer
  return ids;
}

json expect_400(LiveServer& s, const std::string& path, const json& body, const std::string& param) {
  auto res = s.client()->Post(path, body.dump(), "application/json");
  EXPECT_TRUE(res);
  if (!res) return {};
  EXPECT_EQ(res->status, 400) << res->body;
  const json e = json::parse(res->body)["error"];
  EXPECT_EQ(e["type"], "invalid_request_error") << res->body;
  EXPECT_EQ(e["param"], param) << res->body;
  EXPECT_EQ(e["code"], "context_length_exceeded") << res->body;
  return e;
}

TEST(ContextOverflow, APromptOverTheContextIsA400NamingEveryLimit) {
  LiveServer s({.context = kContext});
  std::string text;
  for (int i = 0; i < 100; ++i) text += "word ";
  const std::vector<tokenizer::ChatMessage> messages = {{"user", text, std::nullopt}};
  const int64_t n = prompt_tokens(messages, /*thinking=*/true);
  ASSERT_GE(n, kContext);
  const json body = {{"messages", {{{"role", "user"}, {"content", text}}}}, {"max_tokens", 16}};
  const json e = expect_400(s, "/v1/chat/completions", body, "messages");
  EXPECT_EQ(e["message"], "This model's maximum context length is 128 tokens, but the messages take " + std::to_string(n) +
                              " tokens (the context must also hold at least one generated token; max_tokens asks for "
                              "16). Please reduce the length of the messages.");
  // Without max_tokens the message names only the two sizes.
  json no_limit = body;
  no_limit.erase("max_tokens");
  const json e2 = expect_400(s, "/v1/chat/completions", no_limit, "messages");
  EXPECT_EQ(e2["message"].get<std::string>().find("max_tokens"), std::string::npos) << e2;
  // Token ids on /v1/completions: 128 ids is one too many, 127 fit and leave room for one token.
  const json e3 = expect_400(s, "/v1/completions", {{"prompt", ids_prompt(128)}, {"max_tokens", 5}}, "prompt");
  EXPECT_NE(e3["message"].get<std::string>().find("the prompt takes 128 tokens"), std::string::npos) << e3;
  EXPECT_NE(e3["message"].get<std::string>().find("max_tokens asks for 5"), std::string::npos) << e3;
  const json one = post_ok(s, "/v1/completions", {{"prompt", ids_prompt(127)}, {"max_tokens", 5}, {"ignore_eos", true}});
  EXPECT_EQ(one["usage"]["prompt_tokens"], 127) << one;
  EXPECT_EQ(one["usage"]["completion_tokens"], 1) << one;
  EXPECT_EQ(one["choices"][0]["finish_reason"], "length") << one;
  // llama-server's /completion names n_predict.
  const json e4 = expect_400(s, "/completion", {{"prompt", ids_prompt(200)}, {"n_predict", 7}}, "prompt");
  EXPECT_EQ(e4["message"], "the prompt takes 200 tokens; the context holds 128 (with at least one generated token; "
                           "n_predict asks for 7)");
  // Still serving.
  EXPECT_EQ(s.client()->Get("/health")->status, 200);
  const json ok = post_ok(s, "/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"max_tokens", 3}});
  EXPECT_EQ(ok["object"], "chat.completion");
  EXPECT_TRUE(s.wait_idle());
}

// max_tokens past the room left: the answer stops where the context is full, finish_reason
// "length", prompt + completion = the context exactly. Whole, streamed and llama's /completion.
TEST(ContextOverflow, GenerationThatReachesTheContextEndStopsWithLength) {
  LiveServer s({.context = kContext});
  const json body = {{"prompt", ids_prompt(100)}, {"max_tokens", 100000}, {"ignore_eos", true}, {"seed", 1}};
  const json whole = post_ok(s, "/v1/completions", body);
  EXPECT_EQ(whole["choices"][0]["finish_reason"], "length") << whole;
  EXPECT_EQ(whole["usage"]["prompt_tokens"], 100);
  EXPECT_EQ(whole["usage"]["completion_tokens"], kContext - 100);

  json streamed = body;
  streamed["stream"] = true;
  streamed["stream_options"] = {{"include_usage", true}};
  const SseResult st = post_stream(s.port(), "/v1/completions", streamed);
  ASSERT_EQ(st.status, 200) << st.body;
  ASSERT_TRUE(st.done) << st.body;
  ASSERT_GE(st.chunks.size(), 2u);
  EXPECT_EQ(st.chunks[st.chunks.size() - 2]["choices"][0]["finish_reason"], "length") << st.body;
  EXPECT_EQ(st.chunks.back()["usage"]["completion_tokens"], kContext - 100) << st.body;

  const json chat = post_ok(s, "/v1/chat/completions",
                            {{"messages", {{{"role", "user"}, {"content", "tell me a long story"}}}}, {"ignore_eos", true}});
  EXPECT_EQ(chat["choices"][0]["finish_reason"], "length") << chat;
  EXPECT_EQ(chat["usage"]["prompt_tokens"].get<int64_t>() + chat["usage"]["completion_tokens"].get<int64_t>(), kContext);

  const json llama = post_ok(s, "/completion", {{"prompt", ids_prompt(90)}, {"n_predict", -1}, {"ignore_eos", true}});
  EXPECT_EQ(llama["stop_type"], "limit") << llama;
  EXPECT_EQ(llama["truncated"], true) << llama;
  EXPECT_EQ(llama["tokens_evaluated"].get<int64_t>() + llama["tokens_predicted"].get<int64_t>(), kContext) << llama;
  EXPECT_TRUE(s.wait_idle());
}

// Twelve requests at once, each running to the context end, on 4 slots whose KV blocks cannot hold
// four full contexts at a time: every one finishes with "length" and the full count of tokens.
TEST(ContextOverflow, ManyRequestsAtTheContextEndAllFinish) {
  LiveServer s({.max_seqs = 4, .context = kContext});
  std::vector<json> replies(12);
  std::vector<std::thread> clients;
  for (int i = 0; i < 12; ++i) {
    clients.emplace_back([&, i] {
      auto res = s.client()->Post("/v1/completions",
                                  json{{"prompt", ids_prompt(20 + 7 * i)}, {"max_tokens", 1000}, {"ignore_eos", true}, {"seed", i}}.dump(),
                                  "application/json");
      if (res && res->status == 200) replies[static_cast<size_t>(i)] = json::parse(res->body);
    });
  }
  for (auto& t : clients) t.join();
  for (int i = 0; i < 12; ++i) {
    const json& r = replies[static_cast<size_t>(i)];
    ASSERT_TRUE(r.contains("choices")) << i;
    EXPECT_EQ(r["choices"][0]["finish_reason"], "length") << r;
    EXPECT_EQ(r["usage"]["completion_tokens"], kContext - (20 + 7 * i)) << r;
  }
  EXPECT_TRUE(s.wait_idle());
}

}  // namespace
}  // namespace whale::server::testing
