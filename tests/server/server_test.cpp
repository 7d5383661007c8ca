// The API over real HTTP on loopback: chat and text completions whole and streamed (structure,
// reasoning vs answer, usage against the tokenizer and max_tokens), the thinking switch and
// budget, prefix-cache hits, models/health/metrics/page, and every error status.
#include <gtest/gtest.h>

#include "live_server.h"

namespace whale::server::testing {
namespace {

const std::vector<tokenizer::ChatMessage> kHello = {{"user", "Hello there, how are you?", std::nullopt}};

json chat_body(const std::string& model, int max_tokens) {
  return {{"model", model}, {"messages", {{{"role", "user"}, {"content", "Hello there, how are you?"}}}},
          {"max_tokens", max_tokens}, {"ignore_eos", true}, {"temperature", 0.7}, {"seed", 7}};
}

json post(LiveServer& s, const std::string& path, const json& body, int expect_status) {
  auto res = s.client()->Post(path, body.dump(), "application/json");
  EXPECT_TRUE(res) << path;
  if (!res) return {};
  EXPECT_EQ(res->status, expect_status) << res->body;
  if (res->status != expect_status) throw std::runtime_error("unexpected status");
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
  return json::parse(res->body);
}

void expect_usage(const json& u, int64_t prompt, int64_t completion) {
  EXPECT_EQ(u["prompt_tokens"], prompt);
  EXPECT_EQ(u["completion_tokens"], completion);
  EXPECT_EQ(u["total_tokens"], prompt + completion);
  EXPECT_LE(u["completion_tokens_details"]["reasoning_tokens"].get<int64_t>(), completion);
  const int64_t cached = u["prompt_tokens_details"]["cached_tokens"];
  EXPECT_EQ(u["prompt_cache_hit_tokens"], cached);
  EXPECT_EQ(u["prompt_cache_miss_tokens"], prompt - cached);
}

TEST(Server, ChatCompletionWhole) {
  LiveServer s;
  const json r = post(s, "/v1/chat/completions", chat_body("deepseek-reasoner", 24), 200);
  EXPECT_EQ(r["object"], "chat.completion");
  EXPECT_EQ(r["model"], "deepseek-reasoner");
  EXPECT_EQ(r["id"].get<std::string>().rfind("chatcmpl-", 0), 0u);
  EXPECT_TRUE(r["created"].is_number_integer());
  ASSERT_EQ(r["choices"].size(), 1u);
  const json& c = r["choices"][0];
  EXPECT_EQ(c["finish_reason"], "length");
  EXPECT_EQ(c["message"]["role"], "assistant");
  EXPECT_TRUE(c["message"]["content"].is_string());
  // R1's template opens <think>: the reply starts in the reasoning.
  EXPECT_FALSE(c["message"]["reasoning_content"].get<std::string>().empty());
  expect_usage(r["usage"], prompt_tokens(kHello, true), 24);
  EXPECT_GT(r["usage"]["completion_tokens_details"]["reasoning_tokens"].get<int64_t>(), 0);
}

TEST(Server, ThinkingOffHasNoReasoning) {
  LiveServer s;
  for (const json& body : {chat_body("deepseek-chat", 10), [] {
         json b = chat_body("tiny", 10);
         b["thinking"] = {{"type", "disabled"}};
         return b;
       }(), [] {
         json b = chat_body("deepseek-reasoner", 10);
         b["enable_thinking"] = false;
         return b;
       }()}) {
    const json r = post(s, "/v1/chat/completions", body, 200);
    EXPECT_FALSE(r["choices"][0]["message"].contains("reasoning_content")) << body.dump();
    expect_usage(r["usage"], prompt_tokens(kHello, false), 10);
    EXPECT_EQ(r["usage"]["completion_tokens_details"]["reasoning_tokens"], 0);
  }
}

TEST(Server, StreamSeparatesReasoningAndAnswer) {
  LiveServer s;
  json body = chat_body("deepseek-reasoner", 40);
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};
  body["thinking_budget"] = 6;  // forces </think>, so both streams appear
  const SseResult r = post_stream(s.port(), "/v1/chat/completions", body);
  ASSERT_EQ(r.status, 200);
  ASSERT_TRUE(r.done);
  ASSERT_GE(r.chunks.size(), 4u);
  EXPECT_EQ(r.chunks[0]["choices"][0]["delta"]["role"], "assistant");
  std::string reasoning, answer;
  std::string finish;
  for (size_t i = 0; i + 1 < r.chunks.size(); ++i) {
    const json& c = r.chunks[i];
    EXPECT_EQ(c["object"], "chat.completion.chunk");
    EXPECT_EQ(c["id"], r.chunks[0]["id"]);
    ASSERT_EQ(c["choices"].size(), 1u);
    const json& d = c["choices"][0]["delta"];
    EXPECT_FALSE(d.contains("reasoning_content") && d.contains("content") && i > 0) << c.dump();
    if (d.contains("reasoning_content")) reasoning += d["reasoning_content"].get<std::string>();
    if (d.contains("content")) answer += d["content"].get<std::string>();
    if (!c["choices"][0]["finish_reason"].is_null()) finish = c["choices"][0]["finish_reason"];
  }
  EXPECT_FALSE(reasoning.empty());
  EXPECT_FALSE(answer.empty());
  EXPECT_EQ(finish, "length");
  const json& last = r.chunks.back();
  EXPECT_TRUE(last["choices"].empty());
  expect_usage(last["usage"], prompt_tokens(kHello, true), 40);
  const int64_t rt = last["usage"]["completion_tokens_details"]["reasoning_tokens"];
  EXPECT_GE(rt, 6);
  EXPECT_LT(rt, 40);
}

TEST(Server, StopsAtEosWithStopReason) {
  LiveServer s;
  json body = chat_body("deepseek-chat", 5);
  body.erase("ignore_eos");
  body["logit_bias"] = {{std::to_string(*TinyModel::get().tok.eos_id()), 100}};  // EOS at once
  const json r = post(s, "/v1/chat/completions", body, 200);
  EXPECT_EQ(r["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(r["usage"]["completion_tokens"], 1);
  EXPECT_EQ(r["choices"][0]["message"]["content"], "");
}

TEST(Server, TextCompletions) {
  LiveServer s;
  json body = {{"model", "tiny"}, {"prompt", "Once upon a time"}, {"max_tokens", 8}, {"ignore_eos", true}};
  const json r = post(s, "/v1/completions", body, 200);
  EXPECT_EQ(r["object"], "text_completion");
  EXPECT_TRUE(r["choices"][0]["text"].is_string());
  const auto n = static_cast<int64_t>(TinyModel::get().tok.encode("Once upon a time", {.parse_special = false}).size());
  expect_usage(r["usage"], n, 8);
  body["stream"] = true;
  const SseResult st = post_stream(s.port(), "/v1/completions", body);
  ASSERT_TRUE(st.done);
  EXPECT_EQ(st.chunks.back()["choices"][0]["finish_reason"], "length");
  for (const json& c : st.chunks) EXPECT_TRUE(c["choices"][0]["text"].is_string());
}

TEST(Server, RepeatedSystemPromptIsACacheHit) {
  LiveServer s({.context = 2048});
  std::string system;
  for (int i = 0; i < 20; ++i) system += "You are a careful assistant who answers briefly. ";
  json body = {{"model", "deepseek-chat"}, {"max_tokens", 2}, {"ignore_eos", true},
               {"messages", {{{"role", "system"}, {"content", system}}, {{"role", "user"}, {"content", "first"}}}}};
  const json a = post(s, "/v1/chat/completions", body, 200);
  EXPECT_EQ(a["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
  body["messages"][1]["content"] = "second question";
  const json b = post(s, "/v1/chat/completions", body, 200);
  const int64_t cached = b["usage"]["prompt_tokens_details"]["cached_tokens"];
  const int64_t prompt = b["usage"]["prompt_tokens"];
  // Every full 16-token block of the shared part (BOS + the system prompt) comes from the cache.
  const auto sys_tokens = static_cast<int64_t>(TinyModel::get().tok.encode(system, {.add_special = false}).size());
  EXPECT_GE(cached, (sys_tokens + 1) / 16 * 16 - 16);
  EXPECT_GT(cached, 200);
  EXPECT_LT(cached, prompt);
  EXPECT_EQ(cached % 16, 0);  // whole KV blocks
  expect_usage(b["usage"], prompt, 2);
}

TEST(Server, ModelsHealthMetricsPage) {
  LiveServer s;
  auto c = s.client();
  auto models = c->Get("/v1/models");
  ASSERT_TRUE(models);
  const json m = json::parse(models->body);
  std::vector<std::string> ids;
  for (const json& e : m["data"]) ids.push_back(e["id"]);
  EXPECT_EQ(ids, (std::vector<std::string>{"tiny", "deepseek-chat", "deepseek-reasoner"}));
  EXPECT_EQ(c->Get("/v1/models/deepseek-chat")->status, 200);
  EXPECT_EQ(c->Get("/v1/models/gpt-4")->status, 404);
  EXPECT_EQ(json::parse(c->Get("/health")->body)["status"], "ok");
  auto page = c->Get("/");
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->body.find("id=\"deepthink\""), std::string::npos);  // the embedded chat page
  post(s, "/v1/chat/completions", chat_body("tiny", 3), 200);
  // Requests are counted once their reply is written, which may be just after the client has it.
  const std::string counted = "whale_http_requests_total{route=\"/v1/chat/completions\",status=\"200\"} 1";
  std::string metrics;
  for (int i = 0; i < 100 && metrics.find(counted) == std::string::npos; ++i) {
    if (i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    metrics = c->Get("/metrics")->body;
  }
  EXPECT_NE(metrics.find(counted), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("whale_generated_tokens_total 3"), std::string::npos);
  EXPECT_NE(metrics.find("whale_requests_running 0"), std::string::npos);
  EXPECT_NE(metrics.find("whale_requests_queued 0"), std::string::npos);
  EXPECT_NE(metrics.find("whale_prefix_cache_hit_ratio"), std::string::npos);
  EXPECT_NE(metrics.find("whale_generation_tokens_per_second"), std::string::npos);
}

void expect_error(LiveServer& s, const std::string& body, int status, const std::string& param = "",
                  const std::string& in_message = "") {
  auto res = s.client()->Post("/v1/chat/completions", body, "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, status) << body << " -> " << res->body;
  const json e = json::parse(res->body)["error"];
  EXPECT_TRUE(e["message"].is_string());
  EXPECT_TRUE(e["type"].is_string());
  EXPECT_TRUE(e.contains("code"));
  if (!param.empty()) {
    EXPECT_EQ(e["param"], param) << res->body;
  }
  if (!in_message.empty()) {
    EXPECT_NE(e["message"].get<std::string>().find(in_message), std::string::npos) << res->body;
  }
}

TEST(Server, Errors) {
  LiveServer s({.context = 128});
  const std::string msgs = R"("messages": [{"role": "user", "content": "hi"}])";
  expect_error(s, "{not json", 400);
  expect_error(s, "[1, 2]", 400);
  expect_error(s, R"({"messages": "hi"})", 400, "messages");
  expect_error(s, "{" + msgs + R"(, "temperature": "hot"})", 400, "temperature");
  expect_error(s, "{" + msgs + R"(, "max_tokens": 1.5})", 400, "max_tokens");
  expect_error(s, "{" + msgs + R"(, "stop": [1]})", 400, "stop");
  expect_error(s, "{" + msgs + R"(, "stream": "yes"})", 400, "stream");
  expect_error(s, "{" + msgs + R"(, "n": 9})", 400, "n");
  expect_error(s, "{" + msgs + R"(, "n": 0})", 400, "n");
  expect_error(s, "{" + msgs + R"(, "top_p": 0})", 400, "", "top_p");
  expect_error(s, "{" + msgs + R"(, "logit_bias": {"abc": 1}})", 400, "logit_bias");
  expect_error(s, "{" + msgs + R"(, "thinking": {"type": "maybe"}})", 400, "thinking");
  expect_error(s, R"({"messages": [{"role": "wizard", "content": "hi"}]})", 400, "messages[0].role");
  expect_error(s, "{" + msgs + R"(, "model": "gpt-4o"})", 404, "model");
  expect_error(s, R"({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "a", "reasoning_content": 5}, {"role": "user", "content": "b"}]})",
               400, "messages[1].reasoning_content");
  std::string longtext;
  for (int i = 0; i < 200; ++i) longtext += "word ";
  expect_error(s, R"({"messages": [{"role": "user", "content": ")" + longtext + R"("}]})", 400, "messages", "128");

  auto c = s.client();
  auto r404 = c->Get("/v1/nothing");
  EXPECT_EQ(r404->status, 404);
  EXPECT_TRUE(json::parse(r404->body).contains("error"));
  auto r405 = c->Get("/v1/chat/completions");
  EXPECT_EQ(r405->status, 405);
  EXPECT_TRUE(json::parse(r405->body).contains("error"));
  auto r413 = c->Post("/v1/chat/completions", std::string(2 << 20, ' '), "application/json");
  ASSERT_TRUE(r413);
  EXPECT_EQ(r413->status, 413);
  EXPECT_TRUE(json::parse(r413->body).contains("error"));
  EXPECT_TRUE(s.wait_idle());
}

TEST(Server, ApiKey) {
  LiveServer s({.api_key = "sekrit"});
  auto c = s.client();
  const std::string body = chat_body("tiny", 2).dump();
  auto none = c->Post("/v1/chat/completions", body, "application/json");
  EXPECT_EQ(none->status, 401);
  EXPECT_EQ(json::parse(none->body)["error"]["code"], "invalid_api_key");
  auto wrong = c->Post("/v1/chat/completions", {{"Authorization", "Bearer nope"}}, body, "application/json");
  EXPECT_EQ(wrong->status, 401);
  EXPECT_EQ(c->Get("/v1/models")->status, 401);
  EXPECT_EQ(c->Get("/health")->status, 200);  // liveness needs no key
  auto ok = c->Post("/v1/chat/completions", {{"Authorization", "Bearer sekrit"}}, body, "application/json");
  EXPECT_EQ(ok->status, 200);
}

TEST(Server, FullQueueIs429) {
  LiveServer s({.max_pending = 1});
  json body = chat_body("tiny", 100000);
  body["stream"] = true;
  std::thread slow([&] { post_stream(s.port(), "/v1/chat/completions", body, /*hang_up_after=*/200); });
  while (s.loop().stats().pending == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  auto res = s.client()->Post("/v1/chat/completions", chat_body("tiny", 2).dump(), "application/json");
  slow.join();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 429);
  EXPECT_EQ(json::parse(res->body)["error"]["code"], "rate_limit_exceeded");
  EXPECT_EQ(res->get_header_value("Retry-After"), "1");
  EXPECT_TRUE(s.wait_idle());  // the hung-up stream was cancelled
  EXPECT_EQ(s.client()->Post("/v1/chat/completions", chat_body("tiny", 2).dump(), "application/json")->status, 200);
}

}  // namespace
}  // namespace whale::server::testing
