// logprobs / top_logprobs over real HTTP, against an oracle: the log-softmax of the full logits of
// the same tokens recomputed by a plain contiguous-cache forward (what `whale logits` prints),
// greedy-decoded independently of the engine. Also the streamed pieces against the whole reply,
// the completions shape, and the errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/thread_pool.h"
#include "kernels/attention_bf16.h"
#include "live_server.h"
#include "model/forward.h"
#include "model/kv_cache.h"

namespace whale::server::testing {
namespace {

const std::vector<tokenizer::ChatMessage> kHello = {{"user", "Hello there, how are you?", std::nullopt}};

// The engine decodes with absorbed MLA and the oracle below prefills with naive MLA: on a bf16 KV
// cache the two agree to ~1e-5 on the f32 attention kernel, while the AVX-512 BF16 kernel (bf16
// queries and weights) moves a log-probability by ~2e-3, this file's tolerance. The tests that
// compare with the oracle run on the f32 kernel; attention_bf16_test.cpp and kv_bf16_test.cpp bound
// the BF16 kernel's error.
struct F32Attention {
  F32Attention() : was(kernels::attention_bf16::on()) { kernels::attention_bf16::set_enabled(false); }
  ~F32Attention() { kernels::attention_bf16::set_enabled(was); }
  bool was;
};

// log-softmax of the next-token logits after `ids`, non-token ids masked (as the engine does).
std::vector<double> oracle_logprobs(const std::vector<int32_t>& ids) {
  const TinyModel& m = TinyModel::get();
  core::ThreadPool pool(1);
  model::ContiguousKvCache cache(m.weights.args, 1, static_cast<int64_t>(ids.size()));
  model::Scratch scratch;
  model::ForwardOutput out;
  model::Batch batch;
  for (size_t i = 0; i < ids.size(); ++i) batch.add(ids[i], static_cast<int32_t>(i), 0);
  model::forward(m.weights, batch, cache, {}, scratch, pool, out);
  const int64_t V = m.weights.args.vocab_size;
  const float* row = out.logits.data() + (static_cast<int64_t>(ids.size()) - 1) * V;
  std::vector<double> lp(static_cast<size_t>(V));
  double mx = -std::numeric_limits<double>::infinity();
  for (int64_t i = 0; i < V; ++i) {
    lp[static_cast<size_t>(i)] = m.tok.contains(static_cast<int32_t>(i)) ? row[i] : -std::numeric_limits<double>::infinity();
    mx = std::max(mx, lp[static_cast<size_t>(i)]);
  }
  double z = 0;
  for (double v : lp) z += std::exp(v - mx);
  for (double& v : lp) v -= mx + std::log(z);
  return lp;
}

std::vector<int32_t> best_first(const std::vector<double>& lp, size_t k) {
  std::vector<int32_t> order(lp.size());
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + static_cast<int64_t>(k), order.end(),
                    [&](int32_t a, int32_t b) { return lp[a] > lp[b] || (lp[a] == lp[b] && a < b); });
  order.resize(k);
  return order;
}

json bytes_of(int32_t id) {
  json b = json::array();
  for (unsigned char c : TinyModel::get().tok.token_bytes(id)) b.push_back(static_cast<int>(c));
  return b;
}

std::vector<int32_t> chat_prompt_ids(bool thinking) {
  const tokenizer::Tokenizer& tok = TinyModel::get().tok;
  const std::string p = tok.chat_template().render(kHello, {.add_generation_prompt = true, .enable_thinking = thinking});
  return tok.encode(p, {.add_special = false, .parse_special = true});
}

json chat_request(int top, int max_tokens) {
  return {{"model", "deepseek-chat"}, {"messages", {{{"role", "user"}, {"content", "Hello there, how are you?"}}}},
          {"max_tokens", max_tokens}, {"ignore_eos", true}, {"temperature", 0}, {"logprobs", true},
          {"top_logprobs", top}};
}

// Greedy decoding by the oracle, step by step, checked against the reply's content entries.
TEST(Logprobs, ChatGreedyEqualsOracleLogSoftmax) {
  const F32Attention f32;
  LiveServer s;
  const int kTop = 5, kTokens = 8;
  const json r = post_ok(s, "/v1/chat/completions", chat_request(kTop, kTokens));
  const json& lp = r["choices"][0]["logprobs"];
  ASSERT_TRUE(lp.is_object()) << r.dump();
  EXPECT_TRUE(lp["refusal"].is_null());
  ASSERT_EQ(lp["content"].size(), static_cast<size_t>(kTokens)) << lp.dump();
  std::vector<int32_t> ids = chat_prompt_ids(false);
  for (int i = 0; i < kTokens; ++i) {
    const std::vector<double> want = oracle_logprobs(ids);
    const std::vector<int32_t> top = best_first(want, kTop);
    const json& e = lp["content"][i];
    EXPECT_EQ(e["bytes"], bytes_of(top[0])) << "step " << i;
    EXPECT_NEAR(e["logprob"].get<double>(), want[top[0]], 2e-3) << "step " << i;
    ASSERT_EQ(e["top_logprobs"].size(), static_cast<size_t>(kTop));
    for (int j = 0; j < kTop; ++j) {
      const json& t = e["top_logprobs"][j];
      EXPECT_EQ(t["bytes"], bytes_of(top[j])) << "step " << i << " alternative " << j;
      EXPECT_NEAR(t["logprob"].get<double>(), want[top[j]], 2e-3) << "step " << i << " alternative " << j;
      if (j > 0) EXPECT_LE(t["logprob"].get<double>(), e["top_logprobs"][j - 1]["logprob"].get<double>());
      EXPECT_TRUE(t["token"].is_string());
    }
    ids.push_back(top[0]);
  }
}

// The reported distribution is the model's: neither temperature nor logit_bias moves it. A bias of
// +100 forces one token every step; its logprob stays the raw log-softmax (far below 0).
TEST(Logprobs, RawDistributionIgnoresBiasAndTemperature) {
  LiveServer s;
  const tokenizer::Tokenizer& tok = TinyModel::get().tok;
  const int32_t forced = tok.encode("a", {.add_special = false, .parse_special = false}).at(0);
  json body = chat_request(2, 5);
  body["temperature"] = 1.7;
  body["seed"] = 11;
  body["logit_bias"] = {{std::to_string(forced), 100}};
  const json r = post_ok(s, "/v1/chat/completions", body);
  const json& content = r["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), 5u) << r.dump();
  std::vector<int32_t> ids = chat_prompt_ids(false);
  for (size_t i = 0; i < content.size(); ++i) {
    const std::vector<double> want = oracle_logprobs(ids);
    EXPECT_EQ(content[i]["bytes"], bytes_of(forced));
    EXPECT_NEAR(content[i]["logprob"].get<double>(), want[forced], 2e-3) << "step " << i;
    EXPECT_LT(content[i]["logprob"].get<double>(), -0.5);  // not the biased distribution's ~0
    ids.push_back(forced);
  }
}

// /v1/completions: token ids in, OpenAI's legacy parallel lists out, against the same oracle.
TEST(Logprobs, CompletionsShapeEqualsOracle) {
  const F32Attention f32;
  LiveServer s;
  const std::vector<int32_t> prompt = chat_prompt_ids(false);
  const int kTokens = 6;
  const json r = post_ok(s, "/v1/completions", {{"prompt", prompt}, {"max_tokens", kTokens}, {"ignore_eos", true},
                                                 {"temperature", 0}, {"logprobs", 3}});
  const json& lp = r["choices"][0]["logprobs"];
  ASSERT_EQ(lp["tokens"].size(), static_cast<size_t>(kTokens)) << r.dump();
  ASSERT_EQ(lp["token_logprobs"].size(), static_cast<size_t>(kTokens));
  ASSERT_EQ(lp["top_logprobs"].size(), static_cast<size_t>(kTokens));
  ASSERT_EQ(lp["text_offset"].size(), static_cast<size_t>(kTokens));
  std::vector<int32_t> ids = prompt;
  int64_t offset = 0;
  for (int i = 0; i < kTokens; ++i) {
    const std::vector<double> want = oracle_logprobs(ids);
    const std::vector<int32_t> top = best_first(want, 3);
    EXPECT_NEAR(lp["token_logprobs"][i].get<double>(), want[top[0]], 2e-3) << "step " << i;
    EXPECT_EQ(lp["text_offset"][i], offset);
    offset += static_cast<int64_t>(TinyModel::get().tok.token_bytes(top[0]).size());
    // A dict keyed by token text: 3 entries unless two texts are the same after invalid UTF-8
    // became U+FFFD. Each value is one of the oracle's top 3, the best among them.
    const json& dict = lp["top_logprobs"][i];
    ASSERT_GE(dict.size(), 1u);
    ASSERT_LE(dict.size(), 3u);
    double best = -1e9;
    for (const auto& [k, v] : dict.items()) {
      const double g = v.get<double>();
      best = std::max(best, g);
      const bool known = std::any_of(top.begin(), top.end(), [&](int32_t t) { return std::fabs(want[t] - g) < 2e-3; });
      EXPECT_TRUE(known) << "step " << i << ": " << k << " = " << g;
    }
    EXPECT_NEAR(best, want[top[0]], 2e-3) << "step " << i;
    ids.push_back(top[0]);
  }
  // DeepSeek's FIM sample sends "logprobs": 0: the chosen tokens only.
  const json r0 = post_ok(s, "/v1/completions", {{"prompt", "def fib(a):"}, {"max_tokens", 3}, {"ignore_eos", true},
                                                  {"logprobs", 0}});
  const json& lp0 = r0["choices"][0]["logprobs"];
  ASSERT_EQ(lp0["token_logprobs"].size(), 3u) << r0.dump();
  for (const json& t : lp0["top_logprobs"]) EXPECT_TRUE(t.is_object() && t.empty());
}

// A stream's chunks carry their tokens' records; together they equal the whole reply's.
TEST(Logprobs, StreamChunksAddUpToTheWholeReply) {
  const F32Attention f32;
  LiveServer s;
  for (const bool chat : {true, false}) {
    json body = chat ? chat_request(3, 10)
                     : json{{"prompt", "Hello"}, {"max_tokens", 10}, {"ignore_eos", true}, {"temperature", 0}, {"logprobs", 3}};
    const std::string path = chat ? "/v1/chat/completions" : "/v1/completions";
    const json whole = post_ok(s, path, body)["choices"][0]["logprobs"];
    body["stream"] = true;
    const SseResult st = post_stream(s.port(), path, body);
    ASSERT_EQ(st.status, 200);
    ASSERT_TRUE(st.done);
    json joined = chat ? json{{"content", json::array()}, {"refusal", nullptr}}
                       : json{{"tokens", json::array()}, {"token_logprobs", json::array()}, {"top_logprobs", json::array()},
                              {"text_offset", json::array()}};
    int with_logprobs = 0;
    for (const json& c : st.chunks) {
      if (c["choices"].empty() || c["choices"][0]["logprobs"].is_null()) continue;
      ++with_logprobs;
      for (auto& [k, v] : c["choices"][0]["logprobs"].items()) {
        if (v.is_array()) joined[k].insert(joined[k].end(), v.begin(), v.end());
      }
    }
    EXPECT_GE(with_logprobs, 1) << (chat ? "chat" : "completions");  // how many: as the polls batch them
    EXPECT_EQ(joined, whole) << (chat ? "chat" : "completions");
  }
}

// Thinking on: every generated token has one record, the reasoning's in their own list, counted
// as usage counts reasoning tokens.
TEST(Logprobs, ReasoningTokensHaveTheirOwnList) {
  LiveServer s;
  json body = chat_request(1, 16);
  body["model"] = "deepseek-reasoner";
  body["thinking_budget"] = 5;
  const json r = post_ok(s, "/v1/chat/completions", body);
  const json& lp = r["choices"][0]["logprobs"];
  ASSERT_TRUE(lp.contains("reasoning_content")) << r.dump();
  EXPECT_EQ(lp["reasoning_content"].size(), r["usage"]["completion_tokens_details"]["reasoning_tokens"].get<size_t>());
  EXPECT_EQ(lp["reasoning_content"].size() + lp["content"].size(), 16u);
  EXPECT_FALSE(lp["content"].empty());  // the budget closed the reasoning; the answer followed
}

TEST(Logprobs, OffByDefaultAndErrorsNameTheField) {
  LiveServer s;
  json plain = chat_request(0, 2);
  plain.erase("logprobs");
  plain.erase("top_logprobs");
  EXPECT_TRUE(post_ok(s, "/v1/chat/completions", plain)["choices"][0]["logprobs"].is_null());
  const auto error_param = [&](const std::string& path, const json& body) {
    auto res = s.client()->Post(path, body.dump(), "application/json");
    EXPECT_EQ(res->status, 400) << res->body;
    return json::parse(res->body)["error"]["param"];
  };
  json b = chat_request(21, 2);
  EXPECT_EQ(error_param("/v1/chat/completions", b), "top_logprobs");
  b = chat_request(2, 2);
  b["logprobs"] = false;
  EXPECT_EQ(error_param("/v1/chat/completions", b), "top_logprobs");
  b["logprobs"] = 3;
  EXPECT_EQ(error_param("/v1/chat/completions", b), "logprobs");
  EXPECT_EQ(error_param("/v1/completions", {{"prompt", "x"}, {"logprobs", true}}), "logprobs");
  EXPECT_EQ(error_param("/v1/completions", {{"prompt", "x"}, {"logprobs", 21}}), "logprobs");
}

}  // namespace
}  // namespace whale::server::testing
