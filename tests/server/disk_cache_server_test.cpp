// The on-disk prefix cache through the HTTP API: a server restarted over the same --cache-dir answers
// the same long chat request with the same text (greedy) and reports the prompt's full blocks as
// cached in both usage fields (prompt_cache_hit_tokens and prompt_tokens_details.cached_tokens);
// /metrics counts the disk cache's blocks and speculative decoding's drafts.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>

#include "../test_files.h"
#include "live_server.h"

namespace whale::server::testing {
namespace {

// A sample of the Prometheus text (-1 when absent).
double metric(const std::string& text, const std::string& name) {
  std::smatch m;
  if (!std::regex_search(text, m, std::regex("\n" + name + "(\\{[^}]*\\})? ([0-9.e+-]+)\n"))) return -1;
  return std::stod(m[2]);
}

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
  std::string metrics_first, metrics_second;
  {
    LiveServer s({.context = 1024, .cache_dir = dir});
    first = post_ok(s, "/v1/chat/completions", long_chat());
    metrics_first = s.client()->Get("/metrics")->body;
  }
  {
    LiveServer s({.context = 1024, .cache_dir = dir});  // the restart: an empty in-memory cache
    second = post_ok(s, "/v1/chat/completions", long_chat());
    metrics_second = s.client()->Get("/metrics")->body;
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
  // /metrics counts blocks: the first server wrote every full prompt block (and perhaps one that
  // generation filled) and read none; the restarted one read exactly the cached blocks back.
  const double blocks = static_cast<double>(cached / 16);
  EXPECT_EQ(metric(metrics_first, "whale_disk_cache_hits_total"), 0) << metrics_first;
  EXPECT_GE(metric(metrics_first, "whale_disk_cache_writes_total"), blocks);
  EXPECT_EQ(metric(metrics_first, "whale_disk_cache_files"), metric(metrics_first, "whale_disk_cache_writes_total"));
  EXPECT_EQ(metric(metrics_second, "whale_disk_cache_hits_total"), blocks) << metrics_second;
  EXPECT_GE(metric(metrics_second, "whale_disk_cache_files"), blocks);
  EXPECT_EQ(metric(metrics_second, "whale_disk_cache_rejected_total"), 0);
  EXPECT_EQ(metric(metrics_second, "whale_spec_draft_tokens_total"), -1) << "no speculative metrics when it is off";
}

// Speculative decoding's counters on /metrics, hand-counted: the oracle drafter replays the plain
// greedy reply (k = 2, every draft right), so a 12-token reply is 1 token from the prompt's pass, then
// verify steps emitting 3, 3, 3 and 2 (the last capped by max_tokens): 4 steps, 7 drafts checked and
// accepted (4 at position 0, 3 at position 1), 11 tokens emitted.
TEST(SpecMetrics, OracleDraftsAreCountedExactly) {
  const json req = {{"prompt", "The whale sings"}, {"n_predict", 12}, {"temperature", 0}, {"ignore_eos", true},
                    {"return_tokens", true}};
  json plain, spec;
  std::string m;
  {
    LiveServer s({.context = 1024});
    plain = post_ok(s, "/completion", req);
    EXPECT_EQ(metric(s.client()->Get("/metrics")->body, "whale_spec_verify_steps_total"), -1) << "none when it is off";
  }
  const std::vector<int32_t> tokens = plain["tokens"].get<std::vector<int32_t>>();
  ASSERT_EQ(tokens.size(), 12u) << plain.dump();
  {
    engine::SpecConfig sc{.mode = engine::SpecMode::kOracle, .k = 2};
    sc.oracle = tokens;
    sc.oracle_p = 1.0;
    LiveServer s({.context = 1024, .spec = sc});
    spec = post_ok(s, "/completion", req);
    m = s.client()->Get("/metrics")->body;
  }
  EXPECT_EQ(spec["tokens"], plain["tokens"]);
  EXPECT_EQ(metric(m, "whale_spec_verify_steps_total"), 4) << m;
  EXPECT_EQ(metric(m, "whale_spec_draft_tokens_total"), 7);
  EXPECT_EQ(metric(m, "whale_spec_accepted_tokens_total"), 7);
  EXPECT_EQ(metric(m, "whale_spec_emitted_tokens_total"), 11);
  EXPECT_EQ(metric(m, "whale_spec_acceptance_ratio"), 1);
  std::vector<double> by_position;
  const std::regex row("whale_spec_accepted_tokens_by_position_total\\{position=\"([0-9]+)\"\\} ([0-9]+)");
  for (auto it = std::sregex_iterator(m.begin(), m.end(), row); it != std::sregex_iterator(); ++it) {
    by_position.push_back(std::stod((*it)[2]));
  }
  EXPECT_EQ(by_position, (std::vector<double>{4, 3})) << m;
}

}  // namespace
}  // namespace whale::server::testing
