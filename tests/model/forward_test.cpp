// Forward-pass self-consistency on tiny random checkpoints of every family: naive MLA = absorbed
// MLA; token-by-token decode through the cache = one full prefill; two sequences batched = each
// alone; causality; clear errors for bad token ids and positions past the cache. (Agreement with
// the independent libtorch implementation is tested in tests/train.)
#include "model/forward.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <new>

#include "core/error.h"
#include "kernels/cpu_features.h"
#include "model/presets.h"
#include "model/random_checkpoint.h"

// GCC 12 pairs the inlined replacement delete's free() with `new` expressions and warns; the
// replacement new below allocates with malloc, so the pair is right.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

// Heap allocations made while g_counting is set, on any thread (the pool's workers too).
namespace {
std::atomic<bool> g_counting{false};
std::atomic<int64_t> g_allocations{0};
}  // namespace

void* operator new(size_t n) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new(size_t n, const std::nothrow_t&) noexcept {  // std::stable_sort's buffer: the pair must be ours
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n == 0 ? 1 : n);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace whale::model {
namespace {

namespace fs = std::filesystem;

class ForwardTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() / ("whale_fwd_" + GetParam() + "_" + std::to_string(::getpid()))).string();
    RandomCheckpointOptions o;
    o.progress = false;
    o.weight_std = 0.08f;  // larger than default so routing and attention patterns are not flat
    write_random_checkpoint(find_preset(GetParam()).args, dir_, o);
    w_ = load_weights(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::vector<float> run(const std::vector<int32_t>& tokens, MlaMode mode, bool step_by_step,
                         core::DType kv = core::DType::kBF16) {
    return run_with(w_, tokens, mode, step_by_step, kv);
  }
  // kv: the cache's row type (bf16, the default, or f32 where a test checks the math to 1e-5: on
  // a bf16 cache absorbed MLA takes the AVX-512 BF16 attention kernel where the CPU has it).
  std::vector<float> run_with(const Weights& w, const std::vector<int32_t>& tokens, MlaMode mode, bool step_by_step,
                              core::DType kv = core::DType::kBF16) {
    ContiguousKvCache cache(w.args, 1, 64, kv);
    ForwardOutput out;
    std::vector<float> logits;
    if (!step_by_step) {
      Batch b;
      for (size_t i = 0; i < tokens.size(); ++i) b.add(tokens[i], static_cast<int32_t>(i), 0);
      forward(w, b, cache, {.mla = mode}, scratch_, pool_, out);
      return out.logits;
    }
    for (size_t i = 0; i < tokens.size(); ++i) {
      Batch b;
      b.add(tokens[i], static_cast<int32_t>(i), 0);
      forward(w, b, cache, {.mla = mode}, scratch_, pool_, out);
      logits.insert(logits.end(), out.logits.begin(), out.logits.end());
    }
    return logits;
  }

  static double max_diff(const std::vector<float>& a, const std::vector<float>& b) {
    EXPECT_EQ(a.size(), b.size());
    double m = 0;
    for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) m = std::max(m, std::fabs(double(a[i]) - b[i]));
    return m;
  }

  std::string dir_;
  Weights w_;
  Scratch scratch_;
  core::ThreadPool pool_{2};
  const std::vector<int32_t> tokens_ = {256, 72, 101, 108, 108, 111, 44, 32, 119, 111, 114, 108, 100};
};

// On an f32 cache (the math: bf16 rows and the bf16 attention kernel are KvBf16Test's).
TEST_P(ForwardTest, DecodeThroughCacheEqualsPrefill) {
  const core::DType f32 = core::DType::kF32;
  const std::vector<float> full = run(tokens_, MlaMode::kNaive, false, f32);
  ASSERT_EQ(full.size(), tokens_.size() * w_.args.vocab_size);
  double spread = 0;
  for (float v : full) spread = std::max(spread, std::fabs(double(v)));
  EXPECT_GT(spread, 1e-3);  // the logits are not trivially zero
  EXPECT_LT(max_diff(full, run(tokens_, MlaMode::kNaive, true, f32)), 1e-5);
  if (w_.args.is_deepseek()) {
    EXPECT_LT(max_diff(full, run(tokens_, MlaMode::kAbsorbed, false, f32)), 1e-5);
    EXPECT_LT(max_diff(full, run(tokens_, MlaMode::kAbsorbed, true, f32)), 1e-5);
  }
}

