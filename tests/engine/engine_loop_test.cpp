// EngineLoop against the Engine driven directly (the oracle): the same greedy tokens whether
// requests come from one thread or eight at once; cancellation from another thread; the bounded
// queue; errors from Engine::add reaching the submitter; shutdown ending every request.
#include "engine/engine_loop.h"

#include <gtest/gtest.h>

#include <thread>

#include "tiny_model.h"

namespace whale::engine {
namespace {

class EngineLoopTest : public TinyModelTest {
 protected:
  static EngineConfig config() { return {.max_seqs = 4, .max_batch_tokens = 64, .max_context = 256, .threads = 2}; }

  static Request greedy(int32_t first, int64_t max_tokens) {
    Request r;
    r.prompt = {1, first, first + 1, first + 2, 7};
    r.sampling.temperature = 0;
    r.max_tokens = max_tokens;
    r.ignore_eos = true;
    return r;
  }

  struct Outcome {
    std::vector<int32_t> tokens;
    FinishReason finish = FinishReason::kStop;
    Usage usage;
  };

  // Runs on the engine directly, no loop: the oracle. (No tokenizer: events carry token ids.)
  static Outcome direct(Request r) {
    Engine e(*w_, nullptr, config());
    Outcome out;
    r.on_event = [&](const Event& ev) {
      out.tokens.insert(out.tokens.end(), ev.tokens.begin(), ev.tokens.end());
      if (ev.kind == Event::Kind::kFinished) {
        out.finish = ev.finish;
        out.usage = ev.usage;
      }
    };
    e.add(std::move(r));
    e.run_until_idle();
    return out;
  }

  static Outcome drain(RequestHandle& h) {
    Outcome out;
    for (;;) {
      for (const Event& ev : h.wait(std::chrono::milliseconds(1000))) {
        out.tokens.insert(out.tokens.end(), ev.tokens.begin(), ev.tokens.end());
        if (ev.kind == Event::Kind::kFinished) {
          out.finish = ev.finish;
          out.usage = ev.usage;
          return out;
        }
      }
    }
  }
};

TEST_F(EngineLoopTest, SameTokensAsTheEngineFromManyThreads) {
  std::vector<Outcome> expected;
  for (int i = 0; i < 8; ++i) expected.push_back(direct(greedy(10 + i, 6 + i)));
  Engine e(*w_, nullptr, config());
  EngineLoop loop(e, {});
  std::vector<Outcome> got(8);
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] { got[i] = drain(*loop.submit(greedy(10 + i, 6 + i))); });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(got[i].tokens, expected[i].tokens) << i;
    EXPECT_EQ(got[i].finish, FinishReason::kLength);
    EXPECT_EQ(got[i].usage.completion_tokens, 6 + i);
    EXPECT_EQ(got[i].usage.prompt_tokens, 5);
  }
  const LoopStats s = loop.stats();
  EXPECT_EQ(s.pending, 0);
  EXPECT_EQ(s.running, 0);
  EXPECT_EQ(s.waiting, 0);
  EXPECT_EQ(s.generated_tokens, 8 * 6 + 28);
  EXPECT_GT(s.steps, 0);
}

// A long request (2,000 tokens: the tiny model decodes 200 in a few milliseconds, and the cancel
// must come while it still runs), cancelled once its first tokens are out.
TEST_F(EngineLoopTest, CancelFromAnotherThread) {
  EngineConfig c = config();
  c.max_context = 2048;
  Engine e(*w_, nullptr, c);
  EngineLoop loop(e, {});
  auto h = loop.submit(greedy(20, 2000));
  while (h->wait(std::chrono::milliseconds(1000)).empty()) {
  }
  std::thread([&] { loop.cancel(*h); }).join();
  const Outcome o = drain(*h);
  EXPECT_EQ(o.finish, FinishReason::kCancelled);
  EXPECT_LT(o.usage.completion_tokens, 2000);
  EXPECT_TRUE(h->finished());
  EXPECT_EQ(loop.stats().pending, 0);
}

TEST_F(EngineLoopTest, BoundedQueue) {
  Engine e(*w_, nullptr, config());
  EngineLoop loop(e, {.max_pending = 2});
  auto a = loop.submit(greedy(30, 200));
  auto b = loop.submit(greedy(31, 200));
  EXPECT_THROW(loop.submit(greedy(32, 5)), QueueFullError);
  loop.cancel(*a);
  drain(*a);
  auto c = loop.submit(greedy(33, 3));  // room again
  EXPECT_EQ(drain(*c).usage.completion_tokens, 3);
  loop.cancel(*b);
  drain(*b);
}

TEST_F(EngineLoopTest, EngineErrorsReachTheSubmitter) {
  Engine e(*w_, nullptr, config());
  EngineLoop loop(e, {.max_pending = 1});
  Request too_long = greedy(1, 5);
  too_long.prompt.assign(256, 5);
  EXPECT_THROW(loop.submit(too_long), Error);
  Request bad = greedy(1, 5);
  bad.sampling.top_p = 0;
  EXPECT_THROW(loop.submit(bad), Error);
  EXPECT_EQ(loop.stats().pending, 0);  // a refused request holds no place in the queue
  EXPECT_EQ(drain(*loop.submit(greedy(1, 2))).usage.completion_tokens, 2);
}

TEST_F(EngineLoopTest, ShutdownEndsEveryRequest) {
  Engine e(*w_, nullptr, config());
  EngineLoop loop(e, {});
  std::vector<std::shared_ptr<RequestHandle>> hs;
  for (int i = 0; i < 6; ++i) hs.push_back(loop.submit(greedy(40 + i, 250)));
  loop.shutdown();
  int cancelled = 0;
  for (auto& h : hs) {
    ASSERT_TRUE(h->finished());
    // A request may have run to its length before shutdown began; every other one is cancelled.
    const FinishReason f = drain(*h).finish;
    EXPECT_TRUE(f == FinishReason::kCancelled || f == FinishReason::kLength);
    cancelled += f == FinishReason::kCancelled;
  }
  EXPECT_GT(cancelled, 0);  // 6 requests of 250 tokens cannot all be done when shutdown() returns
  EXPECT_THROW(loop.submit(greedy(1, 2)), ShuttingDownError);
  EXPECT_TRUE(e.idle());
  loop.shutdown();  // again: nothing happens
}

}  // namespace
}  // namespace whale::engine
