// Many clients at once against one shared engine: 16 clients x 3 streamed requests, a quarter of
// them hanging up mid-stream. Every other request completes with exact accounting; the ones that
// hung up are cancelled at once (they generate far fewer tokens than they asked for); afterwards
// nothing is queued or running.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <regex>

#include "live_server.h"

namespace whale::server::testing {
namespace {

double metric(const std::string& text, const std::string& name) {
  std::smatch m;
  if (!std::regex_search(text, m, std::regex("\n" + name + " ([0-9.e+-]+)\n"))) return -1;
  return std::stod(m[1]);
}

TEST(Concurrency, SixteenClientsSomeHangingUp) {
  LiveServer s({.max_seqs = 8, .context = 512});
  constexpr int kClients = 16, kPerClient = 3, kLong = 400;
  std::atomic<int64_t> completed_tokens{0};
  std::atomic<int> completed{0}, hung_up{0};
  std::mutex fail_m;
  std::vector<std::string> failures;
  const auto failure = [&](const std::string& what) {
    std::lock_guard lk(fail_m);
    failures.push_back(what);
  };
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      for (int k = 0; k < kPerClient; ++k) {
        const bool hang_up = c % 4 == 0 && k == 1;
        const int max_tokens = hang_up ? kLong : 8 + (c * 7 + k * 5) % 25;
        // A shared system prompt, so later requests also hit the prefix cache.
        json body = {{"model", c % 2 ? "deepseek-reasoner" : "deepseek-chat"},
                     {"messages", {{{"role", "system"}, {"content", "You are whale, a helpful assistant."}},
                                   {{"role", "user"}, {"content", "client " + std::to_string(c) + " asks " + std::to_string(k)}}}},
                     {"max_tokens", max_tokens}, {"ignore_eos", true}, {"stream", true},
                     {"stream_options", {{"include_usage", true}}}, {"seed", c * 10 + k}};
        const SseResult r = post_stream(s.port(), "/v1/chat/completions", body, hang_up ? 3 : -1);
        if (hang_up) {
          ++hung_up;
          continue;
        }
        if (r.status != 200 || !r.done || r.chunks.empty()) {
          failure("client " + std::to_string(c) + " request " + std::to_string(k) + ": status " + std::to_string(r.status) +
                  " (" + r.error + ", " + std::to_string(r.chunks.size()) + " chunks)");
          continue;
        }
        const json& usage = r.chunks.back()["usage"];
        if (usage["completion_tokens"] != max_tokens) failure("completion_tokens " + usage.dump());
        if (r.chunks[r.chunks.size() - 2]["choices"][0]["finish_reason"] != "length") failure("finish " + r.body);
        for (const json& ch : r.chunks) {
          if (ch["choices"].empty()) continue;
          const json& d = ch["choices"][0]["delta"];
          if (d.contains("reasoning_content") && d.contains("content")) failure("mixed chunk " + ch.dump());
        }
        completed_tokens += max_tokens;
        ++completed;
      }
    });
  }
  for (std::thread& t : clients) t.join();
  EXPECT_TRUE(failures.empty()) << failures.size() << " failures, first: " << (failures.empty() ? "" : failures[0]);
  EXPECT_EQ(completed, kClients * kPerClient - kClients / 4);
  EXPECT_EQ(hung_up, kClients / 4);

  ASSERT_TRUE(s.wait_idle());
  auto res = s.client()->Get("/metrics");
  ASSERT_TRUE(res);
  const std::string& m = res->body;
  EXPECT_EQ(metric(m, "whale_requests_running"), 0);
  EXPECT_EQ(metric(m, "whale_requests_queued"), 0);
  EXPECT_EQ(metric(m, "whale_requests_pending"), 0);
  // Every KV block is back: none is held by a finished, cancelled or disconnected sequence.
  EXPECT_GT(metric(m, "whale_kv_blocks_total"), 0);
  EXPECT_EQ(metric(m, "whale_kv_blocks_free"), metric(m, "whale_kv_blocks_total"));
  EXPECT_EQ(metric(m, "whale_client_disconnects_total"), kClients / 4);
  // Each hung-up request stopped long before its 400 tokens.
  const double extra = metric(m, "whale_generated_tokens_total") - static_cast<double>(completed_tokens);
  EXPECT_GE(extra, 3.0 * kClients / 4);
  EXPECT_LT(extra, 0.5 * kLong * kClients / 4);
  EXPECT_GT(metric(m, "whale_cached_prompt_tokens_total"), 0);
  // The server still answers normally.
  const json again = json::parse(s.client()
                                     ->Post("/v1/chat/completions",
                                            json{{"messages", {{{"role", "user"}, {"content", "still there?"}}}},
                                                 {"max_tokens", 4}, {"ignore_eos", true}}
                                                .dump(),
                                            "application/json")
                                     ->body);
  EXPECT_EQ(again["usage"]["completion_tokens"], 4);
}

}  // namespace
}  // namespace whale::server::testing
