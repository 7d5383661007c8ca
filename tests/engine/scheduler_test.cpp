// Scheduler against hand-traced schedules: admission in arrival order limited by slots, chunked
// prefill under the token budget (decodes first), preemption of the newest sequence when blocks run
// out; and, driving the tiny random model through Runner, greedy outputs under a cache so small that
// sequences are preempted and resumed equal the outputs of an unpressured run and of the oracle.
#include "engine/scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>

#include "engine/runner.h"
#include "tiny_model.h"

namespace whale::engine {
namespace {

struct Expect {
  const Sequence* seq;
  int64_t start, n;
};

void expect_chunks(const std::vector<Chunk>& got, const std::vector<Expect>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].seq, want[i].seq) << "chunk " << i;
    EXPECT_EQ(got[i].start, want[i].start) << "chunk " << i;
    EXPECT_EQ(got[i].n, want[i].n) << "chunk " << i;
  }
}

class SchedulerTest : public TinyModelTest {
 protected:
  Sequence* add(Scheduler& s, std::vector<int32_t> prompt) {
    Request r;
    r.prompt = std::move(prompt);
    r.sampling.temperature = 0.0f;
    seqs_.push_back(std::make_unique<Sequence>(seqs_.size() + 1, std::move(r), nullptr));
    s.add(seqs_.back().get());
    return seqs_.back().get();
  }
  // What the engine does after the model ran: positions computed, one token for every sequence
  // whose chunk reached its end.
  static void step_done(Scheduler& s, const std::vector<Chunk>& chunks, int32_t token = 1) {
    s.computed(chunks);
    for (const Chunk& c : chunks) {
      if (c.seq->uncomputed() == 0) c.seq->tokens.push_back(token);
    }
  }
  static std::vector<int32_t> tokens(int n, int32_t first) {
    std::vector<int32_t> t;
    for (int i = 0; i < n; ++i) t.push_back(first + i);
    return t;
  }

  std::vector<std::unique_ptr<Sequence>> seqs_;
};

TEST_F(SchedulerTest, AdmitsInArrivalOrderAsSlotsAllow) {
  BlockManager bm(64, 4);
  Scheduler s(bm, /*max_seqs=*/2, /*max_batch_tokens=*/100);
  Sequence* a = add(s, tokens(6, 10));
  Sequence* b = add(s, tokens(5, 20));
  Sequence* c = add(s, tokens(7, 30));
  auto chunks = s.schedule();
  expect_chunks(chunks, {{a, 0, 6}, {b, 0, 5}});
  EXPECT_EQ(s.running(), (std::vector<Sequence*>{a, b}));
  ASSERT_EQ(s.n_waiting(), 1);
  EXPECT_EQ(s.waiting().front(), c);  // no slot left
  step_done(s, chunks);
  chunks = s.schedule();
  expect_chunks(chunks, {{a, 6, 1}, {b, 5, 1}});
  step_done(s, chunks);
  const int32_t a_slot = a->slot;
  s.remove(a);  // a finished: its slot lets c in, behind b's decode
  EXPECT_EQ(a->slot, -1);
  chunks = s.schedule();
  expect_chunks(chunks, {{b, 6, 1}, {c, 0, 7}});
  EXPECT_EQ(c->slot, a_slot);
  EXPECT_TRUE(a->block_table.empty());
}

TEST_F(SchedulerTest, ChunkedPrefillSplitsUnderTheTokenBudget) {
  BlockManager bm(64, 4);
  Scheduler s(bm, /*max_seqs=*/3, /*max_batch_tokens=*/8);
  Sequence* a = add(s, tokens(20, 10));
  Sequence* b = add(s, tokens(5, 40));
  const std::vector<std::vector<Expect>> want = {
      {{a, 0, 8}},              // b waits: the budget is spent
      {{a, 8, 8}},              // a's prefill continues before anything new
      {{a, 16, 4}, {b, 0, 4}},  // a's last piece, b takes the rest of the budget
      {{a, 20, 1}, {b, 4, 1}},  // a decodes; b has one token left, scheduled with the decodes
      {{a, 21, 1}, {b, 5, 1}},
  };
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE(i);
    const auto chunks = s.schedule();
    expect_chunks(chunks, want[i]);
    step_done(s, chunks);
  }
  EXPECT_EQ(a->block_table.size(), 6u);  // 22 positions in blocks of 4
}