// Packed q8_0/q4_0 weights (AMX for the 40-token prefill, VNNI token by token), the attention
// kernel (transposed keys shared by the prefill's queries, on the fly in decode) and every
// per-token op give a position the same bits either way: the logits are equal, not just close.
TEST_P(ForwardTest, QuantizedPrefillAndDecodeGiveTheSameBits) {
  std::vector<int32_t> tokens;
  for (int i = 0; i < 40; ++i) tokens.push_back(i == 0 ? 256 : (i * 37) % 250 + 1);
  for (const core::DType dt : {core::DType::kQ8_0, core::DType::kQ4_0}) {
    const Weights q = load_weights(dir_, {.quant = dt});
    const WeightView& probe = q.args.is_deepseek() ? q.layers[0].mla.kv_a : q.layers[0].gqa.q;
    if (kernels::max_simd_level() == kernels::SimdLevel::kAvx512) {
      EXPECT_GT(probe.packed.numel(), 0) << "weights were not packed";
    }
    const std::vector<float> full = run_with(q, tokens, MlaMode::kNaive, false);
    EXPECT_EQ(full, run_with(q, tokens, MlaMode::kNaive, true)) << core::dtype_name(dt);
    if (q.args.is_deepseek()) {
      EXPECT_EQ(run_with(q, tokens, MlaMode::kAbsorbed, false), run_with(q, tokens, MlaMode::kAbsorbed, true))
          << core::dtype_name(dt);
    }
  }
}

TEST_P(ForwardTest, BatchedSequencesEqualEachAlone) {
  const std::vector<int32_t> other = {256, 50, 60, 70};
  ContiguousKvCache cache(w_.args, 2, 64);
  Batch b;
  for (size_t i = 0; i < tokens_.size(); ++i) b.add(tokens_[i], static_cast<int32_t>(i), 0);
  for (size_t i = 0; i < other.size(); ++i) b.add(other[i], static_cast<int32_t>(i), 1);
  ForwardOutput out;
  forward(w_, b, cache, {}, scratch_, pool_, out);
  const int64_t V = w_.args.vocab_size;
  const std::vector<float> a_alone = run(tokens_, MlaMode::kNaive, false);
  const std::vector<float> b_alone = run(other, MlaMode::kNaive, false);
  std::vector<float> a_batched(out.logits.begin(), out.logits.begin() + tokens_.size() * V);
  std::vector<float> b_batched(out.logits.begin() + tokens_.size() * V, out.logits.end());
  EXPECT_LT(max_diff(a_alone, a_batched), 1e-5);
  EXPECT_LT(max_diff(b_alone, b_batched), 1e-5);
}

TEST_P(ForwardTest, Causal) {
  std::vector<int32_t> changed = tokens_;
  changed.back() = 33;
  const int64_t V = w_.args.vocab_size;
  const std::vector<float> a = run(tokens_, MlaMode::kNaive, false), b = run(changed, MlaMode::kNaive, false);
  const size_t prefix = (tokens_.size() - 1) * V;
  EXPECT_LT(max_diff({a.begin(), a.begin() + prefix}, {b.begin(), b.begin() + prefix}), 1e-6);
  EXPECT_GT(max_diff({a.begin() + prefix, a.end()}, {b.begin() + prefix, b.end()}), 1e-4);
}

TEST_P(ForwardTest, BadInputIsAnError) {
  ContiguousKvCache cache(w_.args, 1, 4);
  ForwardOutput out;
  Batch bad_token;
  bad_token.add(static_cast<int32_t>(w_.args.vocab_size), 0, 0);
  EXPECT_THROW(forward(w_, bad_token, cache, {}, scratch_, pool_, out), Error);
  Batch past_end;
  past_end.add(1, 4, 0);
  EXPECT_THROW(forward(w_, past_end, cache, {}, scratch_, pool_, out), Error);
}

