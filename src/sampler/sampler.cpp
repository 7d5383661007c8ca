// Processors and the draw. Candidate sorting works on a reused index buffer, so a step allocates
// nothing once the buffers have grown to the vocabulary size.
#include "sampler/sampler.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/error.h"

namespace whale::sampler {

void validate(const SamplingParams& p, int64_t vocab) {
  if (!(p.temperature >= 0.0f) || p.temperature > 100.0f) fail(ErrorKind::kInvalidArgument, "temperature must be in [0, 100], got ", p.temperature);
  if (!(p.top_p > 0.0f && p.top_p <= 1.0f)) fail(ErrorKind::kInvalidArgument, "top_p must be in (0, 1], got ", p.top_p);
  if (!(p.min_p >= 0.0f && p.min_p <= 1.0f)) fail(ErrorKind::kInvalidArgument, "min_p must be in [0, 1], got ", p.min_p);
  if (p.top_k < 0) fail(ErrorKind::kInvalidArgument, "top_k must be >= 0, got ", p.top_k);
  if (!(p.repetition_penalty > 0.0f)) fail(ErrorKind::kInvalidArgument, "repetition_penalty must be > 0, got ", p.repetition_penalty);
  if (!(std::fabs(p.presence_penalty) <= 2.0f)) fail(ErrorKind::kInvalidArgument, "presence_penalty must be in [-2, 2], got ", p.presence_penalty);
  if (!(std::fabs(p.frequency_penalty) <= 2.0f)) fail(ErrorKind::kInvalidArgument, "frequency_penalty must be in [-2, 2], got ", p.frequency_penalty);
  for (const auto& [tok, bias] : p.logit_bias) {
    if (tok < 0 || tok >= vocab) fail(ErrorKind::kInvalidArgument, "logit_bias token ", tok, " is outside the vocabulary [0, ", vocab, ")");
    if (!std::isfinite(bias)) fail(ErrorKind::kInvalidArgument, "logit_bias for token ", tok, " must be finite");
  }
}

void sort_by_logit(const float* logits, int64_t n, std::vector<int32_t>& order) {
  // Keys whose ascending unsigned order is descending logit order; ids start ascending and LSD
  // radix passes are stable, so equal logits keep the lower id first, as the comparison sort does.
  thread_local std::vector<uint32_t> key, key2;
  thread_local std::vector<int32_t> id2;
  const size_t N = static_cast<size_t>(n);
  key.resize(N);
  key2.resize(N);
  id2.resize(N);
  order.resize(N);
  for (size_t i = 0; i < N; ++i) {
    const float f = logits[i] == 0.0f ? 0.0f : logits[i];  // -0 sorts as +0
    const uint32_t b = std::bit_cast<uint32_t>(f);
    const uint32_t ascending = (b & 0x80000000u) != 0 ? ~b : (b | 0x80000000u);
    key[i] = ~ascending;
    order[i] = static_cast<int32_t>(i);
  }
  uint32_t* k0 = key.data();
  uint32_t* k1 = key2.data();
  int32_t* i0 = order.data();
  int32_t* i1 = id2.data();
  for (int shift = 0; shift < 32; shift += 8) {  // four passes: the result lands back in key/order
    std::array<size_t, 257> start{};
    for (size_t i = 0; i < N; ++i) ++start[((k0[i] >> shift) & 0xffu) + 1];
    for (size_t d = 1; d < start.size(); ++d) start[d] += start[d - 1];
    for (size_t i = 0; i < N; ++i) {
      const size_t at = start[(k0[i] >> shift) & 0xffu]++;
      k1[at] = k0[i];
      i1[at] = i0[i];
    }
    std::swap(k0, k1);
    std::swap(i0, i1);
  }
}

Sampler::Sampler(SamplingParams params) : params_(std::move(params)), rng_(params_.seed) {}

void Sampler::set_prompt(const std::vector<int32_t>& prompt) {
  for (int32_t t : prompt) {
    if (t < 0) continue;
    if (static_cast<size_t>(t) >= seen_.size()) seen_.resize(static_cast<size_t>(t) + 1, 0);
    seen_[static_cast<size_t>(t)] = 1;
  }
}

void Sampler::accept(int32_t token) {
  ++output_counts_[token];
  if (token >= 0) {
    if (static_cast<size_t>(token) >= seen_.size()) seen_.resize(static_cast<size_t>(token) + 1, 0);
    seen_[static_cast<size_t>(token)] = 1;
  }
}

void Sampler::apply_penalties(float* logits, int64_t vocab) const {
  if (params_.repetition_penalty != 1.0f) {
    const float p = params_.repetition_penalty;
    const int64_t n = std::min<int64_t>(vocab, static_cast<int64_t>(seen_.size()));
    for (int64_t t = 0; t < n; ++t) {
      if (seen_[static_cast<size_t>(t)]) logits[t] = logits[t] > 0 ? logits[t] / p : logits[t] * p;
    }
  }
  if (params_.presence_penalty != 0.0f || params_.frequency_penalty != 0.0f) {
    for (const auto& [tok, count] : output_counts_) {
      if (tok < 0 || tok >= vocab) continue;
      logits[tok] -= params_.presence_penalty + params_.frequency_penalty * static_cast<float>(count);
    }
  }
}

int32_t Sampler::prepare(float* logits, int64_t vocab) const {
  for (const auto& [tok, bias] : params_.logit_bias) {
    if (tok >= 0 && tok < vocab) logits[tok] += bias;
  }
  apply_penalties(logits, vocab);
  if (params_.temperature == 0.0f) return static_cast<int32_t>(std::max_element(logits, logits + vocab) - logits);
  return -1;
}

int32_t Sampler::sample(float* logits, int64_t vocab) {
  int32_t chosen = prepare(logits, vocab);
  if (chosen >= 0) {
    accept(chosen);
    return chosen;
  }
  const float inv_t = 1.0f / params_.temperature;
  if (!truncates()) {
    // Plain temperature sampling: one pass for the normaliser, one for the draw; no sorting.
    const float mx = *std::max_element(logits, logits + vocab) * inv_t;
    double z = 0;
    for (int64_t i = 0; i < vocab; ++i) z += std::exp(logits[i] * inv_t - mx);
    const double u = std::uniform_real_distribution<double>(0.0, z)(rng_);
    double acc = 0;
    chosen = static_cast<int32_t>(vocab - 1);
    for (int64_t i = 0; i < vocab; ++i) {
      acc += std::exp(logits[i] * inv_t - mx);
      if (u < acc) {
        chosen = static_cast<int32_t>(i);
        break;
      }
    }
    accept(chosen);
    return chosen;
  }
  const int64_t n = candidates(logits, vocab);
  double total = 0;
  for (int64_t i = 0; i < n; ++i) total += probs_[static_cast<size_t>(i)];
  const double u = std::uniform_real_distribution<double>(0.0, total)(rng_);
  double acc = 0;
  chosen = order_[static_cast<size_t>(n - 1)];
  for (int64_t i = 0; i < n; ++i) {
    acc += probs_[static_cast<size_t>(i)];
    if (u < acc) {
      chosen = order_[static_cast<size_t>(i)];
      break;
    }
  }
  accept(chosen);
  return chosen;
}

int64_t Sampler::candidates(const float* logits, int64_t vocab) {
  const float inv_t = 1.0f / params_.temperature;
  const auto by_logit = [logits](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
  // Candidates sorted by logit, best first. top-k cuts the list before any softmax; otherwise the
  // best kShortlist are sorted and the full sort happens only if top-p or min-p reach past them.
  constexpr int64_t kShortlist = 256;
  order_.resize(static_cast<size_t>(vocab));
  std::iota(order_.begin(), order_.end(), 0);
  int64_t n = vocab;
  double z = 0;  // softmax normaliser over the candidates
  // Without top-k: exp(logit / T - max) of every token, computed once (the shortlist's mass and
  // the probabilities below read it), per thread rather than per sequence.
  thread_local std::vector<float> exps;
  const float mx = *std::max_element(logits, logits + vocab) * inv_t;
  const bool top_k_cut = params_.top_k > 0 && params_.top_k < vocab;
  if (top_k_cut) {
    n = params_.top_k;
    std::partial_sort(order_.begin(), order_.begin() + n, order_.end(), by_logit);
    for (int64_t i = 0; i < n; ++i) z += std::exp(logits[order_[static_cast<size_t>(i)]] * inv_t - mx);
  } else {
    exps.resize(static_cast<size_t>(vocab));
    for (int64_t i = 0; i < vocab; ++i) {
      exps[static_cast<size_t>(i)] = std::exp(logits[i] * inv_t - mx);
      z += exps[static_cast<size_t>(i)];
    }
    bool sorted_all = vocab <= kShortlist;
    if (sorted_all) {
      std::sort(order_.begin(), order_.end(), by_logit);
    } else {
      std::partial_sort(order_.begin(), order_.begin() + kShortlist, order_.end(), by_logit);
      double mass = 0;
      for (int64_t i = 0; i < kShortlist; ++i) mass += exps[static_cast<size_t>(order_[static_cast<size_t>(i)])];
      const double last = exps[static_cast<size_t>(order_[static_cast<size_t>(kShortlist - 1)])];
      const bool top_p_inside = params_.top_p < 1.0f && mass / z >= params_.top_p;
      const bool min_p_inside = params_.min_p > 0.0f && last < params_.min_p;  // p_max = 1 before dividing by z
      if (top_p_inside || (params_.top_p >= 1.0f && min_p_inside)) {
        n = kShortlist;  // everything the filters keep is among the shortlist
      } else {
        sort_by_logit(logits, vocab, order_);
      }
    }
  }
  probs_.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const int32_t id = order_[static_cast<size_t>(i)];
    const float e = top_k_cut ? std::exp(logits[id] * inv_t - mx) : exps[static_cast<size_t>(id)];
    probs_[static_cast<size_t>(i)] = static_cast<float>(e / z);
  }
  // top-p: the smallest prefix whose mass reaches top_p (the token that crosses is kept).
  if (params_.top_p < 1.0f) {
    double mass = 0;
    int64_t keep = 0;
    while (keep < n) {
      mass += probs_[static_cast<size_t>(keep++)];
      if (mass >= params_.top_p) break;
    }
    n = keep;
  }
  // min-p: drop candidates below min_p times the best one.
  if (params_.min_p > 0.0f) {
    const float floor = params_.min_p * probs_[0];
    int64_t keep = 1;
    while (keep < n && probs_[static_cast<size_t>(keep)] >= floor) ++keep;
    n = keep;
  }
  return n;
}

namespace {

// The speculative-sampling rule over n outcomes with unnormalised weights weight(i) >= 0 naming
// token(i), the draft being outcome `at` (-1: not among them, p(draft) = 0): keep the draft with
// probability p(draft), else draw from the residual max(0, p - q), p with the draft's mass taken out.
template <class Weight, class Token>
int32_t speculative_choice(std::mt19937_64& rng, int64_t n, int64_t at, int32_t draft, const Weight& weight,
                           const Token& token) {
  double total = 0;
  for (int64_t i = 0; i < n; ++i) total += weight(i);
  const double pd = at >= 0 ? weight(at) : 0.0;
  if (at >= 0 && std::uniform_real_distribution<double>(0.0, 1.0)(rng) * total < pd) return draft;
  const double rest = total - pd;
  if (!(rest > 0)) return draft;
  const double u = std::uniform_real_distribution<double>(0.0, rest)(rng);
  double acc = 0;
  int32_t chosen = -1;
  for (int64_t i = 0; i < n; ++i) {
    const double w = i == at ? 0.0 : weight(i);
    if (!(w > 0)) continue;  // the draft, and outcomes that name no token (-inf logits)
    acc += w;
    chosen = token(i);
    if (u < acc) break;
  }
  return chosen;
}

}  // namespace

int32_t Sampler::sample_speculative(float* logits, int64_t vocab, int32_t draft) {
  int32_t chosen = prepare(logits, vocab);
  if (chosen >= 0) {  // greedy: the argmax whatever the draft (accepted exactly when they agree)
    accept(chosen);
    return chosen;
  }
  if (!truncates()) {  // the whole vocabulary, softmax at the temperature
    const float inv_t = 1.0f / params_.temperature;
    const float mx = *std::max_element(logits, logits + vocab) * inv_t;
    chosen = speculative_choice(
        rng_, vocab, draft >= 0 && draft < vocab ? draft : -1, draft,
        [&](int64_t i) -> double { return std::exp(logits[i] * inv_t - mx); },
        [](int64_t i) { return static_cast<int32_t>(i); });
  } else {  // the kept candidates (top-k, top-p, min-p), in probs_ / order_
    const int64_t n = candidates(logits, vocab);
    int64_t at = -1;
    for (int64_t i = 0; i < n && at < 0; ++i) {
      if (order_[static_cast<size_t>(i)] == draft) at = i;
    }
    chosen = speculative_choice(
        rng_, n, at, draft, [&](int64_t i) -> double { return probs_[static_cast<size_t>(i)]; },
        [&](int64_t i) { return order_[static_cast<size_t>(i)]; });
  }
  accept(chosen);
  return chosen;
}

}  // namespace whale::sampler
