// Sampler::sample_speculative against a one-hot draft: the tokens it gives over many draws follow
// the distribution plain sampling draws from (computed here by hand: softmax at the temperature,
// then top-k, top-p, min-p), by a chi-square test at p > 0.001, for drafts the filters keep, drop,
// favour or disfavour; the same draws also match plain sample()'s. Two wrong rules (always accept;
// accept with p(x) but redraw from all of p on rejection) must fail the same test.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <vector>

#include "chi_square.h"
#include "sampler/sampler.h"

namespace whale::sampler {
namespace {

using testing_util::chi2_fit;
using testing_util::chi2_same;
using testing_util::chi2_sf;

constexpr double kAlpha = 1e-3;
constexpr int64_t kDraws = 20000;

const std::vector<float> kLogits = {0.3f, 2.0f, -1.0f, 1.2f, 0.0f, -3.0f, 1.5f, 0.9f, -0.5f, -2.0f, 0.5f, -1.5f};

// The distribution sample() draws from, by hand: softmax(l / T), then top-k, top-p (smallest
// prefix reaching p, crossing token kept), min-p (below min_p · best dropped), renormalised.
std::map<int32_t, double> expected(const std::vector<float>& l, const SamplingParams& sp) {
  std::vector<int32_t> order(l.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return l[a] > l[b]; });
  std::vector<double> p(l.size());
  double z = 0;
  for (size_t i = 0; i < l.size(); ++i) z += std::exp(l[order[i]] / sp.temperature);
  for (size_t i = 0; i < l.size(); ++i) p[i] = std::exp(l[order[i]] / sp.temperature) / z;
  size_t n = l.size();
  if (sp.top_k > 0) n = std::min<size_t>(n, static_cast<size_t>(sp.top_k));
  if (sp.top_p < 1.0f) {
    double mass = 0;
    size_t keep = 0;
    while (keep < n) {
      mass += p[keep++];
      if (mass >= sp.top_p) break;
    }
    n = keep;
  }
  if (sp.min_p > 0.0f) {
    size_t keep = 1;
    while (keep < n && p[keep] >= sp.min_p * p[0]) ++keep;
    n = keep;
  }
  double total = 0;
  for (size_t i = 0; i < n; ++i) total += p[i];
  std::map<int32_t, double> out;
  for (size_t i = 0; i < n; ++i) out[order[i]] = p[i] / total;
  return out;
}

std::map<int32_t, int64_t> draw(const SamplingParams& sp, int32_t draft) {
  Sampler s(sp);
  std::map<int32_t, int64_t> c;
  for (int64_t i = 0; i < kDraws; ++i) {
    std::vector<float> l = kLogits;
    ++c[s.sample_speculative(l.data(), static_cast<int64_t>(l.size()), draft)];
  }
  return c;
}

std::map<int32_t, int64_t> draw_plain(const SamplingParams& sp) {
  Sampler s(sp);
  std::map<int32_t, int64_t> c;
  for (int64_t i = 0; i < kDraws; ++i) {
    std::vector<float> l = kLogits;
    ++c[s.sample(l.data(), static_cast<int64_t>(l.size()))];
  }
  return c;
}

// Wrong rule: accept with p(draft), else a plain draw from p (the draft not taken out).
std::map<int32_t, int64_t> draw_redraw_all(const SamplingParams& sp, int32_t draft) {
  const std::map<int32_t, double> p = expected(kLogits, sp);
  const double pd = p.count(draft) ? p.at(draft) : 0.0;
  Sampler s(sp);
  std::mt19937_64 rng(sp.seed + 99);
  std::uniform_real_distribution<double> unit(0, 1);
  std::map<int32_t, int64_t> c;
  for (int64_t i = 0; i < kDraws; ++i) {
    std::vector<float> l = kLogits;
    ++c[unit(rng) < pd ? draft : s.sample(l.data(), static_cast<int64_t>(l.size()))];
  }
  return c;
}

TEST(ChiSquare, TailMatchesTables) {
  // Critical values from standard chi-square tables.
  EXPECT_NEAR(chi2_sf(3.841, 1), 0.05, 1e-4);
  EXPECT_NEAR(chi2_sf(10.828, 1), 0.001, 1e-5);
  EXPECT_NEAR(chi2_sf(18.307, 10), 0.05, 1e-4);
  EXPECT_NEAR(chi2_sf(29.588, 10), 0.001, 1e-5);
  EXPECT_NEAR(chi2_sf(124.342, 100), 0.05, 1e-4);
  EXPECT_NEAR(chi2_sf(2.0, 2), std::exp(-1.0), 1e-12);  // dof 2: e^{-x/2}
}

struct Case {
  SamplingParams sp;
  int32_t draft;
};

std::vector<Case> cases() {
  std::vector<Case> out;
  const auto params = [](float t, int32_t k, float p, float m, uint64_t seed) {
    SamplingParams sp;
    sp.temperature = t, sp.top_k = k, sp.top_p = p, sp.min_p = m, sp.seed = seed;
    return sp;
  };
  for (int32_t d : {1, 6, 7, 5}) out.push_back({params(1.0f, 0, 1.0f, 0.0f, 11), d});  // best, 2nd, mid, worst
  for (int32_t d : {1, 3, 2}) out.push_back({params(0.7f, 5, 1.0f, 0.0f, 12), d});     // 2 is cut by top-k
  for (int32_t d : {6, 10, 9}) out.push_back({params(1.3f, 0, 0.8f, 0.0f, 13), d});    // 9 is cut by top-p
  for (int32_t d : {1, 4}) out.push_back({params(1.0f, 0, 1.0f, 0.15f, 14), d});       // min-p
  return out;
}

TEST(SpeculativeSampling, FollowsTheSamplingDistribution) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(testing::Message() << "T " << c.sp.temperature << " top_k " << c.sp.top_k << " top_p " << c.sp.top_p
                                    << " min_p " << c.sp.min_p << " draft " << c.draft);
    const std::map<int32_t, double> p = expected(kLogits, c.sp);
    const std::map<int32_t, int64_t> spec = draw(c.sp, c.draft);
    EXPECT_GT(chi2_fit(spec, p, kDraws), kAlpha);
    EXPECT_GT(chi2_same(spec, draw_plain(c.sp)), kAlpha);
    for (const auto& [tok, n] : spec) EXPECT_TRUE(p.count(tok)) << "drew token " << tok << " that the filters drop";
  }
}