// Routing is reported only when asked for, and asking changes no logit.
TEST_P(ForwardTest, RoutingOnlyWhenAsked) {
  const auto& a = w_.args;
  Batch b;
  for (size_t i = 0; i < tokens_.size(); ++i) b.add(tokens_[i], static_cast<int32_t>(i), 0);
  ContiguousKvCache cache(a, 1, 64);
  ForwardOutput plain, routed;
  forward(w_, b, cache, {}, scratch_, pool_, plain);
  EXPECT_TRUE(plain.routing.empty());
  forward(w_, b, cache, {.want_routing = true}, scratch_, pool_, routed);
  EXPECT_EQ(plain.logits, routed.logits);
  if (!a.is_deepseek()) {
    EXPECT_TRUE(routed.routing.empty());
    return;
  }
  ASSERT_EQ(static_cast<int64_t>(routed.routing.size()), a.num_hidden_layers);
  const int64_t T = b.size(), k = a.num_experts_per_tok;
  for (int64_t layer = 0; layer < a.num_hidden_layers; ++layer) {
    const std::vector<int32_t>& r = routed.routing[static_cast<size_t>(layer)];
    if (!a.is_moe_layer(layer)) {
      EXPECT_TRUE(r.empty()) << layer;
      continue;
    }
    ASSERT_EQ(static_cast<int64_t>(r.size()), T * k) << layer;
    for (int64_t t = 0; t < T; ++t) {
      std::vector<int32_t> chosen(r.begin() + t * k, r.begin() + (t + 1) * k);
      for (int32_t e : chosen) EXPECT_TRUE(e >= 0 && e < a.n_routed_experts) << e;
      std::sort(chosen.begin(), chosen.end());
      EXPECT_EQ(std::adjacent_find(chosen.begin(), chosen.end()), chosen.end()) << "an expert chosen twice";
    }
  }
  // The same Scratch, asked again without routing: the output's routing is emptied.
  forward(w_, b, cache, {}, scratch_, pool_, routed);
  EXPECT_TRUE(routed.routing.empty());
}

// Steady decoding allocates nothing new: once a Scratch has seen a decode of some length, decoding
// the same length again (the same shapes at every step) grows none of its buffers. Both MLA paths,
// and two sequences decoding side by side.
TEST_P(ForwardTest, RepeatedDecodeGrowsNoScratchBuffer) {
  const auto& a = w_.args;
  std::vector<MlaMode> modes = {MlaMode::kNaive};
  if (a.is_deepseek()) modes.push_back(MlaMode::kAbsorbed);
  for (const MlaMode mode : modes) {
    Scratch s;
    ContiguousKvCache cache(a, 2, 64);
    ForwardOutput out;
    std::vector<float> first_logits;
    auto decode = [&](std::vector<float>* logits) {
      for (size_t i = 0; i < tokens_.size(); ++i) {
        Batch b;
        b.add(tokens_[i], static_cast<int32_t>(i), 0);
        b.add(tokens_[tokens_.size() - 1 - i], static_cast<int32_t>(i), 1);
        forward(w_, b, cache, {.mla = mode}, s, pool_, out);
        if (logits) logits->insert(logits->end(), out.logits.begin(), out.logits.end());
      }
    };
    decode(&first_logits);
    const size_t grown = s.reserved_bytes();
    EXPECT_GT(grown, 0u);
    std::vector<float> again;
    decode(&again);
    EXPECT_EQ(s.reserved_bytes(), grown) << "mode " << static_cast<int>(mode);
    EXPECT_EQ(again, first_logits);  // reused buffers hold nothing over from one step to the next
  }
}

