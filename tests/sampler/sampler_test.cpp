// Sampling against hand-computed distributions: frequencies over many seeded draws match the
// expected probabilities after temperature, top-k, top-p and min-p; penalties and bias by hand.
#include "sampler/sampler.h"
#include "sampler/logprobs.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <limits>
#include <vector>

#include "core/error.h"

namespace whale::sampler {
namespace {

// Frequencies of each token over n draws from fixed logits.
std::vector<double> frequencies(const SamplingParams& p, const std::vector<float>& logits, int n) {
  Sampler s(p);
  std::vector<double> f(logits.size(), 0.0);
  for (int i = 0; i < n; ++i) {
    std::vector<float> l = logits;
    f[static_cast<size_t>(s.sample(l.data(), static_cast<int64_t>(l.size())))] += 1.0 / n;
  }
  return f;
}

const std::vector<float> kLogits = {std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};

TEST(Sampler, TemperatureOneFollowsSoftmax) {
  SamplingParams p;
  p.temperature = 1.0f;
  const auto f = frequencies(p, kLogits, 40000);
  EXPECT_NEAR(f[0], 0.5, 0.01);
  EXPECT_NEAR(f[1], 0.3, 0.01);
  EXPECT_NEAR(f[2], 0.15, 0.01);
  EXPECT_NEAR(f[3], 0.05, 0.006);
}

TEST(Sampler, TemperatureTwoFlattens) {
  SamplingParams p;
  p.temperature = 2.0f;  // probabilities ∝ sqrt(p)
  const double z = std::sqrt(0.5) + std::sqrt(0.3) + std::sqrt(0.15) + std::sqrt(0.05);
  const auto f = frequencies(p, kLogits, 40000);
  EXPECT_NEAR(f[0], std::sqrt(0.5) / z, 0.01);
  EXPECT_NEAR(f[3], std::sqrt(0.05) / z, 0.01);
}

TEST(Sampler, TopKTopPMinP) {
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_k = 2;  // renormalised 0.5 : 0.3
  auto f = frequencies(p, kLogits, 40000);
  EXPECT_NEAR(f[0], 0.625, 0.01);
  EXPECT_EQ(f[2] + f[3], 0.0);
  p.top_k = 0;
  p.top_p = 0.7f;  // 0.5 < 0.7 <= 0.8: keeps the first two
  f = frequencies(p, kLogits, 40000);
  EXPECT_NEAR(f[1], 0.375, 0.01);
  EXPECT_EQ(f[2] + f[3], 0.0);
  p.top_p = 0.85f;  // 0.8 < 0.85 <= 0.95: three
  f = frequencies(p, kLogits, 40000);
  EXPECT_NEAR(f[2], 0.15 / 0.95, 0.01);
  EXPECT_EQ(f[3], 0.0);
  p.top_p = 1.0f;
  p.min_p = 0.5f;  // floor 0.25: keeps 0.5 and 0.3
  f = frequencies(p, kLogits, 40000);
  EXPECT_NEAR(f[0], 0.625, 0.01);
  EXPECT_EQ(f[2] + f[3], 0.0);
}

TEST(Sampler, LargeVocabulariesShortlistOrSortFully) {
  // 1000 tokens: 10 strong ones hold ~99% of the mass, so top-p 0.9 stays in the shortlist of 256.
  std::vector<float> peaked(1000, 0.0f);
  for (int i = 0; i < 10; ++i) peaked[static_cast<size_t>(i)] = 10.0f - 0.1f * static_cast<float>(i);
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_p = 0.9f;
  auto f = frequencies(p, peaked, 20000);
  double z = 0;
  for (int i = 0; i < 10; ++i) z += std::exp(10.0 - 0.1 * i);
  z += 990;
  // Kept: the smallest prefix reaching 0.9 of the full softmax; renormalised among those.
  double mass = 0;
  int keep = 0;
  while (mass < 0.9) mass += std::exp(10.0 - 0.1 * keep++) / z;
  EXPECT_NEAR(f[0], std::exp(10.0) / z / mass, 0.012);
  for (int i = keep; i < 1000; ++i) ASSERT_EQ(f[static_cast<size_t>(i)], 0.0) << i;
  // Flat: top-p 0.9 keeps 900 equal tokens (ties by index), beyond the shortlist: a full sort.
  const std::vector<float> flat(1000, 0.0f);
  f = frequencies(p, flat, 45000);
  double kept = 0;
  for (int i = 0; i < 900; ++i) kept += f[static_cast<size_t>(i)];
  EXPECT_NEAR(kept, 1.0, 1e-9);
  EXPECT_NEAR(f[450], 1.0 / 900, 0.0006);
  // min-p alone: tokens within a factor 0.5 of the best, among 300 equal ones plus 700 weak ones.
  std::vector<float> two(1000, -5.0f);
  for (int i = 0; i < 300; ++i) two[static_cast<size_t>(i)] = 0.0f;
  p.top_p = 1.0f;
  p.min_p = 0.5f;
  f = frequencies(p, two, 30000);
  double strong = 0;
  for (int i = 0; i < 300; ++i) strong += f[static_cast<size_t>(i)];
  EXPECT_NEAR(strong, 1.0, 1e-9);
  // Plain temperature sampling (no truncation) covers the whole vocabulary without sorting.
  p.min_p = 0.0f;
  f = frequencies(p, two, 30000);
  strong = 0;
  for (int i = 0; i < 300; ++i) strong += f[static_cast<size_t>(i)];
  EXPECT_NEAR(strong, 300.0 / (300 + 700 * std::exp(-5.0)), 0.01);
}

TEST(Sampler, GreedySeedsAndDeterminism) {
  SamplingParams p;
  p.temperature = 0.0f;
  EXPECT_NEAR(frequencies(p, kLogits, 10)[0], 1.0, 1e-12);
  p.temperature = 1.0f;
  p.seed = 42;
  Sampler a(p), b(p);
  p.seed = 43;
  Sampler c(p);
  int same = 0, differ = 0;
  for (int i = 0; i < 200; ++i) {
    std::vector<float> la = kLogits, lb = kLogits, lc = kLogits;
    const int32_t ta = a.sample(la.data(), 4), tb = b.sample(lb.data(), 4), tc = c.sample(lc.data(), 4);
    same += ta == tb;
    differ += ta != tc;
  }
  EXPECT_EQ(same, 200);
  EXPECT_GT(differ, 20);
}

TEST(Sampler, PenaltiesAndBiasByHand) {
  SamplingParams p;
  p.temperature = 0.0f;
  p.repetition_penalty = 2.0f;
  p.presence_penalty = 0.5f;
  p.frequency_penalty = 0.25f;
  Sampler s(p);
  s.set_prompt({0});
  s.accept(1);
  s.accept(1);
  std::vector<float> l = {4.0f, -1.0f, 1.0f, 0.0f};
  s.sample(l.data(), 4);  // picks argmax after processing, then records it
  EXPECT_FLOAT_EQ(l[0], 2.0f);                         // prompt token: 4 / 2
  EXPECT_FLOAT_EQ(l[1], -1.0f * 2 - 0.5f - 0.25f * 2);  // output twice: -2 - 0.5 - 0.5
  EXPECT_FLOAT_EQ(l[2], 1.0f);
  SamplingParams q;
  q.temperature = 0.0f;
  q.logit_bias = {{0, -100.0f}, {3, 5.0f}};
  Sampler b(q);
  std::vector<float> m = {4.0f, 1.0f, 1.0f, 0.0f};
  EXPECT_EQ(b.sample(m.data(), 4), 3);
}

TEST(Sampler, ValidationNamesTheParameter) {
  SamplingParams p;
  p.top_p = 0.0f;
  try {
    validate(p, 10);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("top_p"), std::string::npos);
  }
  p = {};
  p.logit_bias = {{10, 1.0f}};
  EXPECT_THROW(validate(p, 10), Error);
  p = {};
  p.temperature = -1;
  EXPECT_THROW(validate(p, 10), Error);
  EXPECT_NO_THROW(validate(SamplingParams{}, 10));
}

// The radix sort against std::sort with the comparison candidates() used before it: logits with
// many exact ties, +0 and -0, +-inf, negatives and subnormals, at vocabulary sizes around the
// shortlist and a real one.
TEST(Sampler, SortByLogitMatchesComparisonSort) {
  std::mt19937 rng(7);
  for (int64_t n : {1, 2, 300, 1000, 151936}) {
    std::vector<float> l(static_cast<size_t>(n));
    std::uniform_int_distribution<int> pick(0, 9);
    std::normal_distribution<float> normal(0.0f, 3.0f);
    for (float& v : l) {
      switch (pick(rng)) {
        case 0: v = 0.0f; break;
        case 1: v = -0.0f; break;
        case 2: v = -std::numeric_limits<float>::infinity(); break;
        case 3: v = std::numeric_limits<float>::infinity(); break;
        case 4: v = 1.5f; break;  // a tie shared by many ids
        case 5: v = -std::numeric_limits<float>::denorm_min(); break;
        case 6: v = std::numeric_limits<float>::denorm_min(); break;
        default: v = normal(rng);
      }
    }
    std::vector<int32_t> want(static_cast<size_t>(n));
    std::iota(want.begin(), want.end(), 0);
    const float* x = l.data();
    std::sort(want.begin(), want.end(), [x](int32_t a, int32_t b) { return x[a] > x[b] || (x[a] == x[b] && a < b); });
    std::vector<int32_t> got;
    sort_by_logit(l.data(), n, got);
    EXPECT_EQ(got, want) << "n = " << n;
  }
}

}  // namespace
}  // namespace whale::sampler

