// The engine against plain greedy decoding with model::forward on a contiguous cache (the oracle):
// one request; many requests mixing prefill chunks and decodes; prefix-cache hits; preemption
// under a tiny KV cache; cancellation; length limits; the thinking budget and stop strings.
#include "engine/engine.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "tiny_model.h"

namespace whale::engine {
namespace {

class EngineTest : public TinyModelTest {
 protected:
  struct Collected {
    std::vector<int32_t> tokens;
    std::string reasoning, answer;
    bool finished = false;
    FinishReason reason = FinishReason::kStop;
    bool context_full = false;
    Usage usage;
  };

  static Request greedy(const std::vector<int32_t>& prompt, int64_t n, Collected* c) {
    Request r;
    r.prompt = prompt;
    r.max_tokens = n;
    r.ignore_eos = true;
    r.sampling.temperature = 0.0f;
    r.reasoning.enabled = false;
    r.on_event = [c](const Event& e) {
      if (e.kind == Event::Kind::kFinished) {
        c->finished = true;
        c->reason = e.finish;
        c->context_full = e.context_full;
        c->usage = e.usage;
      } else if (e.kind == Event::Kind::kReasoning) {
        c->reasoning += e.text;
      } else {
        c->answer += e.text;
        c->tokens.insert(c->tokens.end(), e.tokens.begin(), e.tokens.end());
      }
    };
    return r;
  }
};

TEST_F(EngineTest, OneRequestEqualsDirectGreedy) {
  Engine e(*w_, nullptr, {.max_seqs = 2, .threads = 1});
  Collected c;
  const auto p = prompt_of(20, 1);
  e.add(greedy(p, 12, &c));
  e.run_until_idle();
  ASSERT_TRUE(c.finished);
  EXPECT_EQ(c.reason, FinishReason::kLength);
  EXPECT_EQ(c.tokens, oracle(p, 12));
  EXPECT_EQ(c.usage.prompt_tokens, 20);
  EXPECT_EQ(c.usage.completion_tokens, 12);
  EXPECT_TRUE(e.idle());
}

TEST_F(EngineTest, MixedBatchesEqualEachAlone) {
  // 5 requests, 3 at a time, 8 tokens a step: prefill chunks, decodes and queueing all mix.
  Engine e(*w_, nullptr, {.max_seqs = 3, .max_batch_tokens = 8, .threads = 2});
  std::vector<Collected> c(5);
  std::vector<std::vector<int32_t>> prompts;
  for (int i = 0; i < 5; ++i) {
    prompts.push_back(prompt_of(5 + 9 * i, i));
    e.add(greedy(prompts.back(), 6 + i, &c[static_cast<size_t>(i)]));
  }
  e.run_until_idle();
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(c[static_cast<size_t>(i)].finished) << i;
    EXPECT_EQ(c[static_cast<size_t>(i)].tokens, oracle(prompts[static_cast<size_t>(i)], 6 + i)) << i;
  }
  EXPECT_GT(e.stats().steps, 10);
}

// Seeded sampling (temperature, top-p, a repetition penalty) of several streams at once draws
// each stream's tokens across the pool (Engine::sample_rows); the oracle is each request alone,
// whose single row is drawn by post_process itself. Two requests ask for logprobs, which keeps
// them out of the parallel draw, so both paths mix in one step.
TEST_F(EngineTest, SampledStreamsTogetherEqualEachAlone) {
  const auto sampled = [](const std::vector<int32_t>& prompt, int i, Collected* c) {
    Request r = greedy(prompt, 10, c);
    r.sampling.temperature = 1.0f;
    r.sampling.top_p = 0.9f;
    r.sampling.repetition_penalty = 1.3f;
    r.sampling.seed = 100 + static_cast<uint64_t>(i);
    if (i % 3 == 2) r.logprobs = 2;
    return r;
  };
  std::vector<std::vector<int32_t>> prompts;
  for (int i = 0; i < 6; ++i) prompts.push_back(prompt_of(4 + 3 * i, i));
  Engine e(*w_, nullptr, {.max_seqs = 6, .threads = 2});
  std::vector<Collected> together(6);
  for (int i = 0; i < 6; ++i) e.add(sampled(prompts[static_cast<size_t>(i)], i, &together[static_cast<size_t>(i)]));
  e.run_until_idle();
  for (int i = 0; i < 6; ++i) {
    Engine alone_engine(*w_, nullptr, {.max_seqs = 1, .threads = 1});
    Collected alone;
    alone_engine.add(sampled(prompts[static_cast<size_t>(i)], i, &alone));
    alone_engine.run_until_idle();
    ASSERT_TRUE(together[static_cast<size_t>(i)].finished) << i;
    EXPECT_EQ(together[static_cast<size_t>(i)].tokens.size(), 10u) << i;
    EXPECT_EQ(together[static_cast<size_t>(i)].tokens, alone.tokens) << i;
  }
}

TEST_F(EngineTest, PrefixCacheReusesBlocksAndKeepsOutputs) {
  Engine e(*w_, nullptr, {.max_seqs = 2, .block_size = 16, .threads = 1});
  auto shared = prompt_of(40, 3);
  auto a = shared, b = shared;
  a.push_back(7);
  b.push_back(9);
  Collected ca, cb;
  e.add(greedy(a, 5, &ca));
  e.run_until_idle();
  e.add(greedy(b, 5, &cb));
  e.run_until_idle();
  EXPECT_EQ(ca.usage.cached_prompt_tokens, 0);
  EXPECT_EQ(cb.usage.cached_prompt_tokens, 32);  // two full blocks of the shared 40 tokens
  EXPECT_EQ(cb.tokens, oracle(b, 5));
  // The same prompt again: everything but the last token comes from the cache.
  Collected cc;
  e.add(greedy(b, 5, &cc));
  e.run_until_idle();
  EXPECT_EQ(cc.usage.cached_prompt_tokens, 32);
  EXPECT_EQ(cc.tokens, cb.tokens);
}

TEST_F(EngineTest, PreemptionUnderATinyCacheKeepsOutputs) {
  // 9 blocks of 8 positions: three 30-token sequences cannot all stay resident.
  Engine e(*w_, nullptr, {.max_seqs = 3, .max_batch_tokens = 64, .block_size = 8, .max_context = 64, .kv_blocks = 9, .threads = 1});
  std::vector<Collected> c(3);
  std::vector<std::vector<int32_t>> prompts;
  for (int i = 0; i < 3; ++i) {
    prompts.push_back(prompt_of(20, 10 + i));
    e.add(greedy(prompts.back(), 10, &c[static_cast<size_t>(i)]));
  }
  e.run_until_idle();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(c[static_cast<size_t>(i)].tokens, oracle(prompts[static_cast<size_t>(i)], 10)) << i;
}

TEST_F(EngineTest, CancelStopsOneAndLeavesOthers) {
  Engine e(*w_, nullptr, {.max_seqs = 2, .threads = 1});
  Collected a, b;
  const uint64_t ida = e.add(greedy(prompt_of(10, 5), 50, &a));
  e.add(greedy(prompt_of(10, 6), 8, &b));
  for (int i = 0; i < 4; ++i) e.step();
  e.cancel(ida);
  e.run_until_idle();
  EXPECT_EQ(a.reason, FinishReason::kCancelled);
  EXPECT_LT(a.tokens.size(), 50u);
  EXPECT_EQ(b.reason, FinishReason::kLength);
  EXPECT_EQ(b.tokens, oracle(prompt_of(10, 6), 8));
  EXPECT_TRUE(e.idle());
}

TEST_F(EngineTest, LimitsAreReportedNotCrashed) {
  Engine e(*w_, nullptr, {.max_seqs = 1, .max_context = 24, .threads = 1});
  Collected c;
  e.add(greedy(prompt_of(20, 7), 100, &c));
  e.run_until_idle();
  EXPECT_EQ(c.reason, FinishReason::kLength);
  EXPECT_TRUE(c.context_full);
  EXPECT_EQ(c.usage.completion_tokens, 4);
  EXPECT_THROW(e.add(greedy(prompt_of(24, 7), 1, &c)), Error);  // no room for one token
  EXPECT_THROW(e.add(greedy({600}, 1, &c)), Error);           // outside the vocabulary
  Request bad = greedy(prompt_of(3, 1), 1, &c);
  bad.sampling.top_p = 2.0f;
  EXPECT_THROW(e.add(bad), Error);
}

TEST_F(EngineTest, ThinkingBudgetClosesTheReasoning) {
  Engine e(*w_, tok_, {.max_seqs = 1, .threads = 1});
  Collected c;
  Request r = greedy(prompt_of(6, 2), 12, &c);
  r.reasoning.enabled = true;
  r.reasoning.starts_in_reasoning = true;  // as if the template ended with "<think>\n"
  r.think_budget = 3;
  e.add(std::move(r));
  e.run_until_idle();
  ASSERT_TRUE(c.finished);
  EXPECT_GE(c.usage.reasoning_tokens, 3);
  EXPECT_LT(c.usage.reasoning_tokens, 12);
  EXPECT_EQ(c.reasoning.find("</think>"), std::string::npos);  // the tag itself is never shown
  EXPECT_EQ(c.usage.completion_tokens, 12);
}

TEST_F(EngineTest, StopStringEndsTheAnswerWithoutShowingIt) {
  // Find what greedy decoding writes, then ask to stop at a piece of it.
  Engine probe(*w_, tok_, {.max_seqs = 1, .threads = 1});
  Collected full;
  probe.add(greedy(prompt_of(8, 4), 10, &full));
  probe.run_until_idle();
  ASSERT_GE(full.answer.size(), 4u);
  const std::string stop = full.answer.substr(full.answer.size() / 2, 2);
  Engine e(*w_, tok_, {.max_seqs = 1, .threads = 1});
  Collected c;
  Request r = greedy(prompt_of(8, 4), 10, &c);
  r.stop = {stop};
  e.add(std::move(r));
  e.run_until_idle();
  EXPECT_EQ(c.reason, FinishReason::kStop);
  EXPECT_EQ(c.answer, full.answer.substr(0, full.answer.find(stop)));
}

}  // namespace
}  // namespace whale::engine