// MlaMode::kAuto picks a path per sequence (mla_naive_pays) and each sequence gets the bits of
// its own path alone: a prompt from position 0 (naive) batched with a decode step and a 3-token
// chunk at depth (absorbed). The chunk's rows equal 3 single-token absorbed steps (a verify step's
// promise: its tokens share one query set, decode gives each its own).
TEST_P(ForwardTest, AutoMlaGivesEachSequenceTheBitsOfItsOwnPath) {
  if (!w_.args.is_deepseek()) GTEST_SKIP() << "MLA only";
  const Weights q = load_weights(dir_, {.quant = core::DType::kQ8_0});
  const auto& a = q.args;
  ASSERT_TRUE(mla_naive_pays(a, 12, 12));  // the prompt's first chunk
  ASSERT_FALSE(mla_naive_pays(a, 1, 21));  // a decode step at depth
  ASSERT_FALSE(mla_naive_pays(a, 3, 23));  // a short chunk at depth
  const int64_t V = a.vocab_size;
  std::vector<int32_t> prefix, prompt;
  for (int i = 0; i < 20; ++i) prefix.push_back(i == 0 ? 256 : (i * 41) % 250 + 1);
  for (int i = 0; i < 12; ++i) prompt.push_back(i == 0 ? 256 : (i * 29) % 250 + 1);
  const std::vector<int32_t> step = {77, 88, 99};
  // Sequences 0 and 1 hold the same 20-token prefix; sequence 2 is empty.
  auto prepared = [&] {
    auto cache = std::make_unique<ContiguousKvCache>(a, 3, 64);
    ForwardOutput o;
    for (int32_t seq : {0, 1}) {
      Batch b;
      for (size_t i = 0; i < prefix.size(); ++i) b.add(prefix[i], static_cast<int32_t>(i), seq);
      forward(q, b, *cache, {.mla = MlaMode::kNaive}, scratch_, pool_, o);
    }
    return cache;
  };
  auto rows = [&](const ForwardOutput& o, int64_t from, int64_t n) {
    return std::vector<float>(o.logits.begin() + from * V, o.logits.begin() + (from + n) * V);
  };
  ForwardOutput mixed;
  {
    auto cache = prepared();
    Batch b;
    b.add(step[0], 20, 0);
    for (int i = 0; i < 3; ++i) b.add(step[static_cast<size_t>(i)], 20 + i, 1);
    for (size_t i = 0; i < prompt.size(); ++i) b.add(prompt[i], static_cast<int32_t>(i), 2);
    forward(q, b, *cache, {.mla = MlaMode::kAuto}, scratch_, pool_, mixed);
  }
  ForwardOutput o;
  auto cache = prepared();
  Batch b0;
  b0.add(step[0], 20, 0);
  forward(q, b0, *cache, {.mla = MlaMode::kAbsorbed}, scratch_, pool_, o);
  EXPECT_EQ(rows(mixed, 0, 1), rows(o, 0, 1)) << "decode step";
  Batch b1;
  for (int i = 0; i < 3; ++i) b1.add(step[static_cast<size_t>(i)], 20 + i, 1);
  forward(q, b1, *cache, {.mla = MlaMode::kAbsorbed}, scratch_, pool_, o);
  EXPECT_EQ(rows(mixed, 1, 3), rows(o, 0, 3)) << "3-token chunk";
  Batch b2;
  for (size_t i = 0; i < prompt.size(); ++i) b2.add(prompt[i], static_cast<int32_t>(i), 2);
  forward(q, b2, *cache, {.mla = MlaMode::kNaive}, scratch_, pool_, o);
  EXPECT_EQ(rows(mixed, 4, 12), rows(o, 0, 12)) << "prompt";
  // The chunk token by token (sequence 0 holds the same prefix and step[0] at 20).
  std::vector<float> one_by_one = rows(mixed, 0, 1);
  for (int i = 1; i < 3; ++i) {
    Batch bi;
    bi.add(step[static_cast<size_t>(i)], 20 + i, 0);
    forward(q, bi, *cache, {.mla = MlaMode::kAbsorbed}, scratch_, pool_, o);
    const std::vector<float> r = rows(o, 0, 1);
    one_by_one.insert(one_by_one.end(), r.begin(), r.end());
  }
  EXPECT_EQ(rows(mixed, 1, 3), one_by_one) << "chunk vs single-token decode";
  // And the paths differ in bits, else this test could not tell them apart (how close they are is
  // DecodeThroughCacheEqualsPrefill's; with q8_0 weights each path quantizes other activations).
  Batch b3;
  for (size_t i = 0; i < prompt.size(); ++i) b3.add(prompt[i], static_cast<int32_t>(i), 2);
  forward(q, b3, *cache, {.mla = MlaMode::kAbsorbed}, scratch_, pool_, o);
  EXPECT_NE(rows(mixed, 4, 12), rows(o, 0, 12));
}

// The cost model's choices at V2-Lite's dimensions: decode and short chunks at depth absorbed, a
// prompt's first chunk and long chunks at depth naive (the crossover near 200 tokens a chunk).
TEST(MlaNaivePays, ChoosesByChunkAndDepth) {
  const formats::ModelArgs& a = find_preset("deepseek-v2-lite").args;
  EXPECT_TRUE(mla_naive_pays(a, 1, 1));  // position 0: nothing cached to decompress
  EXPECT_FALSE(mla_naive_pays(a, 1, 2));
  EXPECT_FALSE(mla_naive_pays(a, 1, 8193));
  EXPECT_FALSE(mla_naive_pays(a, 64, 4096 + 64));
  EXPECT_FALSE(mla_naive_pays(a, 128, 8192 + 128));
  EXPECT_TRUE(mla_naive_pays(a, 512, 512));
  EXPECT_TRUE(mla_naive_pays(a, 2, 2));
  EXPECT_TRUE(mla_naive_pays(a, 512, 4096 + 512));
  EXPECT_TRUE(mla_naive_pays(a, 256, 8192 + 256));
}