TEST(SpeculativeSampling, WrongRulesFailTheSameTest) {
  for (const Case& c : cases()) {
    const std::map<int32_t, double> p = expected(kLogits, c.sp);
    SCOPED_TRACE(testing::Message() << "draft " << c.draft);
    // Always accept: every draw is the draft.
    EXPECT_LT(chi2_fit({{c.draft, kDraws}}, p, kDraws), kAlpha);
    // Redraw from all of p on rejection: the draft gets p + (1 - p)·p. Detectable where that
    // differs enough (p(draft) not tiny).
    const double pd = p.count(c.draft) ? p.at(c.draft) : 0.0;
    if (pd > 0.05) {
      EXPECT_LT(chi2_fit(draw_redraw_all(c.sp, c.draft), p, kDraws), kAlpha);
    }
  }
}

TEST(SpeculativeSampling, GreedyIsTheArgmaxWhateverTheDraft) {
  SamplingParams sp;
  sp.temperature = 0;
  Sampler s(sp);
  for (int32_t d : {1, 5, 9}) {
    std::vector<float> l = kLogits;
    EXPECT_EQ(s.sample_speculative(l.data(), static_cast<int64_t>(l.size()), d), 1);
  }
}

TEST(SpeculativeSampling, NeverDrawsMaskedTokens) {
  SamplingParams sp;
  sp.temperature = 1.0f;
  sp.seed = 3;
  Sampler s(sp);
  for (int i = 0; i < 2000; ++i) {
    std::vector<float> l = kLogits;
    l[1] = l[6] = -std::numeric_limits<float>::infinity();
    const int32_t t = s.sample_speculative(l.data(), static_cast<int64_t>(l.size()), 1);  // a masked draft
    EXPECT_NE(t, 1);
    EXPECT_NE(t, 6);
  }
}

}  // namespace
}  // namespace whale::sampler