// token_logprob: log-softmax by hand on a small row, ties lower id first, masked tokens at -inf.
namespace whale::sampler {
namespace {

TEST(TokenLogprob, HandComputedLogSoftmaxAndTop) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> l = {1.0f, 3.0f, -inf, 3.0f, 0.0f};
  const double z = std::log(std::exp(1.0) + 2 * std::exp(3.0) + std::exp(0.0));
  const TokenLogprob r = token_logprob(l.data(), 5, 4, 3);
  EXPECT_EQ(r.token, 4);
  EXPECT_NEAR(r.logprob, 0.0 - z, 1e-6);
  ASSERT_EQ(r.top.size(), 3u);
  EXPECT_EQ(r.top[0].token, 1);  // tie with 3: lower id first
  EXPECT_EQ(r.top[1].token, 3);
  EXPECT_EQ(r.top[2].token, 0);
  EXPECT_NEAR(r.top[0].logprob, 3.0 - z, 1e-6);
  EXPECT_NEAR(r.top[2].logprob, 1.0 - z, 1e-6);
  EXPECT_TRUE(std::isinf(token_logprob(l.data(), 5, 2, 0).logprob));
  EXPECT_TRUE(token_logprob(l.data(), 5, 2, 0).top.empty());
  EXPECT_EQ(token_logprob(l.data(), 5, 0, 50).top.size(), 5u);  // at most the vocabulary
}

}  // namespace
}  // namespace whale::sampler