INSTANTIATE_TEST_SUITE_P(Families, ForwardTest,
                         ::testing::Values("tiny-deepseek-v3", "tiny-deepseek-v2", "tiny-deepseek-v2-lite",
                                           "tiny-qwen2", "tiny-llama"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return n;
                         });

// forward.h's promise: once a Scratch has grown, decoding allocates nothing. The same two-sequence
// decode runs twice through one Scratch; the second run must not touch the heap, on any thread
// (the output head is large enough that kernels::linear splits it across the pool).
TEST(SteadyDecode, AllocatesNothing) {
  for (const char* name : {"tiny-deepseek-v3", "tiny-deepseek-v2-lite", "tiny-qwen2"}) {
    const formats::ModelArgs args = find_preset(name).args;
    ASSERT_GE(args.vocab_size * args.hidden_size, 32768) << name << ": the head must take the pool path";
    const std::string dir = (fs::temp_directory_path() / ("whale_alloc_" + std::to_string(::getpid()))).string();
    RandomCheckpointOptions o;
    o.progress = false;
    write_random_checkpoint(args, dir, o);
    const Weights w = load_weights(dir);
    fs::remove_all(dir);
    core::ThreadPool pool(2);
    std::vector<MlaMode> modes = {MlaMode::kNaive};
    if (args.is_deepseek()) modes.push_back(MlaMode::kAbsorbed);
    for (const MlaMode mode : modes) {
      Scratch s;
      ContiguousKvCache cache(args, 2, 8);
      ForwardOutput out;
      std::vector<Batch> steps(6);
      for (int32_t i = 0; i < 6; ++i) {
        steps[static_cast<size_t>(i)].add(10 + i, i, 0);
        steps[static_cast<size_t>(i)].add(40 - i, i, 1);
      }
      for (const Batch& b : steps) forward(w, b, cache, {.mla = mode}, s, pool, out);  // grows the buffers
      g_allocations = 0;
      g_counting = true;
      for (const Batch& b : steps) forward(w, b, cache, {.mla = mode}, s, pool, out);
      g_counting = false;
      EXPECT_EQ(g_allocations.load(), 0) << name << " mode " << static_cast<int>(mode);
      EXPECT_EQ(out.logits.size(), 2u * args.vocab_size);
    }
  }
}

TEST(Mtp, DraftLogitsAreDeterministicAndUseTheModule) {
  const std::string dir = (fs::temp_directory_path() / ("whale_mtp_" + std::to_string(::getpid()))).string();
  RandomCheckpointOptions o;
  o.progress = false;
  write_random_checkpoint(find_preset("tiny-deepseek-v3").args, dir, o);
  const Weights w = load_weights(dir);
  core::ThreadPool pool(2);
  Scratch s;
  ContiguousKvCache cache(w.args, 1, 16, core::DType::kF32);  // naive = absorbed to 1e-5 is the math's
  Batch b;
  const std::vector<int32_t> toks = {256, 10, 20, 30};
  for (size_t i = 0; i < 3; ++i) b.add(toks[i], static_cast<int32_t>(i), 0);
  ForwardOutput out;
  forward(w, b, cache, {.want_hidden = true}, s, pool, out);
  ASSERT_EQ(out.hidden.size(), 3u * w.args.hidden_size);
  Batch next;
  for (size_t i = 0; i < 3; ++i) next.add(toks[i + 1], static_cast<int32_t>(i), 0);
  std::vector<float> draft, draft_absorbed;
  mtp_forward(w, next, out.hidden, 0, cache, {}, s, pool, draft);
  ASSERT_EQ(draft.size(), 3u * w.args.vocab_size);
  mtp_forward(w, next, out.hidden, 0, cache, {.mla = MlaMode::kAbsorbed}, s, pool, draft_absorbed);
  double m = 0;
  for (size_t i = 0; i < draft.size(); ++i) m = std::max(m, std::fabs(double(draft[i]) - draft_absorbed[i]));
  EXPECT_LT(m, 1e-5);
  EXPECT_THROW(mtp_forward(w, next, out.hidden, 1, cache, {}, s, pool, draft), Error);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace whale::model