TEST_F(SchedulerTest, PreemptsTheNewestWhenBlocksRunOut) {
  BlockManager bm(6, 4);  // 24 positions
  Scheduler s(bm, /*max_seqs=*/3, /*max_batch_tokens=*/64);
  Sequence* a = add(s, tokens(8, 10));
  Sequence* b = add(s, tokens(8, 30));
  Sequence* c = add(s, tokens(7, 50));
  auto chunks = s.schedule();
  expect_chunks(chunks, {{a, 0, 8}, {b, 0, 8}, {c, 0, 7}});
  EXPECT_EQ(bm.available(), 0);
  step_done(s, chunks);
  // a's 9th position needs a third block: c, the newest, gives its blocks back and waits first.
  chunks = s.schedule();
  expect_chunks(chunks, {{a, 8, 1}, {b, 8, 1}});
  EXPECT_EQ(s.running(), (std::vector<Sequence*>{a, b}));
  ASSERT_EQ(s.n_waiting(), 1);
  EXPECT_EQ(s.waiting().front(), c);
  EXPECT_EQ(c->slot, -1);
  EXPECT_EQ(c->n_computed, 0);
  EXPECT_TRUE(c->block_table.empty());
  EXPECT_EQ(c->tokens.size(), 8u);  // its generated token stays: resumption recomputes it
  EXPECT_EQ(a->block_table.size(), 3u);
  EXPECT_EQ(b->block_table.size(), 3u);
  // Once a finishes, c comes back and recomputes everything but what the prefix cache kept.
  step_done(s, chunks);
  s.remove(a);
  chunks = s.schedule();
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[1].seq, c);
  EXPECT_EQ(chunks[1].start + chunks[1].n, 8);
}

// A minimal engine: schedule, run, greedy token, finish after n new tokens. Counts preemptions.
std::vector<std::vector<int32_t>> drive(const model::Weights& w, int32_t n_blocks, int32_t block_size,
                                        const std::vector<std::vector<int32_t>>& prompts, int64_t n_new,
                                        int* preemptions) {
  BlockManager bm(n_blocks, block_size);
  Scheduler s(bm, /*max_seqs=*/3, /*max_batch_tokens=*/64);
  Runner runner(w, n_blocks, block_size, /*n_slots=*/3, /*max_context=*/64, /*threads=*/1);
  std::vector<std::unique_ptr<Sequence>> seqs;
  for (size_t i = 0; i < prompts.size(); ++i) {
    Request r;
    r.prompt = prompts[i];
    seqs.push_back(std::make_unique<Sequence>(i + 1, std::move(r), nullptr));
    s.add(seqs.back().get());
  }
  *preemptions = 0;
  size_t done = 0;
  for (int guard = 0; done < seqs.size() && guard < 1000; ++guard) {
    std::vector<int64_t> before;
    for (auto& q : seqs) before.push_back(q->n_computed);
    const std::vector<Chunk> chunks = s.schedule();
    for (size_t i = 0; i < seqs.size(); ++i) *preemptions += before[i] > 0 && seqs[i]->n_computed == 0;
    if (chunks.empty()) break;
    const auto& rows = runner.run(chunks);
    s.computed(chunks);
    const int64_t V = w.args.vocab_size;
    for (const Runner::Logits& r : rows) {
      r.seq->tokens.push_back(static_cast<int32_t>(std::max_element(r.row, r.row + V) - r.row));
      if (r.seq->generated() == n_new) {
        s.remove(r.seq);
        ++done;
      }
    }
  }
  std::vector<std::vector<int32_t>> out;
  for (auto& q : seqs) out.emplace_back(q->tokens.begin() + q->n_prompt, q->tokens.end());
  return out;
}

TEST_F(SchedulerTest, PreemptedSequencesResumeWithIdenticalOutput) {
  std::vector<std::vector<int32_t>> prompts;
  for (int i = 0; i < 3; ++i) prompts.push_back(prompt_of(20, 10 + i));
  int calm = 0, pressured = 0;
  const auto roomy = drive(*w_, /*n_blocks=*/64, /*block_size=*/8, prompts, 10, &calm);
  // 9 blocks of 8: three sequences growing to 30 positions (4 blocks each) cannot all stay.
  const auto tight = drive(*w_, /*n_blocks=*/9, /*block_size=*/8, prompts, 10, &pressured);
  EXPECT_EQ(calm, 0);
  EXPECT_GT(pressured, 0);
  for (size_t i = 0; i < prompts.size(); ++i) {
    ASSERT_EQ(tight[i].size(), 10u) << i;
    EXPECT_EQ(tight[i], roomy[i]) << i;
    EXPECT_EQ(tight[i], oracle(prompts[i], 10)) << i;
  }
}

}  // namespace
}  // namespace whale::engine
